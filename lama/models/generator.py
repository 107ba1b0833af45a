"""The LAMA generator (LostGAN-V2 backbone with ISLA norms and the LAMA mask network)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.layout import check_layout_tensors
from lama.models.arch import check_arch
from lama.models.blocks import CONV_SN_EPS, LRELU_SLOPE, NoiseInjection, image_head, lrelu, sn
from lama.models.masks import MASK_CH, MaskNet
from lama.models.norm import ISLANorm, SpatialAdaptiveNorm

# resolution -> (label embedding size, channel multipliers of ch from the fc output through every block)
ARCH = {
    64: (128, (16, 8, 4, 2, 1)),
    128: (160, (8, 8, 4, 4, 2, 1)),
    256: (192, (16, 8, 8, 4, 4, 2, 1)),
}


class GeneratorBlock(nn.Module):
    """Upsampling residual block: alpha * (norm, act, up, conv, noise, norm, act, conv, noise) + conv1x1(up(x)).
    LAMA (default): ISLA norms, LReLU, bias-free convs, noise, a gate alpha starting at 0 (not clamped).
    `lostgan_v2=True`: LostGAN-V2's block (spatially adaptive BN, ReLU, convs with bias, no noise, no gate)."""

    def __init__(self, in_ch: int, out_ch: int, num_w: int, lostgan_v2: bool = False) -> None:
        super().__init__()
        norm, eps = (SpatialAdaptiveNorm, CONV_SN_EPS) if lostgan_v2 else (ISLANorm, 1e-12)
        self.act = F.relu if lostgan_v2 else lrelu
        self.b1 = norm(in_ch, num_w)
        self.conv1 = sn(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=lostgan_v2), eps=eps)
        self.noise1 = nn.Identity() if lostgan_v2 else NoiseInjection(out_ch)
        self.b2 = norm(out_ch, num_w)
        self.conv2 = sn(nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=lostgan_v2), eps=eps)
        self.noise2 = nn.Identity() if lostgan_v2 else NoiseInjection(out_ch)
        self.c_sc = sn(nn.Conv2d(in_ch, out_ch, 1), eps=eps)
        self.alpha = None if lostgan_v2 else nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, w: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """x (B, in, H, W) -> (B, out, 2H, 2W); w (B, O, num_w) styles; masks (B, O, h, w)."""
        h = F.interpolate(self.act(self.b1(x, w, masks)), scale_factor=2, mode="nearest")
        h = self.noise1(self.conv1(h))
        h = self.noise2(self.conv2(self.act(self.b2(h, w, masks))))
        if self.alpha is not None:
            h = self.alpha * h
        return h + self.c_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


def generator_inputs(
    z_obj: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, z_im: torch.Tensor | None, z_dim: int
) -> torch.Tensor:
    """Check a generator call's layout and latents (ValueError naming the bad one); returns z_im, drawn
    from N(0, 1) when None."""
    check_layout_tensors(labels, boxes)
    b, o = labels.shape
    if z_obj.shape != (b, o, z_dim):
        raise ValueError(f"z_obj must be (B, O, z_dim) = {(b, o, z_dim)}, got {tuple(z_obj.shape)}")
    if z_im is None:
        return torch.randn(b, z_dim, device=z_obj.device, dtype=z_obj.dtype)
    if z_im.shape != (b, z_dim):
        raise ValueError(f"z_im must be (B, z_dim) = {(b, z_dim)}, got {tuple(z_im.shape)}")
    return z_im


class Generator(nn.Module):
    """The LAMA generator, layout -> image. Call as G(z_obj (B, O, z_dim), boxes (B, O, 4) fractions,
    labels (B, O) int64, z_im (B, z_dim) or None, return_masks=False) -> images (B, 3, R, R) in [-1, 1], or
    (images, masks (B, O, R, R) in [0, 2], raw masks (B, O, R, R) in [0, 1])."""

    arch = "lama"

    def __init__(
        self,
        resolution: int,
        num_classes: int,
        ch: int = 64,
        z_dim: int = 128,
        lama: bool = True,
        noise: bool = True,
        mask_ch: int = MASK_CH,
    ) -> None:
        super().__init__()
        if resolution not in ARCH:
            raise ValueError(f"resolution must be one of {sorted(ARCH)}, got {resolution}")
        emb_dim, mults = ARCH[resolution]
        # GroupNorm with 4 groups runs over ch channels (ISLA) and over (z_dim + emb_dim + 2) // 4 (LAMA).
        if ch % 4 or (lama and ((z_dim + emb_dim + 2) // 4) % 4):
            raise ValueError(
                f"ch={ch} must be a multiple of 4, and with lama=True (z_dim + {emb_dim} + 2) // 4 too "
                f"(z_dim={z_dim} gives {(z_dim + emb_dim + 2) // 4})"
            )
        self.resolution, self.num_classes, self.ch = resolution, num_classes, ch
        self.z_dim, self.lama = z_dim, lama
        num_w = z_dim + emb_dim
        self.label_embedding = nn.Embedding(num_classes, emb_dim)
        self.style_mapping = nn.Sequential(
            sn(nn.Linear(z_dim, z_dim)),
            nn.LeakyReLU(LRELU_SLOPE),
            sn(nn.Linear(z_dim, z_dim)),
            nn.LeakyReLU(LRELU_SLOPE),
            sn(nn.Linear(z_dim, z_dim)),
        )
        self.fc = sn(nn.Linear(z_dim, mults[0] * ch * 4 * 4))
        self.res = nn.ModuleList(GeneratorBlock(a * ch, b * ch, num_w) for a, b in zip(mults[:-1], mults[1:]))
        self.final = image_head(ch, nn.LeakyReLU(LRELU_SLOPE))
        self.mask_regress = MaskNet(num_w + 2, resolution, lama=lama, channels=mask_ch)
        self.noise_enabled = noise

    @property
    def noise_enabled(self) -> bool:
        """Whether the residual blocks inject fresh noise (False makes outputs deterministic)."""
        return self._noise_enabled

    @noise_enabled.setter
    def noise_enabled(self, enabled: bool) -> None:
        self._noise_enabled = bool(enabled)
        for module in self.modules():
            if isinstance(module, NoiseInjection):
                module.enabled = self._noise_enabled

    def forward(
        self,
        z_obj: torch.Tensor,
        boxes: torch.Tensor,
        labels: torch.Tensor,
        z_im: torch.Tensor | None = None,
        return_masks: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 3, R, R) in [-1, 1], or (images, adapted masks, raw masks) with return_masks."""
        z_im = generator_inputs(z_obj, boxes, labels, z_im, self.z_dim)
        b = labels.shape[0]

        emb = self.label_embedding(labels)
        masks, raw = self.mask_regress(
            torch.cat([emb, z_obj, boxes[..., 2:4].to(z_obj.dtype)], dim=-1), boxes
        )
        w = torch.cat([emb, self.style_mapping(z_obj)], dim=-1)

        x = self.fc(z_im).view(b, -1, 4, 4)
        for block in self.res:
            x = block(x, w, masks)
        images = self.final(x)
        return (images, masks, raw) if return_masks else images


def build_generator(
    resolution: int,
    num_classes: int,
    ch: int = 64,
    z_dim: int = 128,
    lama: bool = True,
    noise: bool = True,
    arch: str = "lama",
    mask_ch: int = MASK_CH,
) -> nn.Module:
    """The LAMA generator for 64, 128 or 256 px (`lama=False` drops the mask adaption, the ablation;
    `noise=False` switches noise injection off, also settable later via `G.noise_enabled`; `mask_ch` is the
    mask network's width, the authors' 128 by default), or with
    arch="lostgan_v2" the LostGAN-V2 generator for 128 or 256 px (it has neither option)."""
    if check_arch(arch) == "lostgan_v2":
        from lama.models.lostgan_generator import LostGANGenerator

        return LostGANGenerator(int(resolution), int(num_classes), int(ch), int(z_dim))
    return Generator(int(resolution), int(num_classes), int(ch), int(z_dim), bool(lama), bool(noise), int(mask_ch))
