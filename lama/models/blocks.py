"""Building blocks shared by the generator, the mask network and the discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.models.spectral import spectral_norm

LRELU_SLOPE = 0.01
# LostGAN-V2's conv helper builds its spectral norms with this eps (it only enters the power iteration).
CONV_SN_EPS = 1e-4


def sn(module: nn.Module, eps: float = 1e-12) -> nn.Module:
    """Spectral normalisation of `module.weight` (one power iteration per training forward)."""
    return spectral_norm(module, eps=eps)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU with the authors' slope 0.01."""
    return F.leaky_relu(x, LRELU_SLOPE)


def image_head(ch: int, activation: nn.Module, sn_eps: float = 1e-12) -> nn.Sequential:
    """The generator's output: BatchNorm2d(ch), activation, SN-conv3x3(ch -> 3), tanh (the authors' indices)."""
    return nn.Sequential(
        nn.BatchNorm2d(ch), activation, sn(nn.Conv2d(ch, 3, 3, padding=1), eps=sn_eps), nn.Tanh()
    )


class NoiseInjection(nn.Module):
    """x + softplus(s) * n with s (1, C, 1, 1) learnt and n ~ N(0, 1) of shape (B, 1, H, W), drawn at
    every call (also in eval mode) unless `enabled` is False."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.noise_weight_seed = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        b, _, h, w = x.shape
        noise = torch.randn(b, 1, h, w, device=x.device, dtype=x.dtype)
        return x + F.softplus(self.noise_weight_seed) * noise


class GatedConvBlock(nn.Module):
    """x + a * conv3x3(LReLU(norm(x))), `a` a scalar starting at 0 (not clamped): the residual unit of
    the mask network (BatchNorm) and of the LAMA query refinement (affine GroupNorm)."""

    def __init__(self, norm: nn.Module, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(()))
        # Index layout (0 norm, 1 activation, 2 conv) mirrors the authors' `conv.N` names.
        self.conv = nn.Sequential(
            norm, nn.LeakyReLU(LRELU_SLOPE), sn(nn.Conv2d(channels, channels, 3, padding=1, bias=False))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.alpha * self.conv(x)
