"""Exponential moving average of the generator's weights (sampled and saved when enabled)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(module: nn.Module) -> nn.Module:
    """A frozen copy of `module` in eval mode, to be updated with `ema_update`."""
    ema = copy.deepcopy(module).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update(ema: nn.Module, module: nn.Module, decay: float) -> None:
    """ema_param <- decay * ema_param + (1 - decay) * param; buffers (BN statistics, spectral-norm
    vectors) are copied as they are."""
    for p_ema, p in zip(ema.parameters(), module.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), module.buffers(), strict=True):
        b_ema.copy_(b)
