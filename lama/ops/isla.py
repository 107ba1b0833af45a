"""ISLA modulation: mix per-object gamma and beta into every pixel through the normalised masks
and apply them to the normalised features."""

from __future__ import annotations

import torch


def isla_modulate_ref(
    x_hat: torch.Tensor,
    masks: torch.Tensor,
    gamma_obj: torch.Tensor,
    beta_obj: torch.Tensor,
    alpha: torch.Tensor,
) -> torch.Tensor:
    """Pure-PyTorch reference. x_hat (B, C, H, W) normalised features; masks (B, O, H, W) already
    normalised over objects; gamma_obj, beta_obj (B, O, C); alpha a scalar tensor (already clamped).
    Returns x_hat + alpha * (gamma * x_hat + beta) with gamma(p) = sum_o gamma_obj[o] * masks[o](p)."""
    b, c, h, w = x_hat.shape
    flat_masks = masks.reshape(b, masks.shape[1], h * w)
    gamma = torch.bmm(gamma_obj.transpose(1, 2), flat_masks).view(b, c, h, w)
    beta = torch.bmm(beta_obj.transpose(1, 2), flat_masks).view(b, c, h, w)
    return x_hat + alpha * (gamma * x_hat + beta)


def isla_modulate(x_hat, masks, gamma_obj, beta_obj, alpha):
    """ISLA modulation (see isla_modulate_ref for shapes); dispatches to the fused op when available."""
    return isla_modulate_ref(x_hat, masks, gamma_obj, beta_obj, alpha)
