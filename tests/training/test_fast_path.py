"""The fast training path chosen by config (model.fast.enabled=true): bf16 forward passes, channels_last
networks, finite losses; trainer.precision=bf16-mixed autocasts the manual steps too; exact path untouched."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from lama.training import LamaGAN
from lama.training.module import fast_path
from tests.training.conftest import CONFIGS, compose_cfg, tiny_batch
from tests.training.test_module import NUM_CLASSES, fit, tiny_module


class LossRecorder:
    """Records every logged loss value and the dtype D's first conv produced, per training step."""

    def __init__(self, module: LamaGAN) -> None:
        self.dtypes: list[torch.dtype] = []
        conv = next(m for m in module.D.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda _m, _i, out: self.dtypes.append(out.dtype))


def _losses(trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.logged_metrics.items() if k.startswith("train/") and "loss" in k}


def test_fast_path_trains_in_bf16_with_finite_losses():
    module = tiny_module(d_only_iters=0, fast={"enabled": True})
    seen = LossRecorder(module)
    trainer = fit(module, [tiny_batch(seed=s, num_classes=NUM_CLASSES) for s in range(3)])
    assert module.iteration == 3
    losses = _losses(trainer)
    assert {"train/d_loss", "train/g_loss"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert seen.dtypes and set(seen.dtypes) == {torch.bfloat16}
    convs = [m for m in module.G.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert all(p.dtype == torch.float32 for p in module.parameters())  # master weights stay float32


def test_exact_path_is_the_default_and_untouched():
    module = tiny_module(d_only_iters=0)
    assert module.fast is None
    seen = LossRecorder(module)
    fit(module, [tiny_batch(num_classes=NUM_CLASSES)])
    assert set(seen.dtypes) == {torch.float32}


def test_lightning_bf16_mixed_precision_autocasts_the_manual_steps():
    import pytorch_lightning as pl

    module = tiny_module(d_only_iters=0)
    seen = LossRecorder(module)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, precision="bf16-mixed", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    from tests.training.test_module import Batches

    trainer.fit(module, train_dataloaders=Batches([tiny_batch(seed=s, num_classes=NUM_CLASSES) for s in range(2)]))
    assert set(seen.dtypes) == {torch.bfloat16} and module.iteration == 2
    assert all(torch.isfinite(torch.tensor(v)) for v in _losses(trainer).values())


def test_config_switch_and_bad_keys(tmp_path):
    cfg = compose_cfg(["model.ch=4", "model.fast.enabled=true", "model.fast.channels_last=false"], tmp_path)
    module = instantiate(cfg.model)
    assert module.fast is not None and module.fast.bf16 and not module.fast.channels_last
    assert instantiate(compose_cfg(["model.ch=4"], tmp_path).model).fast is None
    assert (CONFIGS / "model/lama.yaml").read_text().count("fast:") == 1
    with pytest.raises(ValueError, match="unknown model.fast key"):
        fast_path({"enabled": True, "bf17": True})
    with pytest.raises(ValueError, match="isla_impl"):
        fast_path({"enabled": True, "isla_impl": "cuda"})
