"""The one device picker of every task: `auto` (CUDA when a GPU is visible, else CPU), `cpu`, `cuda`, `cuda:N`."""

from __future__ import annotations

import torch


def pick_device(name: str | None, field: str = "device") -> torch.device:
    """The torch.device that config value `name` asks for (None = auto). An unknown name or a GPU
    that is not there raises ValueError naming the config `field` and the value."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(name))
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"{field} must be auto, cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda":
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if visible == 0:
            raise ValueError(f"{field}={name} but no GPU is visible (use {field}=cpu or auto)")
        if device.index is not None and device.index >= visible:
            raise ValueError(f"{field}={name} but only {visible} GPU(s) are visible")
    return device
