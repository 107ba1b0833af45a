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
from tqdm import tqdm

from lama import ops
from lama.tasks import TaskError, task_device

log = logging.getLogger(__name__)
RESOLUTIONS = (64, 128, 256)


def _check(cfg: DictConfig) -> None:
    b = cfg.bench
    if int(b.resolution) not in RESOLUTIONS:
        raise TaskError(f"bench.resolution must be one of {RESOLUTIONS}, got {b.resolution}")
    for key in ("batch", "ch", "objects", "iters", "sample_iters", "num_classes", "matmul_size"):
        if int(b[key]) < 1:
            raise TaskError(f"bench.{key} must be >= 1, got {b[key]}")
    if b.fast.isla_impl not in ops.isla.IMPLS:
        raise TaskError(f"bench.fast.isla_impl must be one of {ops.isla.IMPLS}, got {b.fast.isla_impl!r}")


def _interleaved_seconds(exact, fast, iters: int, device: torch.device) -> tuple[list[float], list[float]]:
    """Seconds per iteration of both paths, alternating one exact and one fast iteration so that load
    from other processes on a shared machine affects both alike."""
    from lama.perf.timing import time_calls

    exact_s, fast_s = [], []
    for _ in tqdm(range(iters), desc="timing exact/fast iterations", leave=False):
        exact_s += time_calls(exact.step, 1, 0, device)
        fast_s += time_calls(fast.step, 1, 0, device)
    log.info("exact path: seconds per iteration %s", ", ".join(f"{t:.2f}" for t in exact_s))
    log.info("fast path: seconds per iteration %s", ", ".join(f"{t:.2f}" for t in fast_s))
    return exact_s, fast_s


def measure(cfg: DictConfig) -> dict[str, float | str | int]:
    """Run every measurement of the benchmark and return the result record."""
    from lama.perf.fast import FastPath
    from lama.perf.loader import loader_throughput
    from lama.perf.timing import count_flops, matmul_peak_flops, peak_memory_mb, reset_peak_memory, time_calls
    from lama.perf.workload import GanIteration

    b = cfg.bench
    device = task_device(cfg, "bench.device")
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
    warmup = int(b.warmup)
    log.info("matmul peak (%d x %d float32)", b.matmul_size, b.matmul_size)
    peaks = [matmul_peak_flops(device, int(b.matmul_size))]

    log.info(
        "exact path: building full-width networks at %d px, %d warm-up iteration(s)", b.resolution, warmup
    )
    exact = GanIteration.build(fast=FastPath(), **shape)
    reset_peak_memory(device)
    time_calls(exact.step, 0, warmup, device)
    memory = peak_memory_mb(device)  # before the fast networks exist: the exact path's own peak
    log.info("counting FLOPs of one training iteration")
    flops = count_flops(exact.step)

    fast_path = FastPath(**OmegaConf.to_container(b.fast, resolve=True))
    log.info("fast path (%s): building networks, %d warm-up iteration(s)", fast_path.describe(), warmup)
    fast = GanIteration.build(fast=fast_path, **shape)
    time_calls(fast.step, 0, warmup, device)

    exact_s, fast_s = _interleaved_seconds(exact, fast, int(b.iters), device)
    del fast
    log.info("sampling: %d batches", b.sample_iters)
    sample_s = time_calls(exact.sample, int(b.sample_iters), 1, device)
    del exact
    peaks.append(matmul_peak_flops(device, int(b.matmul_size)))
    peak = max(peaks)

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

    batch = int(b.batch)
    exact_ips, fast_ips = batch / statistics.median(exact_s), batch / statistics.median(fast_s)
    sample_ips = batch / statistics.median(sample_s)
    achieved = flops * exact_ips / batch
    return dict(
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


def run(cfg: DictConfig) -> dict:
    """Entry point of `python run.py task=bench`; prints the JSON record as the last stdout line."""
    _check(cfg)
    result = measure(cfg)
    rounded = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}
    print(json.dumps(rounded), flush=True)
    return result
