"""The periodic mask-metric callback: val/mask_iou* every N iterations and val/cas every M, into the CSV."""

from __future__ import annotations

import csv

import pytest
from hydra.core.global_hydra import GlobalHydra

from lama.tasks.train import run
from tests.training.conftest import compose_cfg, tiny_overrides


def _tiny_study(synthetic_dir, tmp_path, *extra):
    GlobalHydra.instance().clear()
    overrides = ["experiment=ablation_synthetic", *tiny_overrides(synthetic_dir, batches=4), "data.return_masks=true",
                 "evaluate_after_training=false", "callbacks.mask_metrics.every_n_iterations=2",
                 "callbacks.mask_metrics.cas_every_n_iterations=4", "callbacks.mask_metrics.num_layouts=2",
                 "callbacks.mask_metrics.cas_epochs=1", "logger=csv", *extra]
    return run(compose_cfg(overrides, tmp_path))


def test_mask_metrics_are_logged_at_fixed_iterations(synthetic_dir, tmp_path):
    _tiny_study(synthetic_dir, tmp_path)
    rows = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))
    logged = [r for r in rows if r.get("val/mask_iou")]
    assert [float(r["train/iteration"]) for r in logged] == [2.0, 4.0]
    assert [bool(r["val/cas"]) for r in logged] == [False, True]
    for r in logged:
        for key in ("val/mask_iou", "val/mask_iou_raw", "val/mask_iou_box", "val/mask_iou_things", "val/mask_iou_stuff"):
            assert 0.0 <= float(r[key]) <= 1.0


def test_mask_metrics_name_the_missing_masks(synthetic_dir, tmp_path):
    with pytest.raises(ValueError, match="data.return_masks=true"):
        _tiny_study(synthetic_dir, tmp_path, "data.return_masks=false")


def test_gain_over_the_floor_is_logged_and_is_what_a_mask_sweep_optimises(synthetic_dir, tmp_path):
    """val/mask_iou_things_gain = things IoU minus the filled boxes', in the CSV and as the value a sweep
    with optimized_metric=val/mask_iou_things_gain gets back (the last logged one)."""
    value = _tiny_study(synthetic_dir, tmp_path, "+optimized_metric=val/mask_iou_things_gain")
    rows = [r for r in csv.DictReader((tmp_path / "csv" / "metrics.csv").open()) if r.get("val/mask_iou")]
    for r in rows:
        gain = float(r["val/mask_iou_things"]) - float(r["val/mask_iou_things_box"])
        assert float(r["val/mask_iou_things_gain"]) == pytest.approx(gain, abs=1e-6)
    assert isinstance(value, float)
    assert value == pytest.approx(float(rows[-1]["val/mask_iou_things_gain"]), abs=1e-6)


def test_a_resumed_run_keeps_its_mask_metric_rows_on_the_training_rows_steps(synthetic_dir, tmp_path):
    """Mask metrics are logged on the step Lightning gives the same iteration's training row, and a resumed
    run keeps every row logged before its checkpoint: they were once logged at the optimiser-step count
    (2 per iteration), so a resume read them as 'after the checkpoint' and dropped them."""
    def rows():
        return list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))

    extra = ["trainer.max_epochs=3", "callbacks.mask_metrics.cas_every_n_iterations=0"]
    _tiny_study(synthetic_dir, tmp_path, *extra, "trainer.max_iterations=6")
    _tiny_study(synthetic_dir, tmp_path, *extra)  # the same run directory continues to the end (12 iterations)
    logged = rows()
    masks = [r for r in logged if r.get("val/mask_iou")]
    assert [float(r["train/iteration"]) for r in masks] == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    steps = {float(r["train/iteration"]): r["step"] for r in logged if r.get("train/d_loss")}
    assert [r["step"] for r in masks] == [steps[float(r["train/iteration"])] for r in masks]
