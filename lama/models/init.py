"""The authors' training initialisation."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def init_weights(module: nn.Module) -> nn.Module:
    """Orthogonal init for every parameter with more than one dimension (for spectral-normalised layers
    the un-normalised weight), zeros for every parameter whose name ends in `bias`. Returns `module`.
    The authors apply it to the generator and the 64/128 px discriminators, not to the 256 px one."""
    for name, param in module.named_parameters():
        if param.dim() > 1:
            nn.init.orthogonal_(param)
        elif name.endswith("bias"):
            param.zero_()
    return module
