"""`task=bench`: training images/s on the exact and the fast path, FLOPs per iteration and achieved
FLOP/s against a matmul peak measured in the same run, peak memory, sampling images/s, and data-loader
images/s decoding JPEGs vs reading the uint8 cache. The last stdout line is one JSON object."""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from lama import ops
from lama.tasks import TaskError

log = logging.getLogger(__name__)
RESOLUTIONS = (64, 128, 256)


def _device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; an explicit cuda without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise TaskError(f"bench.device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise TaskError("bench.device=cuda but no GPU is visible (use bench.device=cpu)")
    return torch.device(name)


def _check(cfg: DictConfig) -> None:
    b = cfg.bench
    if int(b.resolution) not in RESOLUTIONS:
        raise TaskError(f"bench.resolution must be one of {RESOLUTIONS}, got {b.resolution}")
    for key in ("batch", "ch", "objects", "iters", "sample_iters", "num_classes", "matmul_size"):
        if int(b[key]) < 1:
            raise TaskError(f"bench.{key} must be >= 1, got {b[key]}")
    if b.fast.isla_impl not in ops.isla.IMPLS:
        raise TaskError(f"bench.fast.isla_impl must be one of {ops.isla.IMPLS}, got {b.fast.isla_impl!r}")


def _train_images_per_s(workload, iters: int, warmup: int, device: torch.device, label: str) -> float:
    """Median images/s of `iters` training iterations after `warmup` untimed ones."""
    from lama.perf.timing import time_calls

    times = time_calls(workload.step, iters, warmup, device)
    log.info("%s: seconds per iteration %s", label, ", ".join(f"{t:.2f}" for t in times))
    return workload.images.shape[0] / statistics.median(times)


def measure(cfg: DictConfig) -> dict[str, float | str | int]:
    """Run every measurement of the benchmark and return the result record."""
    from lama.perf.fast import FastPath
    from lama.perf.loader import loader_throughput
    from lama.perf.timing import count_flops, matmul_peak_flops, peak_memory_mb, reset_peak_memory, time_calls
    from lama.perf.workload import GanIteration

    b = cfg.bench
    device = _device(str(b.device))
    if int(b.threads) > 0:
        torch.set_num_threads(int(b.threads))
    shape = dict(
        resolution=int(b.resolution),
        batch=int(b.batch),
        ch=int(b.ch),
        slots=int(b.objects),
        num_classes=int(b.num_classes),
        device=device,
        seed=int(cfg.seed),
    )
    result: dict[str, float | str | int] = {}
    previous_impl = ops.get_impl()
    try:
        log.info("matmul peak (%d x %d float32)", b.matmul_size, b.matmul_size)
        peak = matmul_peak_flops(device, int(b.matmul_size))

        exact_path = FastPath()
        ops.set_impl(exact_path.isla_impl)
        log.info("exact path: building full-width networks at %d px", b.resolution)
        exact = GanIteration.build(fast=exact_path, **shape)
        reset_peak_memory(device)
        exact_ips = _train_images_per_s(exact, int(b.iters), int(b.warmup), device, "exact path")
        memory = peak_memory_mb(device)
        log.info("counting FLOPs of one training iteration")
        flops = count_flops(exact.step)
        sample_times = time_calls(exact.sample, int(b.sample_iters), 1, device)
        sample_ips = int(b.batch) / statistics.median(sample_times)
        del exact

        fast_path = FastPath(**OmegaConf.to_container(b.fast, resolve=True))
        ops.set_impl(fast_path.isla_impl)
        log.info("fast path (%s): building networks", fast_path.describe())
        fast = GanIteration.build(fast=fast_path, **shape)
        fast_ips = _train_images_per_s(fast, int(b.iters), int(b.warmup), device, "fast path")
        del fast
    finally:
        ops.set_impl(previous_impl)

    log.info("data loader: decode vs cache (%d JPEGs)", b.loader.images)
    with tempfile.TemporaryDirectory(prefix="lama_bench_") as tmp:
        loader = loader_throughput(
            Path(tmp),
            int(b.loader.images),
            int(b.resolution),
            int(b.loader.batch),
            int(b.loader.workers),
            int(cfg.seed),
        )

    achieved = flops * exact_ips / int(b.batch)
    result.update(
        train_images_per_s_exact=exact_ips,
        train_images_per_s_fast=fast_ips,
        flops_per_iter=flops,
        achieved_flops_exact=achieved,
        matmul_peak_flops=peak,
        achieved_flops_ratio_exact=achieved / peak,
        peak_memory_mb=memory,
        sample_images_per_s=sample_ips,
        **loader,
        loader_speedup_cached=loader["loader_images_per_s_cached"] / loader["loader_images_per_s_decode"],
        fast_speedup=fast_ips / exact_ips,
        fast_path=fast_path.describe(),
        device=str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        threads=torch.get_num_threads(),
        resolution=int(b.resolution),
        batch=int(b.batch),
        ch=int(b.ch),
    )
    return result


def run(cfg: DictConfig) -> dict:
    """Entry point of `python run.py task=bench`; prints the JSON record as the last stdout line."""
    _check(cfg)
    result = measure(cfg)
    rounded = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}
    print(json.dumps(rounded), flush=True)
    return result
