"""Resume after a stop (trainer.max_iterations or max_steps) continues to the configured end, says where
it continues from and where it stops, and with resume=true stays in the original run directory; the
progress bar counts iterations over the whole run (issue 18.1, 18.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lama.tasks.train import run as train
from lama.training import IterationProgressBar
from tests.reliability.checkpoints import checkpoint_differences
from tests.training.conftest import compose_cfg, tiny_overrides

# 2 epochs of 3 batches (iterations 1-2 of each epoch D-only), last.ckpt every 2 iterations
OVERRIDES = [*tiny_overrides(Path("."), batches=3, epochs=2), "callbacks.sample_grid.every_n_iterations=0"]
END = "to iteration 6 (trainer.max_epochs=2 x 3 batches)"


def _train(run_dir: Path, data_dir: Path, *extra: str):
    return train(compose_cfg([*OVERRIDES, f"paths.data_dir={data_dir}", *extra], run_dir))


def _iteration(ckpt: Path) -> int:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["lama_training"]["iteration"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("full")
    _train(run_dir, data_dir)
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize(("stop", "stopped_at"), [("trainer.max_iterations=4", 4), ("trainer.max_steps=6", 5)])
def test_resume_after_a_stop_continues_in_the_original_run_directory(tmp_path, data_dir, uninterrupted, capsys,
                                                                     stop, stopped_at):  # fmt: skip
    first = tmp_path / "first"
    _train(first, data_dir, stop)
    last = first / "checkpoints" / "last.ckpt"
    assert _iteration(last) == stopped_at  # saved where it stopped, in mid-epoch
    capsys.readouterr()

    _train(tmp_path / "second", data_dir, f"ckpt_path={last}", "resume=true")
    out = capsys.readouterr().out
    assert f"resuming at iteration {stopped_at} (epoch 1) {END}" in out
    assert not (tmp_path / "second").exists()  # everything went into the original run directory
    assert _iteration(last) == 6
    assert checkpoint_differences(last, uninterrupted) == []


def test_resume_at_the_end_says_nothing_is_left_and_keeps_the_checkpoint(tmp_path, data_dir, capsys):
    _train(tmp_path, data_dir, "trainer.max_iterations=2")
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    capsys.readouterr()
    _train(tmp_path, data_dir, "trainer.max_iterations=2")  # the same run directory continues itself
    out = capsys.readouterr().out
    assert f"resuming from {last}" in out
    assert "already at iteration 2 (epoch 0), where training stops (trainer.max_iterations=2): nothing to train" in out
    assert last.read_bytes() == before


def test_resume_true_alone_continues_the_newest_run_beside_this_one(tmp_path, data_dir, capsys):
    runs = tmp_path / "runs"
    _train(runs / "a", data_dir, "trainer.max_iterations=2")
    _train(runs / "b", data_dir, "trainer.max_iterations=4")
    capsys.readouterr()
    _train(runs / "c", data_dir, "resume=true", "trainer.max_iterations=5")
    assert f"resuming from {runs / 'b' / 'checkpoints' / 'last.ckpt'}" in capsys.readouterr().out
    assert _iteration(runs / "b" / "checkpoints" / "last.ckpt") == 5 and not (runs / "c").exists()


def test_progress_bar_counts_iterations_of_the_whole_run_after_a_resume(tmp_path, data_dir, monkeypatch):
    _train(tmp_path, data_dir, "trainer.max_iterations=4")
    bars = []
    monkeypatch.setattr(IterationProgressBar, "on_train_end", lambda self, *_: bars.append(self.train_progress_bar))
    _train(tmp_path, data_dir, "callbacks.progress_bar.refresh_rate=1")
    (bar,) = bars
    assert (bar.initial, bar.n, bar.total) == (4, 6, 6)
    bar.close()


def test_the_span_line_is_its_own_line_beside_the_progress_bar(tmp_path, data_dir, capsys):
    _train(tmp_path, data_dir, "trainer.max_iterations=2", "callbacks.progress_bar.refresh_rate=1")
    out = capsys.readouterr().out
    line = "training from iteration 0 (epoch 0) to iteration 2 (trainer.max_iterations=2)"
    before = out.index(line)
    assert "Epoch 0" in out  # the bar was drawn on this stream
    assert before == 0 or out[before - 1] in "\r\n", repr(out[max(0, before - 60):before + len(line)])


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    import csv

    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_resume_true_continues_the_csv_log_instead_of_deleting_it(tmp_path, data_dir, uninterrupted):
    full = _csv_rows(uninterrupted.parents[1])
    first = tmp_path / "first"
    _train(first, data_dir, "trainer.max_iterations=4")
    _train(first, data_dir)  # the same run directory continues itself, to the end
    rows = _csv_rows(first)
    assert [r["step"] for r in rows] == [r["step"] for r in full]  # the rows before the stop are kept, none twice
    def measured(row):  # all but the timings (perf/*), which differ between any two runs
        return {k: v for k, v in row.items() if not k.startswith("perf/")}

    assert [measured(r) for r in rows] == [measured(r) for r in full]
