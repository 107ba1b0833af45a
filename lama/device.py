"""The one device picker of every task: `auto` (CUDA when a GPU is visible, else CPU), `cpu`, `cuda`, `cuda:N`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")


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


def cpu_info(*keys: str) -> str:
    """The first CPU's value of the first of `keys` in /proc/cpuinfo, e.g. `model name` (empty where absent)."""
    try:
        lines = CPUINFO.read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value.strip()
    return ""


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch ops on one thread inside the block: crops, decodes and small resizes are too small to share,
    and on a busy CPU a second thread makes them tens of times slower (the pixels are the same)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
