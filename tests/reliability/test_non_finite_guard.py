"""The non-finite guard never leaves a poisoned checkpoint (issue 15.4): with an infinite learning rate
training stops with one line, and no checkpoint written holds a NaN or an infinity."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lama.tasks import TaskError
from lama.tasks.train import run as train
from lama.training import LamaGAN, NonFiniteLossError
from tests.training.conftest import compose_cfg, tiny_overrides


def _finite(ckpt: Path) -> bool:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    tensors = list(state["state_dict"].values())
    tensors += [v for opt in state["optimizer_states"] for s in opt["state"].values() for v in s.values()]
    return all(torch.isfinite(t).all() for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point())


@pytest.mark.parametrize("every", [1, 3])
def test_infinite_learning_rate_stops_without_a_poisoned_checkpoint(tmp_path, every):
    overrides = [*tiny_overrides(tmp_path / "data", batches=4), "model.optimizer_d.lr=inf",
                 f"callbacks.checkpoint.every_n_iterations={every}", "callbacks.sample_grid.every_n_iterations=0"]  # fmt: skip
    with pytest.raises(TaskError, match=r"non-finite .*iteration 1 .*the last checkpoint holds finite weights"):
        train(compose_cfg(overrides, tmp_path / "run"))
    written = list((tmp_path / "run").rglob("*.ckpt*"))
    assert all(p.suffix == ".ckpt" and _finite(p) for p in written), written


def test_weights_are_scanned_every_n_iterations(tmp_path, monkeypatch):
    def poison_ema_after_first_iteration(self, *_):  # G_ema is not in the losses: only the scan can find it
        if self.iteration == 1:
            with torch.no_grad():
                next(self.G_ema.parameters()).view(-1)[0] = float("inf")

    monkeypatch.setattr(LamaGAN, "on_train_batch_end", poison_ema_after_first_iteration)
    overrides = [*tiny_overrides(tmp_path / "data", batches=4), "model.ema.enabled=true", "+model.check_weights_every=3",
                 "callbacks.checkpoint.every_n_iterations=0", "callbacks.sample_grid.every_n_iterations=0"]  # fmt: skip
    with pytest.raises(TaskError, match=r"non-finite values in 1 tensors \(G_ema\..*\) after iteration 3 "):
        train(compose_cfg(overrides, tmp_path / "run"))


def test_weights_are_scanned_before_each_save():
    torch.manual_seed(0)
    module = LamaGAN(resolution=64, num_classes=10, ch=4, check_weights_every=5)
    module._check_weights("after")  # finite: nothing happens
    with torch.no_grad():
        next(module.D.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"non-finite values in 1 tensors \(D\..*\) at the checkpoint of"):
        module.on_save_checkpoint({})
