"""Comparing training checkpoints in everything that determines the rest of a training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

COMPARED = ("state_dict", "optimizer_states", "lr_schedulers", "loops", "lama_training", "global_step", "epoch")


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two checkpoint values differ (tensors exactly)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where} keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def checkpoint_differences(a: Path, b: Path) -> list[str]:
    """What differs between two training checkpoints in what determines the rest of training."""
    sa, sb = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
    return [d for key in COMPARED for d in _differences(sa.get(key), sb.get(key), key)]
