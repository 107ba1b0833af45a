"""Timing helpers: wall time of repeated calls, FLOPs of one call, a measured matmul rate, peak memory."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so wall times measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], object], iters: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds per call for `iters` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call (forward and backward matmuls/convolutions, torch.utils.flop_counter)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def matmul_flops(device: torch.device, n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best FLOP/s of an n x n matmul in `dtype` over `repeats` tries: a measured rate, not the hardware's peak
    (lama.perf.peak). float32 on CUDA runs in IEEE float32, as the exact path does, whatever TF32 setting a
    fast path left behind."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    if device.type != "cuda":
        return 2.0 * n**3 / min(time_calls(lambda: torch.mm(a, b), repeats, 1, device))
    before = torch.backends.cuda.matmul.fp32_precision
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    try:
        return 2.0 * n**3 / min(time_calls(lambda: torch.mm(a, b), repeats, 1, device))
    finally:
        torch.backends.cuda.matmul.fp32_precision = before


def reset_peak_memory(device: torch.device) -> None:
    """Start a fresh GPU peak-memory window (CPU peak RSS cannot be reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated by torch on CUDA, else the process's peak resident set size, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
