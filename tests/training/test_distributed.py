"""run.py end to end: 2-process CPU DDP (gloo), and a multirun over model.lama=true,false."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lama.checkpoint import read_generator_record
from tests.training.conftest import run_py, tiny_overrides


def test_two_process_cpu_ddp_trains_and_checkpoints_every_rank_state(tmp_path, synthetic_dir):
    args = [*tiny_overrides(synthetic_dir, batches=3), "trainer=ddp_cpu", "model.d_only_iters=0"]
    proc = run_py(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (run,) = sorted((tmp_path / "train" / "runs").iterdir())
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert len(state["lama_training"]["rng_states"]) == 2  # one RNG state per rank, for exact resume
    rank_rngs = [s["torch"] for s in state["lama_training"]["rng_states"]]
    assert not torch.equal(rank_rngs[0], rank_rngs[1])  # the ranks draw different latents
    assert state["lama_training"]["iteration"] == 3 and state["global_step"] == 5
    assert read_generator_record(run / "generator.pt")["hparams"]["ch"] == 4
    assert "SyncBatchNorm needs GPUs" in proc.stderr + proc.stdout


def test_multirun_over_lama_true_false_gives_two_runs(tmp_path, synthetic_dir):
    args = ["-m", "experiment=demo", "model.lama=true,false", "evaluate_after_training=false",
            *tiny_overrides(synthetic_dir, batches=2)]
    proc = run_py(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (sweep,) = sorted((tmp_path / "train" / "multiruns").iterdir())
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    flags = [read_generator_record(Path(j) / "generator.pt")["hparams"]["lama"] for j in jobs]
    assert flags == [True, False]
    for job in jobs:
        assert (job / "checkpoints" / "last.ckpt").is_file() and list((job / "samples").glob("iter_*.png"))


@pytest.mark.slow
def test_multirun_with_two_process_ddp_starts_one_job_per_override(tmp_path, synthetic_dir):
    # Lightning re-runs sys.argv for rank 1; inside a multirun that must be this job, not the sweep
    args = ["-m", "model.lama=true,false", *tiny_overrides(synthetic_dir, batches=2), "trainer=ddp_cpu"]
    proc = run_py(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (sweep,) = sorted((tmp_path / "train" / "multiruns").iterdir())
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    for job, lama in zip(jobs, (True, False)):
        assert read_generator_record(job / "generator.pt")["hparams"]["lama"] is lama
        state = torch.load(job / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert len(state["lama_training"]["rng_states"]) == 2
