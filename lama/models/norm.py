"""Layout-aware normalisation of generator features: per-object gamma and beta mixed into every pixel
by the object masks (LostGAN-V2's spatially adaptive BatchNorm, and LAMA's ISLA norm built on it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.models.blocks import sn
from lama.ops import isla_modulate

MASK_EPS = 1e-4


class SpatialAdaptiveNorm(nn.Module):
    """LostGAN-V2: BN(x) * (1 + gamma(p)) + beta(p), gamma and beta the mask-weighted averages
    sum_o m_o(p) gamma_o / (sum_o m_o(p) + 1e-6) of the per-object projections of the styles."""

    mask_eps = 1e-6

    def __init__(self, channels: int, num_w: int) -> None:
        super().__init__()
        self.channels = channels
        self.weight_proj = sn(nn.Linear(num_w, channels))  # gamma per object
        self.bias_proj = sn(nn.Linear(num_w, channels))  # beta per object
        self.batch_norm2d = nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1, affine=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """The feature normalisation before modulation."""
        return self.batch_norm2d(x)

    def gate(self, x_hat: torch.Tensor) -> torch.Tensor:
        """Strength of the modulation (a scalar tensor): always 1 here."""
        return x_hat.new_ones(())

    def forward(self, x: torch.Tensor, w: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) features; w (B, O, num_w) object styles; masks (B, O, h, w), resized to H x W."""
        x_hat = self.normalise(x)
        if masks.shape[-2:] != x.shape[-2:]:
            masks = F.interpolate(masks, size=x.shape[-2:], mode="bilinear", align_corners=False)
        masks = masks / (masks.sum(dim=1, keepdim=True) + self.mask_eps)
        return isla_modulate(x_hat, masks, self.weight_proj(w), self.bias_proj(w), self.gate(x_hat))


class ISLANorm(SpatialAdaptiveNorm):
    """LAMA: mixes batch and group normalisation (learnt `rho`), then modulates every pixel with the
    per-object gamma and beta of the objects covering it, gated by a learnt clamp(alpha), no +1 kept
    apart (x_hat + alpha (gamma x_hat + beta)), masks normalised with eps 1e-4."""

    mask_eps = MASK_EPS

    def __init__(self, channels: int, num_w: int, groups: int = 4) -> None:
        super().__init__(channels, num_w)
        self.group_norm = nn.GroupNorm(groups, channels, eps=1e-5, affine=False)
        self.rho = nn.Parameter(torch.tensor(0.1))
        self.alpha = nn.Parameter(torch.zeros(()))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.batch_norm2d(x)
        return bn + self.rho.clamp(0, 1) * (self.group_norm(x) - bn)

    def gate(self, x_hat: torch.Tensor) -> torch.Tensor:
        return self.alpha.clamp(-1, 1)
