"""Adam parameter groups with the authors' per-parameter learning rates."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn


def param_groups(module: nn.Module, base_lr: float, lr_mult: Mapping[str, float]) -> list[dict]:
    """Split trainable parameters into groups: a parameter whose name contains a key of `lr_mult`
    gets base_lr * that factor (first matching key wins), the rest base_lr. Empty groups are dropped."""
    named: dict[str, list[nn.Parameter]] = {"base": []}
    for key in lr_mult:
        named[key] = []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        key = next((k for k in lr_mult if k in name), "base")
        named[key].append(param)
    groups = []
    for key, params in named.items():
        if params:
            factor = 1.0 if key == "base" else float(lr_mult[key])
            groups.append({"params": params, "lr": base_lr * factor, "name": key})
    return groups


def build_optimizer(
    module: nn.Module, optimizer: Callable[..., torch.optim.Optimizer], lr_mult: Mapping[str, float]
) -> torch.optim.Optimizer:
    """Call a partial optimizer (from Hydra, `_partial_: true`, with lr set) on the module's groups."""
    base_lr = optimizer.keywords.get("lr") if hasattr(optimizer, "keywords") else None
    if base_lr is None:
        raise ValueError("the optimizer config must set lr (it is the base of the per-parameter rates)")
    return optimizer(param_groups(module, float(base_lr), lr_mult))
