"""`python run.py task=bench` end to end at a tiny width: the last stdout line is the JSON record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from lama.tasks import TaskError, run_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
KEYS = {
    "train_images_per_s_exact",
    "train_images_per_s_fast",
    "flops_per_iter",
    "achieved_flops_exact",
    "matmul_peak_flops",
    "peak_memory_mb",
    "sample_images_per_s",
    "loader_images_per_s_decode",
    "loader_images_per_s_cached",
}
TINY = [
    "task=bench",
    "bench.ch=4",
    "bench.batch=2",
    "bench.objects=4",
    "bench.num_classes=10",
    "bench.iters=1",
    "bench.warmup=0",
    "bench.sample_iters=1",
    "bench.matmul_size=64",
    "bench.loader.images=4",
    "bench.fast.isla_impl=ref",
]


def _cfg(overrides, run_dir):
    # paths.run_dir normally comes from the Hydra runtime, which compose() does not start.
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="config", overrides=[*overrides, f"paths.run_dir={run_dir}"])


def test_bench_prints_the_record_as_last_line(capsys, tmp_path):
    run_task(_cfg(TINY, tmp_path))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(last)
    assert KEYS <= record.keys()
    for key in KEYS:
        assert record[key] > 0, key
    assert record["achieved_flops_ratio_exact"] == pytest.approx(
        record["achieved_flops_exact"] / record["matmul_peak_flops"], rel=1e-3
    )
    assert record["resolution"] == 64 and record["batch"] == 2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("bench.resolution=96", "bench.resolution"),
        ("bench.device=tpu", "bench.device"),
        ("bench.iters=0", "bench.iters"),
    ],
)
def test_bad_settings_are_task_errors(override, message, tmp_path):
    with pytest.raises(TaskError, match=message):
        run_task(_cfg([*TINY, override], tmp_path))


def test_defaults_are_the_issue_workload(tmp_path):
    bench = _cfg(["task=bench"], tmp_path).bench
    assert (bench.resolution, bench.batch, bench.ch, bench.objects, bench.num_classes) == (64, 4, 64, 8, 184)
    assert bench.fast.bf16 and bench.fast.channels_last
