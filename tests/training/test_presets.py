"""A few iterations of every experiment preset (its resolution, width tiny, synthetic data, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from lama.checkpoint import load_generator
from lama.tasks.train import run
from tests.training.conftest import CONFIGS, compose_cfg, tiny_overrides

EXPERIMENTS = sorted(f.stem for f in (CONFIGS / "experiment").glob("*.yaml"))
RESOLUTION = {"demo": 64, "ablation_synthetic": 64}
EVALUATING = ("demo", "ablation_synthetic")  # presets that evaluate after training: skipped here


def _resolution(experiment: str) -> int:
    return RESOLUTION.get(experiment) or int(experiment.rsplit("_", 1)[1])


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_preset_trains_a_few_iterations(experiment, synthetic_dir, tmp_path):
    GlobalHydra.instance().clear()
    res = _resolution(experiment)
    overrides = [f"experiment={experiment}", *tiny_overrides(synthetic_dir, resolution=res, batches=2)]
    overrides = [o for o in overrides if not o.startswith("resolution=")]  # the preset's own resolution
    overrides += ["model.d_only_iters=0"] + (["evaluate_after_training=false"] if experiment in EVALUATING else [])
    cfg = compose_cfg(overrides, tmp_path)
    assert cfg.resolution == res
    outputs = run(cfg)
    G, record = load_generator(outputs["generator"])
    assert record["hparams"]["resolution"] == res and record["hparams"]["ch"] == 4
    assert record["class_names"] and len(record["class_names"]) == cfg.data.num_classes
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # batch 0 never updates G (index must exceed d_only_iters=0), batch 1 does: 2 D steps + 1 G step
    assert last["lama_training"]["iteration"] == 2 and last["global_step"] == 3
    assert last["lama_generator"]["hparams"] == record["hparams"]
    grid = Path(outputs["sample_grid"])
    assert grid.is_file() and grid.stat().st_size > 0
    metrics = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    for key in ("train/d_loss", "train/g_loss_obj", "train/d_obj_real", "gates/g_ISLANorm.rho",
                "gates/g_LamaAdapter.mask_adjust_alpha", "gates/d_DBlock.alpha", "lr/g_mapping", "lr/d_alpha",
                "perf/images_per_s"):
        if key == "gates/g_LamaAdapter.mask_adjust_alpha" and not cfg.model.lama:
            continue
        assert key in metrics, (key, metrics)
    # the small-scale presets train with an L1 term to the real image, the paper presets (LAMA's recipe) without
    assert ("train/g_loss_l1" in metrics) == bool(cfg.model.lambda_l1), (experiment, cfg.model.lambda_l1)


def test_demo_evaluates_after_training(synthetic_dir, tmp_path):
    GlobalHydra.instance().clear()
    overrides = ["experiment=demo", *tiny_overrides(synthetic_dir, batches=2),
                 "metrics.names=[mask_iou]", "metrics.num_layouts=4", "metrics.repeats=1", "metrics.batch_size=4"]
    cfg = compose_cfg(overrides, tmp_path)
    assert cfg.evaluate_after_training is True
    outputs = run(cfg)
    results = json.loads(Path(outputs["results"]).read_text())
    assert "mask_iou" in json.dumps(results)
