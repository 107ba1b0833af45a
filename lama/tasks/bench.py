"""`task=bench`: LamaGAN's own training step (built from cfg.model at ${resolution}: networks, optimisers,
parameter groups, init, losses; one D and one G update per batch) timed on the exact path and on the fast
path model.fast chooses for the device. Each path warms up until two consecutive iterations agree within
bench.warmup_tol (at most bench.warmup iterations), then the paths alternate round by round until their timed
iterations add up to bench.time_s seconds (at least bench.rounds rounds, at most bench.max_rounds): images/s
from the median, min / median / max beside it. FLOPs per iteration (FLOPS_SOURCE) and achieved FLOP/s against
the hardware's peak (lama.perf.peak: a CPU's formula, a GPU's datasheet), with the rate of a matmul measured in
the same run beside it; peak memory, sampling images/s, and data-loader images/s (JPEG decode vs the uint8
cache, with and without workers) next to what the training step consumes. Last stdout line: JSON."""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lama.tasks import TaskError, task_device

if TYPE_CHECKING:
    from lama.training.fast import FastPath

log = logging.getLogger(__name__)

FLOPS_SOURCE = (
    "torch.utils.flop_counter.FlopCounterMode over one exact-path training iteration (a D and a G update, "
    "forward and backward): 2 FLOPs per multiply-add of its matmuls and convolutions as written; elementwise, "
    "normalisation, pooling and optimiser ops are not counted"
)


def _check(cfg: DictConfig) -> None:
    """What lama.config_checks cannot type: bench.loader.workers is a list, bench.rounds <= bench.max_rounds.
    model.fast is checked whole (its unknown keys too) before anything is measured."""
    from lama.training.fast import check_fast_config

    workers = cfg.bench.loader.workers
    if not OmegaConf.is_list(workers) or not workers or any(int(w) < 0 for w in workers):
        raise TaskError(f"bench.loader.workers must be a list of worker counts >= 0, e.g. [0,2], got {workers}")
    if int(cfg.bench.rounds) > int(cfg.bench.max_rounds):
        raise TaskError(f"bench.rounds ({cfg.bench.rounds}) must be <= bench.max_rounds ({cfg.bench.max_rounds})")
    try:
        check_fast_config(OmegaConf.to_container(cfg.model.fast, resolve=True))
    except ValueError as err:
        raise TaskError(str(err)) from None


def _module(cfg: DictConfig, fast: dict[str, Any]):
    """The training module of cfg.model with every batch a D and a G update, on the given model.fast."""
    torch.manual_seed(int(cfg.seed))
    return instantiate(cfg.model, d_only_iters=-1, fast=fast)


def _sample_seconds(module, batch: dict[str, torch.Tensor], iters: int, device: torch.device) -> list[float]:
    """Seconds per sampling batch: the sampling generator in eval mode, no autograd, fresh latents."""
    from lama.perf.timing import time_calls

    G = module.sampling_generator.to(device).eval()
    labels, boxes = batch["labels"].to(device), batch["boxes"].to(device)

    def sample() -> torch.Tensor:
        with torch.inference_mode():
            return G(torch.randn(*labels.shape, G.z_dim, device=device), boxes, labels)

    return time_calls(sample, iters, 1, device)


class _Path:
    """One path's module and what was measured on it."""

    def __init__(self, name: str, module) -> None:
        self.name, self.module = name, module
        self.first_s = 0.0
        self.warmup: list[float] = []  # untimed iterations, the first one first
        self.settled = False  # whether the warm-up ended with two iterations that agree
        self.seconds: list[float] = []
        self.peak_mb: float | None = None
        self.too_slow = False


def _first_iteration_limit(choice: FastPath, exact_first_s: float, slow_factor: float) -> float | None:
    """Seconds after which the fast path's first iteration is stopped as hopeless (e.g. emulated bf16). None
    when it compiles: compiling takes minutes by design, and what it costs is the break-even it reports."""
    if choice.compile:
        log.info("fast path compiles: its first iteration (compiling) is not stopped by bench.slow_factor")
        return None
    return float(slow_factor) * exact_first_s


def _warm_up(path: _Path, batch, max_iters: int, tol: float, device, limit_s: float | None) -> None:
    """The path's first iteration (stopped past `limit_s`), then untimed iterations until two consecutive ones
    agree within `tol`, at most `max_iters` in all; max_iters 0: no warm-up, the first iteration is timed."""
    from lama.perf.schedule import warm_up
    from lama.perf.step import PathTooSlow, train_steps
    from lama.perf.timing import peak_memory_mb, reset_peak_memory

    reset_peak_memory(device)
    try:  # the first iteration alone, so that only it runs under the time-limit hooks
        path.first_s = train_steps(path.module, batch, 1, device, limit_s)[0]
    except PathTooSlow as err:
        path.first_s, path.too_slow = err.seconds, True
        log.info("%s path: first iteration %s: more than bench.slow_factor x the exact path, not timed further",
                 path.name, err)  # fmt: skip
        return
    if max_iters == 0:
        path.seconds.append(path.first_s)
    else:
        done = warm_up(lambda: train_steps(path.module, batch, 1, device)[0], path.first_s, max_iters, tol)
        path.warmup, path.settled = done.seconds, done.settled
        log.info("%s path: warm-up %s s per iteration: %s", path.name, ", ".join(f"{s:.2f}" for s in done.seconds),
                 f"the last two agree within {tol:.0%}" if done.settled else
                 f"not settled after bench.warmup={max_iters} iterations (timed anyway)")  # fmt: skip
    path.peak_mb = peak_memory_mb(device) if device.type == "cuda" else None


def _time_rounds(paths: list[_Path], batch, b: DictConfig, device) -> None:
    """Alternate the paths round by round (bench.iters iterations each) so that drift and load from other
    processes hit all alike, until their timed seconds add up to bench.time_s (bench.rounds..max_rounds rounds)."""
    from lama.perf.schedule import timed_rounds
    from lama.perf.step import train_steps
    from lama.perf.timing import peak_memory_mb, reset_peak_memory

    def step(path: _Path):
        def run() -> list[float]:
            reset_peak_memory(device)
            seconds = train_steps(path.module, batch, int(b.iters), device)
            if device.type == "cuda":
                path.peak_mb = max(path.peak_mb or 0.0, peak_memory_mb(device))
            return seconds

        return run

    def report(r: int, seconds: list[list[float]]) -> None:
        log.info("round %d: %s; %.1f of %.0f s timed", r + 1,
                 ", ".join(f"{p.name} {s[-1]:.2f} s/iter" for p, s in zip(paths, seconds, strict=True)),
                 sum(map(sum, seconds)), float(b.time_s))  # fmt: skip

    timed = timed_rounds([step(p) for p in paths], int(b.rounds), int(b.max_rounds), float(b.time_s), report)
    for path, seconds in zip(paths, timed, strict=True):
        path.seconds += seconds


def _path_record(name: str, path: _Path) -> dict[str, Any]:
    """The per-path timing keys: timed seconds and their min / median / max, drift, warm-up."""
    from lama.perf.schedule import drift, spread

    return {
        f"seconds_per_iter_{name}": path.seconds,
        **{f"seconds_per_iter_{name}_{k}": v for k, v in spread(path.seconds).items()},
        f"timed_drift_{name}": drift(path.seconds),
        f"warmup_s_{name}": path.warmup,
        f"warmup_settled_{name}": path.settled,
    }


def summary(record: dict[str, Any]) -> list[str]:
    """Human-readable lines of a bench record: images/s per path with the seconds' min / median / max."""
    lines = []
    for name in ("exact", "fast"):
        if name == "fast" and record["fast_same_as_exact"]:
            lines.append("fast: the exact path on this machine (timed once)")
            continue
        if name == "fast" and record["fast_too_slow"]:
            lines.append(f"fast: stopped after {record['first_iter_s_fast']:.1f} s in its first iteration (too slow)")
            continue
        warm = record[f"warmup_s_{name}"]
        settled = "settled" if record[f"warmup_settled_{name}"] else "not settled"
        drift = record[f"timed_drift_{name}"]
        lines.append(
            f"{name}: {record[f'train_images_per_s_{name}']:.3f} images/s; s/iter median "
            f"{record[f'seconds_per_iter_{name}_median']:.3f} (min {record[f'seconds_per_iter_{name}_min']:.3f}, "
            f"max {record[f'seconds_per_iter_{name}_max']:.3f}) over {len(record[f'seconds_per_iter_{name}'])} "
            f"timed iterations" + (f", later half {drift:+.1%} vs earlier" if drift is not None else "")
            + (f"; warm-up {len(warm)} iterations ({settled})" if warm else "; no warm-up")
        )  # fmt: skip

    def share(key: str) -> str:
        return "no known peak" if record[key] is None else f"{record[key]:.1%} of peak"

    lines.append(f"FLOPs per iteration {record['flops_per_iter'] / 1e9:.1f} G ({record['flops_per_iter_source']})")
    lines.append(f"float32 peak: {_giga(record['peak_flops'])} ({record['peak_flops_source']})")
    if record["peak_flops_fast_math"] != "float32":
        lines.append(f"fast path's {record['peak_flops_fast_math']} peak: {_giga(record['peak_flops_fast'])} "
                     f"({record['peak_flops_fast_source']})")  # fmt: skip
    lines.append(f"achieved: exact {_giga(record['achieved_flops_exact'])} ({share('achieved_flops_ratio_exact')}), "
                 f"fast {_giga(record['achieved_flops_fast'])} ({share('achieved_flops_ratio_fast')}); measured "
                 f"float32 matmul {_giga(record['matmul_flops_measured'])} ({share('matmul_flops_ratio')})")  # fmt: skip
    return lines


def _giga(flops: float | None) -> str:
    return "unknown" if flops is None else f"{flops / 1e9:.1f} GFLOP/s"


def _loader(cfg: DictConfig, need: float) -> dict[str, float]:
    from lama.perf.loader import loader_throughput

    b = cfg.bench.loader
    log.info("data loader: %d JPEGs, decode vs cache, workers %s", b.images, list(b.workers))
    with tempfile.TemporaryDirectory(prefix="lama_bench_") as tmp:
        rates = loader_throughput(Path(tmp), int(b.images), int(b.timed_images), int(cfg.resolution), int(b.batch),
                                  [int(w) for w in b.workers], int(cfg.seed))  # fmt: skip
    return {**rates, "loader_need_images_per_s": need}


def _cores(device: torch.device) -> int:
    """CPU cores the training step runs on: torch's threads, at most the CPUs this process may use (SMT
    siblings count as cores, which overstates a peak where two share one core's FMA units)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(torch.get_num_threads(), usable)


def _peaks(device: torch.device, b: DictConfig, fast_math: str, measured: dict[str, dict[str, float | None]]):
    """The hardware float32 peak and the fast path's (its `fast_math`: float32, tf32 or bf16), each raised to
    any rate `measured` above it in its math (lama.perf.peak.Peak.at_least), with a warning when one is."""
    from lama.perf.peak import hardware_peaks

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    peaks = hardware_peaks(device.type, _cores(device), int(b.fma_units), gpu, b.peak_flops, b.peak_flops_bf16)
    peak = peaks["float32"].at_least(measured["float32"])
    peak_fast = peak if fast_math == "float32" else peaks[fast_math].at_least(measured[fast_math])
    for p in {peak, peak_fast}:
        if "raised to the measured" in p.source:
            log.warning("peak: %s", p.source)
    return peak, peak_fast


def measure(cfg: DictConfig) -> dict[str, Any]:
    """Run every measurement of the benchmark and return the result record."""
    from lama.device import cpu_info
    from lama.perf.peak import flops_ratio
    from lama.perf.step import random_batch, train_steps
    from lama.perf.timing import count_flops, matmul_flops, peak_memory_mb
    from lama.training.fast import choose_fast_path, cpu_native_bf16, native_bf16

    b = cfg.bench
    device = task_device(cfg, "bench.device")
    if int(b.threads) > 0:
        torch.set_num_threads(int(b.threads))
    resolution, batch_size = int(cfg.resolution), int(b.batch)
    batch = random_batch(batch_size, resolution, int(b.objects), int(cfg.model.num_classes), int(cfg.seed))
    n = int(b.matmul_size)
    matmuls = [matmul_flops(device, n)]  # measured at the start and the end, the best kept
    native = native_bf16(device)
    matmuls_bf16 = [matmul_flops(device, n, dtype=torch.bfloat16)] if native else []

    choice = choose_fast_path(OmegaConf.to_container(cfg.model.fast, resolve=True), device)  # checked in _check
    fast_path = choice.describe(device)
    log.info("%s", fast_path)
    exact = _Path("exact", _module(cfg, {"enabled": False}))
    log.info("exact path: %d px, batch %d, ch %d; warm-up until two iterations agree within %s (at most %d), "
             "then %.0f s of timed iterations (%d to %d rounds)", resolution, batch_size, int(cfg.model.ch),
             f"{float(b.warmup_tol):.0%}", int(b.warmup), float(b.time_s), int(b.rounds), int(b.max_rounds))  # fmt: skip
    _warm_up(exact, batch, int(b.warmup), float(b.warmup_tol), device, None)
    cpu_rss_mb = None if device.type == "cuda" else peak_memory_mb(device)  # before any other network exists
    log.info("counting FLOPs of one training iteration")
    flops = count_flops(lambda: train_steps(exact.module, batch, 1, device))

    paths = [exact]
    fast = None
    if choice.exact:
        log.info("fast path = exact path on this machine: timed once")
    else:
        fast = _Path("fast", _module(cfg, choice.as_config()))
        limit_s = _first_iteration_limit(choice, exact.first_s, b.slow_factor)
        _warm_up(fast, batch, int(b.warmup), float(b.warmup_tol), device, limit_s)
        if not fast.too_slow:
            paths.append(fast)
    _time_rounds(paths, batch, b, device)
    log.info("sampling: %d batches", b.sample_iters)
    sample_s = _sample_seconds(exact.module, batch, int(b.sample_iters), device)
    matmuls.append(matmul_flops(device, n))
    if native:
        matmuls_bf16.append(matmul_flops(device, n, dtype=torch.bfloat16))

    exact_s = statistics.median(exact.seconds)  # seconds per iteration
    if fast is None:
        fast_s = exact_s
    elif fast.too_slow:
        fast_s = fast.first_s  # a lower bound: its first iteration had not even finished
    else:
        fast_s = statistics.median(fast.seconds)
    exact_ips, fast_ips = batch_size / exact_s, batch_size / fast_s
    break_even = None  # iterations after which the fast path's slower first iteration (compiling) has paid off
    if fast is not None and fast.seconds and fast_s < exact_s:
        break_even = max(0.0, fast.first_s - exact.first_s) / (exact_s - fast_s)
    achieved_exact, achieved_fast = flops / exact_s, flops / fast_s
    matmul, matmul_bf16 = max(matmuls), (max(matmuls_bf16) if matmuls_bf16 else None)
    fast_math = "bf16" if choice.bf16 and native else "tf32" if choice.tf32 else "float32"  # emulated bf16: float32
    measured = {"float32": {f"{n}^3 float32 matmul": matmul, "exact training step": achieved_exact}, "tf32": {},
                "bf16": {f"{n}^3 bf16 matmul": matmul_bf16}}  # fmt: skip
    measured[fast_math]["fast training step"] = achieved_fast
    peak, peak_fast = _peaks(device, b, fast_math, measured)
    peak_mb_exact = exact.peak_mb if device.type == "cuda" else cpu_rss_mb
    return dict(
        train_images_per_s_exact=exact_ips,
        train_images_per_s_fast=fast_ips,
        fast_speedup=fast_ips / exact_ips,
        fast_path=fast_path.removeprefix("fast path: "),
        fast_choice=choice.as_config(),
        fast_same_as_exact=fast is None,
        fast_too_slow=bool(fast and fast.too_slow),
        **_path_record("exact", exact),
        **_path_record("fast", fast or exact),
        first_iter_s_exact=exact.first_s,
        first_iter_s_fast=fast.first_s if fast else exact.first_s,
        fast_break_even_iters=break_even,
        flops_per_iter=flops,
        flops_per_iter_source=FLOPS_SOURCE,
        achieved_flops_exact=achieved_exact,
        achieved_flops_fast=achieved_fast,
        peak_flops=peak.flops,  # the hardware's float32 peak (FLOP/s), what the exact path runs in
        peak_flops_source=peak.source,
        achieved_flops_ratio_exact=flops_ratio(achieved_exact, peak),
        peak_flops_fast=peak_fast.flops,  # the peak of the fast path's math
        peak_flops_fast_math=fast_math,
        peak_flops_fast_source=peak_fast.source,
        achieved_flops_ratio_fast=flops_ratio(achieved_fast, peak_fast),
        matmul_flops_measured=matmul,  # best n^3 float32 matmul of the run: a measured rate, not a peak
        matmul_flops_measured_bf16=matmul_bf16,
        matmul_flops_ratio=flops_ratio(matmul, peak),
        peak_memory_mb_exact=peak_mb_exact,
        peak_memory_mb_fast=fast.peak_mb if fast else peak_mb_exact,  # None on a CPU: its peak RSS cannot be reset
        sample_images_per_s=batch_size / statistics.median(sample_s),
        **_loader(cfg, max(exact_ips, fast_ips)),
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu: {cpu_info('model name')}",
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        cpu_native_bf16=cpu_native_bf16(),
        threads=torch.get_num_threads(),
        resolution=resolution,
        batch=batch_size,
        ch=int(cfg.model.ch),
    )


def run(cfg: DictConfig) -> dict:
    """Entry point of `python run.py task=bench`; prints the JSON record as the last stdout line."""
    _check(cfg)
    result = measure(cfg)
    for line in summary(result):
        log.info("%s", line)

    def rounded(v):
        return round(v, 4) if isinstance(v, float) else [rounded(x) for x in v] if isinstance(v, list) else v

    print(json.dumps({k: rounded(v) for k, v in result.items()}), flush=True)
    return result
