"""task=sample and task=evaluate on tiny synthetic data with a tiny random generator and self-made weights."""

import json
import urllib.error
from pathlib import Path
from unittest import mock

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from lama.checkpoint import save_generator
from lama.sampling.images import read_image
from lama.tasks import TaskError, run_task
from tests.conftest import REPO


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    from lama.models import build_generator

    root = tmp_path_factory.mktemp("tasks")
    torch.manual_seed(0)
    hp = dict(resolution=64, num_classes=184, ch=8, z_dim=16, lama=True)
    save_generator(root / "g.pt", build_generator(**hp), hp, None)
    return root


def _cfg(root: Path, run: str, *overrides: str):
    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        return compose("config", overrides=[
            f"paths.data_dir={root / 'data'}", f"paths.run_dir={root / run}", f"paths.cache_dir={root / 'cache'}",
            "data.generate.num_train=2", "data.generate.num_val=4", f"checkpoint={root / 'g.pt'}",
            "metrics.device=cpu", "metrics.num_layouts=3", "metrics.repeats=2", "metrics.batch_size=4", *overrides])


def _manifest(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "generated" / "manifest.jsonl").read_text().splitlines()]


def test_sample_writes_named_images_and_a_manifest_deterministically(workdir):
    run_task(_cfg(workdir, "s1", "task=sample"))
    run_task(_cfg(workdir, "s2", "task=sample"))
    run_task(_cfg(workdir, "s3", "task=sample", "seed=1"))
    lines = _manifest(workdir / "s1")
    assert len(lines) == 6 and {ln["repeat"] for ln in lines} == {0, 1}
    for ln in lines:
        assert ln["file"] == f"images/{ln['image_id']}_{ln['repeat']}.png"
        assert len(ln["labels"]) == len(ln["boxes"]) and 0 not in ln["labels"]
    first = lines[0]["file"]
    a, b, c = (read_image(workdir / r / "generated" / first) for r in ("s1", "s2", "s3"))
    assert a.shape == (3, 64, 64)
    assert torch.equal(a, b) and not torch.equal(a, c)
    info = json.loads((workdir / "s1" / "generated" / "info.json").read_text())
    assert info["truncation"] == 2.0 and info["repeats"] == 2 and info["seed"] == 0


def test_sample_a_user_layout_file(workdir):
    from hydra.utils import instantiate

    cfg = _cfg(workdir, "l0", "task=sample")
    names = [n for n in instantiate(cfg.data).class_names if n][:2]
    layout = workdir / "layout.yaml"
    layout.write_text(yaml.safe_dump({"image_size": [200, 100], "objects": [
        {"class": names[0], "box": [0, 0, 200, 50]}, {"class": names[1], "box": [20, 30, 80, 60]}]}))
    run_task(_cfg(workdir, "l1", "task=sample", f"layout={layout}", "metrics.repeats=1"))
    out = workdir / "l1" / "generated"
    for name in ("image_0.png", "masks_0.png", "raw_masks_0.png"):
        assert read_image(out / name).shape == (3, 64, 64), name
    for name in ("overlay_0.png", "layout.png"):  # drawn at 256 px so the class names are legible
        assert read_image(out / name).shape == (3, 256, 256), name
    layout.write_text(yaml.safe_dump({"objects": [{"class": "no-such-class", "box": [0, 0, 0.5, 0.5]}]}))
    with pytest.raises(TaskError, match="unknown class name 'no-such-class'"):
        run_task(_cfg(workdir, "l2", "task=sample", f"layout={layout}"))


def _offline(monkeypatch, tmp_path) -> Path:
    """No downloads (torch hub points at an empty folder); returns a random AlexNet for DS."""
    import torchvision

    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp_path / "alex.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", mock.Mock(side_effect=urllib.error.URLError("offline")))
    return tmp_path / "alex.pth"


def test_evaluate_runs_the_named_metrics_and_fails_when_a_named_one_cannot_run(workdir, tmp_path, monkeypatch):
    alex = _offline(monkeypatch, tmp_path)
    with pytest.raises(TaskError, match=r"asked for but not run: is \(needs Inception weights: see Offline weights\); "
                                        r"yolo \(needs coco_stuff data\)"):
        run_task(_cfg(workdir, "e1", "task=evaluate", "metrics.names=[is,mask_iou,ds,cas,yolo]",
                      f"metrics.lpips_weights={alex}", "metrics.cas.epochs=1", "metrics.cas.arch=resnet10",
                      "metrics.cas.batch_size=16"))
    saved = json.loads((workdir / "e1" / "results.json").read_text())
    for key in ("mask_iou", "mask_iou_raw", "ds_mean", "ds_std", "cas"):
        assert 0.0 <= saved[key] <= 1.0 + 1e-6, key
    assert saved["mask_iou_raw"] > 0  # the random generator's raw masks still cover their boxes
    # Offline, IS is absent (not zero) with the fix in its reason; yolo needs COCO layouts; no metric had a bug.
    assert "is_mean" not in saved and "weights-inception-2015-12-05-6726825d.pth" in saved["not_run"]["is"]
    assert "metrics.inception_weights=" in saved["not_run"]["is"]
    assert "yolo_ap" not in saved and "coco_stuff" in saved["not_run"]["yolo"] and saved["errors"] == {}
    assert saved["protocol"]["samples"]["images"] == 6 and saved["protocol"]["cas"]["epochs"] == 1
    assert saved["protocol"]["cas"]["repeats"] == 2 and saved["protocol"]["ds"]["repeats_compared"] == [0, 1]
    # The same images from their folder with metrics.names=all: what cannot run is listed, the task succeeds.
    again = run_task(_cfg(workdir, "e2", "task=evaluate", f"samples={workdir / 'e1' / 'generated'}",
                          f"metrics.lpips_weights={alex}", "metrics.cas.epochs=1", "metrics.cas.arch=resnet10"))
    assert again["ds_mean"] == pytest.approx(saved["ds_mean"])
    assert set(again["not_run"]) == {"is", "fid", "scene_fid", "yolo"} and again["errors"] == {}


def test_a_bug_inside_a_metric_is_an_error_not_a_skip(workdir, monkeypatch, capsys):
    import dataclasses

    from lama.metrics import registry

    def broken(inputs):
        raise ValueError("index out of range in the metric itself")

    monkeypatch.setitem(registry.BY_NAME, "ds", dataclasses.replace(registry.BY_NAME["ds"], runner=broken))
    run_task(_cfg(workdir, "b0", "task=sample"))
    with pytest.raises(TaskError, match=r"ds \(error, a bug: ValueError: index out of range"):
        run_task(_cfg(workdir, "b1", "task=evaluate", f"samples={workdir / 'b0' / 'generated'}", "metrics.names=[ds]"))
    saved = json.loads((workdir / "b1" / "results.json").read_text())
    assert saved["not_run"] == {} and "ValueError" in saved["errors"]["ds"]
    assert "| ds | error: ValueError" in capsys.readouterr().out


def test_evaluate_user_errors_are_task_errors(workdir):
    with pytest.raises(TaskError, match="unknown metric"):
        run_task(_cfg(workdir, "x1", "task=evaluate", "metrics.names=[fid,bogus]"))
    with pytest.raises(TaskError, match="manifest.jsonl"):
        run_task(_cfg(workdir, "x2", "task=evaluate", f"samples={workdir}"))
    run_task(_cfg(workdir, "x3", "task=sample", "metrics.num_layouts=1", "metrics.repeats=1"))
    with pytest.raises(TaskError, match="is 64x64 px but resolution=128"):
        run_task(_cfg(workdir, "x4", "task=evaluate", f"samples={workdir / 'x3' / 'generated'}", "resolution=128"))
    with pytest.raises(TaskError, match="holds a 64 px generator: add resolution=64"):
        run_task(_cfg(workdir, "x5", "task=sample", "resolution=128"))


@pytest.mark.parametrize(("overrides", "expected"), [
    (["experiment=vg_128"], 1), (["experiment=vg_64"], 1), (["experiment=coco_128"], 5), (["data=synthetic"], 5),
    (["experiment=vg_128", "metrics.repeats=2"], 2)])
def test_repeats_auto_is_the_papers_count_per_dataset(overrides, expected):
    from lama.tasks.inputs import repeats

    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    assert cfg.metrics.repeats in ("auto", 2) and repeats(cfg) == expected


def test_ds_gets_two_samples_while_the_other_metrics_measure_the_papers_count(workdir, tmp_path, monkeypatch):
    alex = _offline(monkeypatch, tmp_path)
    results = run_task(_cfg(workdir, "r1", "task=evaluate", "metrics.repeats=1", "metrics.names=[ds,cas]",
                            f"metrics.lpips_weights={alex}", "metrics.cas.epochs=1", "metrics.cas.arch=resnet10"))
    samples = results["protocol"]["samples"]
    assert samples["repeats"] == 2 and samples["measured_repeats"] == 1 and samples["images"] == 6
    assert results["protocol"]["cas"]["repeats"] == 1 and results["protocol"]["ds"]["pairs"] == 3


def test_evaluate_says_what_it_computes_and_records_each_stages_time(workdir, inception_weights, capsys):
    import torch_fidelity

    from lama.metrics.images import ImageFiles
    from lama.sampling.folder import read_manifest

    results = run_task(_cfg(workdir, "t1", "task=evaluate", "metrics.names=[is,mask_iou,cas]", "metrics.is_splits=2",
                            f"metrics.inception_weights={inception_weights}", "metrics.cas.epochs=2",
                            "metrics.cas.arch=resnet10", "metrics.cas.batch_size=16"))
    out = capsys.readouterr().out
    assert "evaluation plan: 3 layouts, 6 generated images (2 per layout, sampled now; IS/FID/SceneFID/CAS measure 6)" in out
    timing = results["protocol"]["timing"]
    stages = timing["stages"]
    train, test = (int(results["protocol"]["cas"][k].split()[0]) for k in ("train", "test"))
    assert stages["sampling"]["items"] == 6 and stages["is_fid/fake"]["items"] == 6 and stages["mask_iou"]["items"] == 6
    assert stages["cas/train"]["items"] == 2 * -(-train // 16) and stages["cas/crops"]["items"] == train + test
    assert set(timing["plan"]["stages"]) <= set(stages)  # every planned stage ran and was timed
    assert timing["total_seconds"] >= timing["staged_seconds"] > 0 and timing["torch_threads"] >= 1
    assert "| stage | items | planned | measured | per item |" in out and "| cas/train |" in out
    # IS from the evaluation's own Inception pass is torch-fidelity's IS of the same images, exactly.
    files = [r.file for r in read_manifest(workdir / "t1" / "generated")]
    theirs = torch_fidelity.calculate_metrics(
        input1=ImageFiles(files), isc=True, isc_splits=2, feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(inception_weights), cuda=False, save_cpu_ram=True, verbose=False)
    assert results["is_mean"] == theirs["inception_score_mean"] and results["is_std"] == theirs["inception_score_std"]
