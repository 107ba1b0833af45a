"""Exact resume: kill a training process with SIGKILL, resume from its last checkpoint, and get the
same parameters as an uninterrupted run after the same number of iterations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.conftest import run_py, tiny_overrides

HERE = Path(__file__).resolve().parent

# 2 epochs of 6 batches; last.ckpt every 4 iterations and at each epoch end; EMA on so it is covered too
COMMON = [
    *tiny_overrides(Path("."), batches=6, epochs=2),
    "model.ema.enabled=true",
    "model.ema.decay=0.9",
    "callbacks.checkpoint.every_n_iterations=4",
    "callbacks.sample_grid.every_n_iterations=3",
]


def _args(data_dir: Path, *extra: str) -> list[str]:
    return [a for a in COMMON if not a.startswith("paths.data_dir=")] + [f"paths.data_dir={data_dir}", *extra]


def _single_run(out_dir: Path) -> Path:
    runs = sorted((out_dir / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return state["state_dict"], state


def _train(tmp: Path, name: str, data_dir: Path, *extra: str, expect_kill: bool = False) -> Path:
    out = tmp / name
    # crash.py is importable as a top-level module (another installed package owns the name `tests`)
    proc = run_py(_args(data_dir, *extra), out, env={"PYTHONPATH": str(HERE)})
    if expect_kill:
        assert proc.returncode == -9, proc.stderr[-3000:]
    else:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return _single_run(out)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, synthetic_dir) -> Path:
    return _train(tmp_path_factory.mktemp("resume"), "full", synthetic_dir)


@pytest.mark.parametrize(
    ("kill_at", "resumed_from"),
    [(9, 8), pytest.param(7, 6, marks=pytest.mark.slow)],
    ids=["mid-epoch", "epoch-end"],
)
def test_resume_after_kill_matches_uninterrupted_run(tmp_path, synthetic_dir, reference_run, kill_at, resumed_from):
    killed = _train(tmp_path, "killed", synthetic_dir, "+callbacks.kill._target_=crash.KillAt",
                    f"+callbacks.kill.iteration={kill_at}", expect_kill=True)
    last = killed / "checkpoints" / "last.ckpt"
    _, state = _weights(last)
    assert state["lama_training"]["iteration"] == resumed_from
    assert not (killed / "generator.pt").exists()

    resumed = _train(tmp_path, "resumed", synthetic_dir, f"ckpt_path={last}")
    full_w, full_state = _weights(reference_run / "checkpoints" / "last.ckpt")
    res_w, res_state = _weights(resumed / "checkpoints" / "last.ckpt")
    assert res_state["lama_training"]["iteration"] == full_state["lama_training"]["iteration"] == 12
    assert res_state["global_step"] == full_state["global_step"]
    assert full_w.keys() == res_w.keys()
    assert any(k.startswith("G_ema.") for k in full_w)
    for key in full_w:
        torch.testing.assert_close(res_w[key], full_w[key], rtol=1e-5, atol=1e-6, msg=key)
    # the optimiser moments too
    for a, b in zip(full_state["optimizer_states"], res_state["optimizer_states"]):
        for pa, pb in zip(a["state"].values(), b["state"].values()):
            torch.testing.assert_close(pa["exp_avg"], pb["exp_avg"], rtol=1e-5, atol=1e-6)
    # and the stand-alone generator (EMA weights) equals the checkpoint's record
    gen_full = torch.load(reference_run / "generator.pt", weights_only=True)["state_dict"]
    gen_res = torch.load(resumed / "generator.pt", weights_only=True)["state_dict"]
    for key in gen_full:
        torch.testing.assert_close(gen_res[key], gen_full[key], rtol=1e-5, atol=1e-6, msg=key)
