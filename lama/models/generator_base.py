"""What the LAMA and LostGAN-V2 generators share: the layout -> image call with its input checks
(LayoutGenerator) and the upsampling residual block both build on (GeneratorBlock)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.layout import check_layout_tensors
from lama.models.blocks import CONV_SN_EPS, NoiseInjection, lrelu, sn
from lama.models.norm import ISLANorm, SpatialAdaptiveNorm


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


class LayoutGenerator(nn.Module):
    """A generator called as G(z_obj (B, O, z_dim), boxes (B, O, 4) fractions, labels (B, O) int64,
    z_im (B, z_dim) or None, return_masks=False) -> images (B, 3, R, R) in [-1, 1], or (images, masks,
    raw masks), each (B, O, R, R). The call is checked here (a ValueError naming the bad input, z_im drawn
    from N(0, 1) when None); each model's `generate` does the rest."""

    arch: str
    resolution: int
    z_dim: int

    def forward(
        self,
        z_obj: torch.Tensor,
        boxes: torch.Tensor,
        labels: torch.Tensor,
        z_im: torch.Tensor | None = None,
        return_masks: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 3, R, R) in [-1, 1], or (images, masks, raw masks) with return_masks."""
        check_layout_tensors(labels, boxes)
        b, o = labels.shape
        if z_obj.shape != (b, o, self.z_dim):
            raise ValueError(f"z_obj must be (B, O, z_dim) = {(b, o, self.z_dim)}, got {tuple(z_obj.shape)}")
        if z_im is None:
            z_im = torch.randn(b, self.z_dim, device=z_obj.device, dtype=z_obj.dtype)
        elif z_im.shape != (b, self.z_dim):
            raise ValueError(f"z_im must be (B, z_dim) = {(b, self.z_dim)}, got {tuple(z_im.shape)}")
        return self.generate(z_obj, boxes, labels, z_im, return_masks)

    def generate(
        self, z_obj: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, z_im: torch.Tensor, return_masks: bool
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The model itself, on checked inputs (z_im given)."""
        raise NotImplementedError
