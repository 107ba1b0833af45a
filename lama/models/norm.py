"""ISLA norm: instance-sensitive, layout-aware normalisation of generator features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.models.blocks import sn
from lama.ops import isla_modulate

MASK_EPS = 1e-4


class ISLANorm(nn.Module):
    """Mixes batch and group normalisation (learnt `rho`), then modulates every pixel with the
    per-object gamma and beta of the objects covering it, weighted by their normalised masks."""

    def __init__(self, channels: int, num_w: int, groups: int = 4) -> None:
        super().__init__()
        self.channels = channels
        self.weight_proj = sn(nn.Linear(num_w, channels))  # gamma per object
        self.bias_proj = sn(nn.Linear(num_w, channels))  # beta per object
        self.batch_norm2d = nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1, affine=False)
        self.group_norm = nn.GroupNorm(groups, channels, eps=1e-5, affine=False)
        self.rho = nn.Parameter(torch.tensor(0.1))
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, w: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) features; w (B, O, num_w) object styles; masks (B, O, R, R) in [0, 2]."""
        bn = self.batch_norm2d(x)
        x_hat = bn + self.rho.clamp(0, 1) * (self.group_norm(x) - bn)
        if masks.shape[-2:] != x.shape[-2:]:
            masks = F.interpolate(masks, size=x.shape[-2:], mode="bilinear", align_corners=False)
        masks = masks / (masks.sum(dim=1, keepdim=True) + MASK_EPS)
        return isla_modulate(x_hat, masks, self.weight_proj(w), self.bias_proj(w), self.alpha.clamp(-1, 1))
