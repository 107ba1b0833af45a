"""Finding non-finite weights cheaply (the guard that keeps NaN/inf out of checkpoints)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def _floats(tensors: Iterable[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    return [(n, t.detach()) for n, t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]


def all_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> bool:
    """Whether every float tensor is finite: fused norms per device/dtype, one sync in all."""
    floats = [t for _, t in _floats(tensors) if t.numel()]
    if not floats:
        return True
    norms = torch._foreach_norm(floats)  # a non-finite element makes its tensor's norm non-finite
    return bool(torch.isfinite(torch.stack([n.float().to(floats[0].device) for n in norms])).all())


def non_finite_names(tensors: Iterable[tuple[str, torch.Tensor]]) -> list[str]:
    """The names of the float tensors holding a NaN or an infinity (the slow, exact scan)."""
    return [n for n, t in _floats(tensors) if not torch.isfinite(t).all()]


def optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor of an optimiser's state (Adam's moments, ...)."""
    return [(f"{name}.state[{i}].{key}", value)
            for i, state in enumerate(optimizer.state.values()) for key, value in state.items()]  # fmt: skip
