"""`python run.py task=bench` at a tiny width: it times LamaGAN's own training step on the exact and the
chosen fast path, stops a path that is too slow, and prints the JSON record as its last line."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
import torch
from hydra import compose, initialize_config_dir

from lama.perf.step import PathTooSlow, StepTimer, random_batch, random_layouts, train_steps
from lama.tasks import TaskError, run_task
from lama.tasks.bench import _first_iteration_limit, summary
from lama.training import LamaGAN
from lama.training import fast as fastmod

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
POSITIVE = {
    "train_images_per_s_exact", "train_images_per_s_fast", "flops_per_iter", "achieved_flops_exact",
    "matmul_flops_measured", "peak_flops", "peak_memory_mb_exact", "sample_images_per_s", "loader_images_per_s_decode_w0",
    "loader_images_per_s_cached_w0", "loader_need_images_per_s",
}  # fmt: skip
TINY = [
    "task=bench", "model.ch=4", "data.num_classes=10", "bench.batch=2", "bench.objects=4", "bench.rounds=2",
    "bench.time_s=0", "bench.iters=1", "bench.warmup=0", "bench.sample_iters=1", "bench.matmul_size=64", "bench.loader.images=4",
    "bench.loader.timed_images=8", "bench.loader.workers=[0]",
]  # fmt: skip


def _cfg(overrides, run_dir):
    # paths.run_dir normally comes from the Hydra runtime, which compose() does not start.
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="config", overrides=[*overrides, f"paths.run_dir={run_dir}"])


def _record(capsys, overrides, tmp_path) -> dict:
    run_task(_cfg([*TINY, *overrides], tmp_path))
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_auto_without_native_bf16_times_the_exact_path_once(capsys, tmp_path):
    record = _record(capsys, [], tmp_path)  # tests/conftest.py: no native bf16
    for key in POSITIVE:
        assert record[key] > 0, key
    assert record["achieved_flops_ratio_exact"] == pytest.approx(
        record["achieved_flops_exact"] / record["peak_flops"], rel=1e-3
    )
    assert record["peak_flops_fast_math"] == "float32" and record["peak_flops_fast"] == record["peak_flops"]
    for key in ("achieved_flops_ratio_exact", "achieved_flops_ratio_fast", "matmul_flops_ratio"):
        assert 0 < record[key] <= 1, key
    assert record["flops_per_iter_source"].startswith("torch.utils.flop_counter.FlopCounterMode over one exact")
    assert record["fast_same_as_exact"] and record["fast_speedup"] == 1.0
    assert record["fast_path"].startswith("bf16 off (no native bf16 on this CPU), channels_last off")
    assert record["fast_choice"]["enabled"] is False
    assert len(record["seconds_per_iter_exact"]) == 3  # warmup 0: the first iteration is timed too, + rounds x iters
    assert record["warmup_s_exact"] == [] and not record["warmup_settled_exact"]
    seconds = record["seconds_per_iter_exact"]
    assert record["seconds_per_iter_exact_min"] == min(seconds) and record["seconds_per_iter_exact_max"] == max(seconds)
    assert record["seconds_per_iter_fast_median"] == record["seconds_per_iter_exact_median"]
    assert (record["resolution"], record["batch"], record["ch"]) == (64, 2, 4)
    assert record["loader_need_images_per_s"] == pytest.approx(record["train_images_per_s_exact"], rel=1e-3)
    assert record["peak_memory_mb_fast"] == record["peak_memory_mb_exact"]  # one path, one peak RSS


def test_a_chosen_fast_path_is_timed_beside_the_exact_one(capsys, tmp_path):
    with mock.patch.object(fastmod, "native_bf16", return_value=True):
        record = _record(capsys, ["bench.warmup=1"], tmp_path)
    assert not record["fast_same_as_exact"] and not record["fast_too_slow"]
    assert record["fast_choice"] == {"enabled": True, "bf16": True, "channels_last": True, "compile": False, "isla_impl": "ref"}
    assert len(record["seconds_per_iter_exact"]) == len(record["seconds_per_iter_fast"]) == 2
    assert len(record["warmup_s_exact"]) == len(record["warmup_s_fast"]) == 1  # bench.warmup=1: the first alone
    assert record["fast_speedup"] == pytest.approx(
        record["train_images_per_s_fast"] / record["train_images_per_s_exact"], rel=1e-3
    )


def test_a_path_much_slower_than_exact_is_stopped_and_not_timed(capsys, tmp_path):
    record = _record(capsys, ["model.fast.enabled=true", "model.fast.bf16=false", "bench.warmup=1",
                              "bench.slow_factor=1e-9"], tmp_path)  # fmt: skip
    assert record["fast_too_slow"] and record["fast_choice"]["channels_last"]
    assert record["seconds_per_iter_fast"] == []
    assert len(record["seconds_per_iter_exact"]) == 2


def test_warm_up_ends_when_two_iterations_agree_and_only_timed_rounds_make_the_statistics(capsys, tmp_path):
    # made-up seconds per training iteration, in call order: the exact path's first iteration, its warm-up
    # (4.0 -> 3.8 agree within 10%), the FLOP-counting iteration, then timed rounds until 10 s are timed
    times = iter([10.0, 5.3, 4.0, 3.8, 99.0, 4.0, 4.2, 3.9, 50.0])

    def fake_steps(module, batch, steps, device, limit_s=None):
        return [next(times) for _ in range(steps)]

    with mock.patch("lama.perf.step.train_steps", fake_steps):
        record = _record(capsys, ["bench.warmup=6", "bench.time_s=10", "bench.rounds=1"], tmp_path)
    assert record["first_iter_s_exact"] == 10.0
    assert record["warmup_s_exact"] == [10.0, 5.3, 4.0, 3.8] and record["warmup_settled_exact"]
    assert record["seconds_per_iter_exact"] == [4.0, 4.2, 3.9]  # 12.1 s >= bench.time_s after the 3rd round
    assert (record["seconds_per_iter_exact_min"], record["seconds_per_iter_exact_median"],
            record["seconds_per_iter_exact_max"]) == (3.9, 4.0, 4.2)  # fmt: skip
    assert record["train_images_per_s_exact"] == pytest.approx(2 / 4.0)
    assert next(times) == 50.0  # not one iteration more
    assert "s/iter median 4.000 (min 3.900, max 4.200) over 3 timed iterations" in summary(record)[0]
    assert "warm-up 4 iterations (settled)" in summary(record)[0]


def test_a_peak_below_a_measured_rate_is_raised_to_it_so_no_ratio_exceeds_one(capsys, tmp_path):
    record = _record(capsys, ["bench.peak_flops=1e6"], tmp_path)  # 1 MFLOP/s: far below anything measured
    assert "bench.peak_flops; raised to the measured" in record["peak_flops_source"]
    assert record["peak_flops"] == max(record["matmul_flops_measured"], record["achieved_flops_exact"])
    assert max(record["achieved_flops_ratio_exact"], record["matmul_flops_ratio"]) == pytest.approx(1.0)
    for key in ("achieved_flops_ratio_exact", "achieved_flops_ratio_fast", "matmul_flops_ratio"):
        assert record[key] <= 1, key


def test_train_steps_runs_the_modules_own_d_and_g_updates(capsys):
    torch.manual_seed(0)
    module = LamaGAN(resolution=64, num_classes=10, ch=4, d_only_iters=-1, fast={"enabled": False})
    batch = random_batch(2, 64, 4, 10)
    g_before = {n: p.detach().clone() for n, p in module.G.named_parameters()}
    seconds = train_steps(module, batch, 2, torch.device("cpu"))
    assert len(seconds) == 2 and all(s > 0 for s in seconds) and module.iteration == 2
    assert any(not torch.equal(g_before[n], p) for n, p in module.G.named_parameters())  # G was updated
    with pytest.raises(PathTooSlow):
        train_steps(module, batch, 1, torch.device("cpu"), limit_s=0.0)
    assert module.iteration == 2  # stopped before finishing the step
    assert capsys.readouterr().out == ""  # no "training from / already at iteration ..." line per timing run


def test_the_time_limit_stays_out_of_compiled_networks_and_compiling_paths():
    from lama.training.fast import FastPath, prepare_module

    module = LamaGAN(resolution=64, num_classes=10, ch=4, d_only_iters=-1, fast={"enabled": False})
    timer = StepTimer(torch.device("cpu"), limit_s=1.0)
    timer.setup(None, module, "fit")
    assert len(timer._hooks) == len(list(module.G.modules())) + len(list(module.D.modules()))
    timer.teardown(None, module, "fit")
    prepare_module(module.D, FastPath(compile=True))  # compiles lazily, at the first call
    timer.setup(None, module, "fit")
    # a hook inside a compiled graph breaks it at every module: only G's modules are checked now
    assert len(timer._hooks) == len(list(module.G.modules()))
    timer.teardown(None, module, "fit")

    assert _first_iteration_limit(FastPath(bf16=True), 10.0, 5) == 50.0
    assert _first_iteration_limit(FastPath(bf16=True, compile=True), 10.0, 5) is None  # compiling takes minutes


def test_random_layouts_are_valid_and_seeded():
    from lama.layout import PAD_LABEL, check_layout_tensors

    labels, boxes = random_layouts(6, 8, 184, seed=3)
    check_layout_tensors(labels, boxes)
    counts = (labels != PAD_LABEL).sum(1)
    assert counts.min() >= 3 and counts.max() <= 8
    again = random_layouts(6, 8, 184, seed=3)
    assert torch.equal(labels, again[0]) and torch.equal(boxes, again[1])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("resolution=96", "resolution must be one of"),
        ("bench.device=tpu", "bench.device must be auto, cpu, cuda or cuda:N"),
        ("bench.iters=0", "bench.iters must be a positive integer, got 0"),
        ("bench.warmup_tol=0", "bench.warmup_tol must be a number > 0"),
        ("bench.fma_units=0", "bench.fma_units must be a positive integer"),
        ("bench.peak_flops=-1", r"bench.peak_flops must be a number > 0 \(or null\)"),
        ("bench.max_rounds=1", r"bench.rounds \(2\) must be <= bench.max_rounds \(1\)"),
        ("bench.slow_factor=0", "bench.slow_factor must be a number > 0"),
        ("bench.loader.timed_images=0", "bench.loader.timed_images must be a positive integer"),
        ("+model.fast.bf17=true", r"unknown model.fast key\(s\) \['bf17'\]"),
        ("bench.loader.workers=2", "bench.loader.workers must be a list"),
        ("model.fast.bf16=maybe", "model.fast.bf16 must be one of"),
    ],
)
def test_bad_settings_are_task_errors(override, message, tmp_path):
    with pytest.raises(TaskError, match=message):
        run_task(_cfg([*TINY, override], tmp_path))


def test_defaults_are_the_issue_workload(tmp_path):
    cfg = _cfg(["task=bench"], tmp_path)
    assert (cfg.resolution, cfg.bench.batch, cfg.model.ch, cfg.bench.objects, cfg.model.num_classes) == (64, 4, 64, 8, 184)
    assert cfg.model.fast.enabled == "auto"
