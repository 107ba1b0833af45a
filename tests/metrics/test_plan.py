"""The evaluation plan: stage counts of the selected metrics, the estimate they add up to, what will not run."""

import pytest
import torch

from lama.metrics import plan
from lama.metrics.plan import Counts, expected_not_run, plan_stages, plan_table, total_seconds
from lama.metrics.registry import select

SETTINGS = {"cas": {"epochs": 30, "batch_size": 128, "arch": "resnet18"}, "detection": {"detections_file": None}}
# The synthetic validation set's first 100 layouts, 5 samples each (the papers' count), sampled first.
COUNTS = Counts(layouts=100, objects=526, repeats=5, measured_repeats=5, sample=True)


def test_every_stage_of_a_full_evaluation_is_counted():
    names = ["is", "fid", "scene_fid", "ds", "cas", "mask_iou"]
    stages = {s.name: s for s in plan_stages(names, COUNTS, SETTINGS, plan.RATES, cached={})}
    items = {name: s.items for name, s in stages.items()}
    assert items == {"sampling": 500, "real/decode": 100, "inception/load": 1, "is_fid/fake": 500, "fid/real": 100,
                     "fid/distance": 1, "scene_fid/fake": 2630, "scene_fid/real": 526, "scene_fid/distance": 1,
                     "ds": 100, "cas/crops": 3156, "cas/train": 30 * 21, "cas/test": 526, "mask_iou": 500}
    # IS and FID share one pass over the 500 fakes; a CAS step is 128 crops.
    assert stages["cas/train"].seconds_per_item == pytest.approx(128 * plan.RATES["cas_train/resnet18"])
    assert stages["sampling"].seconds_per_item == pytest.approx(
        plan.RATES["sampling"] + plan.RATES["png_file"] + plan.RATES["mask_files"])
    assert total_seconds(list(stages.values())) == pytest.approx(
        plan.OVERHEAD_S + sum(s.items * s.seconds_per_item for s in stages.values()))


def test_cached_real_statistics_and_missing_metrics_leave_their_stages_out():
    stages = plan_stages(["fid", "scene_fid"], Counts(10, 40, 1, 1, sample=False), SETTINGS, plan.RATES,
                         cached={"fid": True, "scene_fid": True})
    assert [s.name for s in stages] == ["inception/load", "is_fid/fake", "fid/distance", "scene_fid/fake",
                                        "scene_fid/distance"]
    # One sample per layout: no DS pairs; a CAS classifier without a measured rate is scaled by its FLOPs.
    resnet34 = {**SETTINGS, "cas": {**SETTINGS["cas"], "arch": "resnet34"}}
    stages = {s.name: s for s in plan_stages(["ds", "cas"], Counts(10, 40, 1, 1, sample=False), resnet34, plan.RATES, {})}
    assert "ds" not in stages and stages["cas/train"].items == 30
    assert stages["cas/train"].seconds_per_item == pytest.approx(40 * plan.RATES["cas_train/resnet18"] * 2.0)


def test_what_will_not_run_is_said_before_the_start(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # nothing downloaded
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"")
    metrics = select("all")
    settings = {**SETTINGS, "inception_weights": None, "lpips_weights": None}
    assert expected_not_run(metrics, Counts(3, 9, 1, 1, sample=False), "synthetic", masks=False, settings=settings) == {
        "is": "needs Inception weights (metrics.inception_weights)",
        "fid": "needs Inception weights (metrics.inception_weights)",
        "scene_fid": "needs Inception weights (metrics.inception_weights)",
        "ds": "needs metrics.repeats >= 2", "yolo": "needs coco_stuff data", "mask_iou": "needs sampled masks"}
    settings["inception_weights"] = str(weights)
    assert set(expected_not_run(metrics, COUNTS, "synthetic", masks=True, settings=settings)) == {"ds", "yolo"}


def test_the_printed_plan_names_counts_stages_and_the_total():
    stages = plan_stages(["cas"], COUNTS, SETTINGS, plan.RATES, cached={})
    text = plan_table(COUNTS, stages, {"yolo": "needs coco_stuff data"}, "the reference rates")
    assert text.startswith("evaluation plan: 100 layouts, 500 generated images (5 per layout, sampled now;")
    assert "526 real objects -> 2630 generated crops" in text
    assert any(line.split()[:3] == ["cas/train", "630", "step"] for line in text.splitlines())
    assert "yolo                not run: needs coco_stuff data" in text
    assert "(the reference rates)" in text
