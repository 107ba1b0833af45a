"""One GAN training iteration exactly as the authors' train.py runs it (and as lama.training does):
D on real images, G on fresh latents, D on the detached fakes, one D update (hinge, lambda_obj 1.0,
lambda_img 0.1); then one G update on the same fakes with D frozen. Adam betas (0.0, 0.999)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lama.perf.fast import FastPath, autocast, maybe_compile, prepare_images, prepare_module

LAMBDA_OBJ, LAMBDA_IMG = 1.0, 0.1


def random_layouts(
    batch: int, slots: int, num_classes: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """COCO-like layouts: 3..slots objects per image, boxes (x0, y0, w, h) as fractions, padded slots
    with label 0 and the padding box. Returns labels (B, O) int64 and boxes (B, O, 4) float32."""
    from lama.layout import PAD_BOX, PAD_LABEL

    gen = torch.Generator().manual_seed(seed)
    labels = torch.full((batch, slots), PAD_LABEL, dtype=torch.int64)
    boxes = torch.tensor(PAD_BOX, dtype=torch.float32).repeat(batch, slots, 1)
    for b in range(batch):
        count = int(torch.randint(min(3, slots), slots + 1, (1,), generator=gen))
        labels[b, :count] = torch.randint(1, num_classes, (count,), generator=gen)
        wh = 0.1 + 0.6 * torch.rand(count, 2, generator=gen)
        xy = torch.rand(count, 2, generator=gen) * (1 - wh)
        boxes[b, :count] = torch.cat([xy, wh], dim=1)
    return labels, boxes


def _param_groups(module: nn.Module, lr: float, slow_keys: tuple[str, ...], factor: float) -> list[dict]:
    """Parameters whose name contains one of slow_keys get lr * factor (the authors' groups)."""
    slow = [p for n, p in module.named_parameters() if any(k in n for k in slow_keys)]
    slow_ids = {id(p) for p in slow}
    rest = [p for p in module.parameters() if id(p) not in slow_ids]
    return [{"params": rest, "lr": lr}, {"params": slow, "lr": lr * factor}]


def d_hinge(d_img_real, d_obj_real, d_img_fake, d_obj_fake) -> torch.Tensor:
    """lambda_obj * (obj real + obj fake) + lambda_img * (img real + img fake) hinge terms."""
    obj = F.relu(1.0 - d_obj_real).mean() + F.relu(1.0 + d_obj_fake).mean()
    img = F.relu(1.0 - d_img_real).mean() + F.relu(1.0 + d_img_fake).mean()
    return LAMBDA_OBJ * obj + LAMBDA_IMG * img


def g_hinge(d_img_fake, d_obj_fake) -> torch.Tensor:
    """-(lambda_obj * mean D_obj(fake) + lambda_img * mean D_img(fake))."""
    return -(LAMBDA_OBJ * d_obj_fake.mean() + LAMBDA_IMG * d_img_fake.mean())


@dataclass
class GanIteration:
    """Networks, optimisers and one fixed batch; call step() for one D + one G update."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    z_dim: int
    device: torch.device
    fast: FastPath

    @classmethod
    def build(
        cls,
        resolution: int,
        batch: int,
        ch: int,
        slots: int,
        num_classes: int,
        device: torch.device,
        fast: FastPath,
        seed: int = 0,
    ) -> GanIteration:
        """Full networks with the authors' init and optimisers, a random real batch in [-1, 1]."""
        from lama.models import build_discriminator, build_generator, init_weights

        torch.manual_seed(seed)
        G = init_weights(build_generator(resolution, num_classes, ch=ch)).to(device).train()
        D = init_weights(build_discriminator(resolution, num_classes, ch=ch)).to(device).train()
        opt_g = torch.optim.Adam(_param_groups(G, 1e-4, ("mapping", "rho"), 0.1), betas=(0.0, 0.999))
        opt_d = torch.optim.Adam(_param_groups(D, 3e-4, ("alpha",), 0.2), betas=(0.0, 0.999))
        G, D = prepare_module(G, fast), prepare_module(D, fast)
        labels, boxes = random_layouts(batch, slots, num_classes, seed)
        images = (
            torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed)) * 2
            - 1
        )
        return cls(
            G=maybe_compile(G, fast),
            D=maybe_compile(D, fast),
            opt_g=opt_g,
            opt_d=opt_d,
            images=prepare_images(images.to(device), fast),
            labels=labels.to(device),
            boxes=boxes.to(device),
            z_dim=G.z_dim,
            device=device,
            fast=fast,
        )

    def _set_d_grad(self, enabled: bool) -> None:
        for p in self.D.parameters():
            p.requires_grad_(enabled)

    def step(self) -> None:
        """One D update, then one G update on the same fakes (D frozen: its gradients are not needed)."""
        G, D, images, labels, boxes = self.G, self.D, self.images, self.labels, self.boxes
        with autocast(self.device, self.fast):
            d_img_real, d_obj_real = D(images, boxes, labels)
            z_obj = torch.randn(labels.shape[0], labels.shape[1], self.z_dim, device=self.device)
            fakes = G(z_obj, boxes, labels)
            d_img_fake, d_obj_fake = D(fakes.detach(), boxes, labels)
            d_loss = d_hinge(d_img_real, d_obj_real, d_img_fake, d_obj_fake)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        self._set_d_grad(False)
        with autocast(self.device, self.fast):
            g_img_fake, g_obj_fake = D(fakes, boxes, labels)
            g_loss = g_hinge(g_img_fake, g_obj_fake)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self._set_d_grad(True)

    def sample(self) -> torch.Tensor:
        """Sampling as evaluation does it: G in eval mode, no autograd, fresh latents."""
        self.G.eval()
        try:
            with torch.inference_mode(), autocast(self.device, self.fast):
                z_obj = torch.randn(
                    self.labels.shape[0], self.labels.shape[1], self.z_dim, device=self.device
                )
                return self.G(z_obj, self.boxes, self.labels)
        finally:
            self.G.train()
