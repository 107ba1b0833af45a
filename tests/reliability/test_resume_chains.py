"""Exact resume after any sequence of crashes (issue 15.1).

A crash right after a checkpoint write is simulated by resuming from a copy of that write. The
property: resuming from the k-th write of a run makes exactly the writes the uninterrupted run made
after it, equal in everything that determines the future (weights, optimiser and scheduler states,
loop progress, iteration, RNG streams, global step). By induction any chain of crashes then ends
where the uninterrupted run ends; chains of two and three kills are also run explicitly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from lama.tasks.train import run as train
from lama.training import PeriodicCheckpoint
from tests.reliability.checkpoints import checkpoint_differences
from tests.training.conftest import compose_cfg, tiny_overrides

# 2 epochs of 3 batches (the first D-only), last.ckpt after every iteration: every kind of write occurs
# (mid-epoch, an epoch's last batch, epoch end, the end of training)
OVERRIDES = [
    *tiny_overrides(Path("."), batches=3, epochs=2),
    "model.ema.enabled=true",
    "model.ema.decay=0.9",
    "callbacks.checkpoint.every_n_iterations=1",
    "callbacks.sample_grid.every_n_iterations=0",
]
class Run:
    """One in-process training run (fresh or resumed) whose checkpoint writes are all kept."""

    def __init__(self, tmp: Path, data_dir: Path, name: str, resume_from: Path | None = None) -> None:
        self.writes: list[Path] = []
        overrides = [*OVERRIDES, f"paths.data_dir={data_dir}"]
        if resume_from is not None:
            overrides.append(f"ckpt_path={resume_from}")
        keep = tmp / f"{name}_writes"
        keep.mkdir(parents=True)
        original = PeriodicCheckpoint.save

        def save(callback, trainer, filename):
            path = original(callback, trainer, filename)
            copy = keep / f"{len(self.writes):03d}_{filename}"
            shutil.copy(path, copy)
            self.writes.append(copy)
            return path

        PeriodicCheckpoint.save = save
        try:
            train(compose_cfg(overrides, tmp / name))
        finally:
            PeriodicCheckpoint.save = original


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, synthetic_dir) -> tuple[Path, Run]:
    tmp = tmp_path_factory.mktemp("chains")
    run = Run(tmp, synthetic_dir, "full")
    iterations = [torch.load(p, weights_only=True)["lama_training"]["iteration"] for p in run.writes]
    assert iterations == [1, 2, 3, 4, 5, 6], iterations  # after iteration 3 and 6: the epoch-end save
    return tmp, run


def test_resume_from_every_write_makes_the_same_later_writes(uninterrupted, synthetic_dir):
    tmp, full = uninterrupted
    for k, write in enumerate(full.writes[:-1]):
        resumed = Run(tmp, synthetic_dir, f"after_{k}", resume_from=write)
        expected = full.writes[k + 1 :]
        assert len(resumed.writes) == len(expected), (k, resumed.writes)
        for got, want in zip(resumed.writes, expected):
            assert checkpoint_differences(got, want) == [], (k, got.name)


def _chain(tmp: Path, data_dir: Path, full: Run, kills: tuple[int, ...]) -> None:
    """Crash after write kills[0] of the full run, after write kills[1] of the resumed run, ...; the
    last resume runs to the end and must end exactly as the uninterrupted run."""
    name, source = "chain", full
    for n, k in enumerate(kills):
        assert k < len(source.writes) - 1, "kill points before the final write only"
        name = f"{name}_{k}"
        source = Run(tmp, data_dir, name, resume_from=source.writes[k])
        assert len(source.writes) == len(full.writes) - sum(kills[: n + 1]) - (n + 1)
    assert checkpoint_differences(source.writes[-1], full.writes[-1]) == []


@pytest.mark.parametrize("kills", [(2, 0), (1, 1, 0)], ids=["two kills", "three kills"])
def test_chain_of_kills_ends_as_the_uninterrupted_run(uninterrupted, synthetic_dir, kills):
    tmp, full = uninterrupted
    _chain(tmp / "_".join(map(str, kills)), synthetic_dir, full, kills)


def _chains(writes: int, length: int) -> list[tuple[int, ...]]:
    """Every sequence of `length` kill points, each before the final write of the run it kills."""
    if length == 0:
        return [()]
    return [(k, *rest) for k in range(writes - 1) for rest in _chains(writes - k - 1, length - 1)]


@pytest.mark.slow
@pytest.mark.parametrize("length", [2, 3])
def test_every_chain_of_kills(uninterrupted, synthetic_dir, length):
    tmp, full = uninterrupted
    for kills in _chains(len(full.writes), length):
        _chain(tmp / f"all_{'_'.join(map(str, kills))}", synthetic_dir, full, kills)
