"""YOLO score: COCOeval over layouts' thing boxes; detections from a file or a torchvision-style detector."""

import json
import urllib.error
from unittest import mock

import pytest
import torch
from torch import nn

from lama.metrics import WeightsUnavailable
from lama.metrics.detection import build_detector, coco_ap, detect, ground_truth, read_detections
from lama.metrics.errors import CannotRun
from lama.metrics.images import MappedImages

IDS = [11, 12, 13]
LABELS = [[1, 18, 150, 0], [3, 62, 0, 0], [44, 1, 92, 0]]  # 150 and 92 are stuff, 0 is padding
BOXES = [[[0.1, 0.1, 0.3, 0.4], [0.5, 0.5, 0.4, 0.3], [0.0, 0.0, 1.0, 0.5], [-0.6, -0.6, 0.5, 0.5]],
         [[0.2, 0.3, 0.5, 0.5], [0.0, 0.0, 0.2, 0.2], [-0.6, -0.6, 0.5, 0.5], [-0.6, -0.6, 0.5, 0.5]],
         [[0.6, 0.1, 0.3, 0.3], [0.1, 0.5, 0.3, 0.4], [0.0, 0.5, 1.0, 0.5], [-0.6, -0.6, 0.5, 0.5]]]
SIZE = 64


def _gt():
    return ground_truth(IDS, LABELS, BOXES, SIZE, SIZE)


def _perfect(gt):
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in gt["annotations"]]


def test_ground_truth_keeps_thing_classes_in_pixels():
    gt = _gt()
    assert sorted(a["category_id"] for a in gt["annotations"]) == [1, 1, 3, 18, 44, 62]
    first = gt["annotations"][0]
    assert first["bbox"] == pytest.approx([0.1 * SIZE, 0.1 * SIZE, 0.3 * SIZE, 0.4 * SIZE])


def test_ap_is_one_when_detections_are_the_ground_truth_from_a_file(tmp_path):
    gt = _gt()
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(_perfect(gt)))
    out = coco_ap(gt, read_detections(path))
    assert out == pytest.approx({"yolo_ap": 1.0, "yolo_ap50": 1.0, "yolo_ap75": 1.0})


def test_ap_drops_when_boxes_move_and_wrong_classes_do_not_count():
    gt = _gt()
    shifted = [{**d, "bbox": [d["bbox"][0] + 0.3 * d["bbox"][2], *d["bbox"][1:]]} for d in _perfect(gt)]
    out = coco_ap(gt, shifted)  # IoU = 0.7/1.3 ~ 0.54: matches at .50 only
    assert out["yolo_ap50"] == pytest.approx(1.0) and out["yolo_ap75"] == pytest.approx(0.0)
    relabelled = [{**d, "category_id": 2} for d in _perfect(gt)]
    assert coco_ap(gt, relabelled)["yolo_ap"] == 0.0


class Oracle(nn.Module):
    """A torchvision-style detector that returns the ground-truth boxes (xyxy px) of each image it is shown."""

    def __init__(self, gt):
        super().__init__()
        self.by_image = {}
        for a in gt["annotations"]:
            x, y, w, h = a["bbox"]
            self.by_image.setdefault(a["image_id"], []).append(([x, y, x + w, y + h], a["category_id"]))
        self.calls = 0

    def forward(self, images):
        outs = []
        for img in images:
            assert img.dtype == torch.float32 and img.max() <= 1.0
            image_id = IDS[int(img[0, 0, 0] * 255 + 0.5)]  # the image index is painted into pixel (0, 0)
            boxes, labels = zip(*self.by_image[image_id])
            outs.append({"boxes": torch.tensor(boxes), "labels": torch.tensor(labels),
                         "scores": torch.ones(len(labels))})
        self.calls += 1
        return outs


def test_detect_turns_detector_outputs_into_coco_results():
    gt = _gt()
    images = torch.zeros(3, 3, SIZE, SIZE, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(3, dtype=torch.uint8)
    oracle = Oracle(gt)
    dets = detect(oracle, MappedImages(lambda i: images[i], 3), IDS, batch_size=2, progress=False)
    assert oracle.calls == 2
    assert coco_ap(gt, dets)["yolo_ap"] == pytest.approx(1.0)


def test_detector_from_a_local_weights_file_and_offline_message(tmp_path, monkeypatch):
    import torchvision

    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=91)
    torch.save(model.state_dict(), tmp_path / "det.pth")
    loaded = build_detector(name, tmp_path / "det.pth")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert not loaded.training
    torch.save({"nothing": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailable, match="metrics.detection.weights=.*bad.pth does not fit"):
        build_detector(name, tmp_path / "bad.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", mock.Mock(side_effect=urllib.error.URLError("offline")))
    url_file = torchvision.models.get_model_weights(name).COCO_V1.url.rsplit("/", 1)[-1]
    with pytest.raises(WeightsUnavailable) as err:
        build_detector(name)
    assert url_file in str(err.value) and "metrics.detection.weights=" in str(err.value)


def test_bad_detections_file_is_named(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]))
    with pytest.raises(CannotRun, match=r"d.json: detection 0 lacks \['category_id'\]"):
        read_detections(path)


def _coco_split(root, tmp_path):
    """A tiny COCO val split: two images of their own sizes, a small object (under the layout's 2% filter),
    a crowd region; and sample records whose layouts (what the layout filter kept) lack the small object."""
    from lama.metrics.inputs import EvalInputs
    from lama.sampling.folder import SampleRecord
    from lama.sampling.images import write_image

    images = [{"id": 5, "width": 200, "height": 100}, {"id": 7, "width": 120, "height": 160}]
    anns = [{"id": 1, "image_id": 5, "category_id": 1, "bbox": [20, 10, 100, 60], "area": 6000, "iscrowd": 0},
            {"id": 2, "image_id": 5, "category_id": 44, "bbox": [150, 70, 12, 10], "area": 120, "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 3, "bbox": [10, 20, 90, 100], "area": 9000, "iscrowd": 0},
            {"id": 4, "image_id": 7, "category_id": 1, "bbox": [0, 130, 120, 30], "area": 3600, "iscrowd": 1}]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": c} for c in (1, 3, 44)]}))
    records = []
    for img in images:
        kept = [a for a in anns if a["image_id"] == img["id"] and a["area"] > 0.02 * img["width"] * img["height"]
                and not a["iscrowd"]]
        boxes = [[x / img["width"], y / img["height"], w / img["width"], h / img["height"]] for x, y, w, h in
                 (a["bbox"] for a in kept)]
        write_image(tmp_path / f"{img['id']}_0.png", torch.zeros(3, SIZE, SIZE, dtype=torch.uint8))
        records.append(SampleRecord(tmp_path / f"{img['id']}_0.png", img["id"], 0, [a["category_id"] for a in kept], boxes))
    # Detections on the 64 px images: every non-crowd object found (the small one with the top score).
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.99 if a["id"] == 2 else 0.9,
             "bbox": [v * SIZE / s for v, s in zip(a["bbox"], [img["width"], img["height"]] * 2)]}
            for a in anns if not a["iscrowd"] for img in images if img["id"] == a["image_id"]]
    (tmp_path / "dets.json").write_text(json.dumps(dets))

    def inputs(truth, threshold):
        settings = {"detection": {"max_thing_label": 90, "ground_truth": truth, "score_threshold": threshold,
                                  "detections_file": str(tmp_path / "dets.json")}}
        real = mock.Mock(dataset=mock.Mock(root=root))
        return EvalInputs(records=records, real=real, dataset="coco_stuff", split="val", resolution=SIZE,
                          num_classes=184, settings=settings)
    return inputs


def test_yolo_score_full_ground_truth_is_the_papers_protocol(tmp_path):
    from lama.metrics.runners import yolo_score

    inputs = _coco_split(tmp_path / "coco", tmp_path)
    full, proto = yolo_score(inputs("full", 0.25))
    # Every object found, boxes scaled back to 200x100 / 120x160, the crowd region ignored: AP 1.
    assert full == pytest.approx({"yolo_ap": 1.0, "yolo_ap50": 1.0, "yolo_ap75": 1.0}, abs=1e-6)
    assert proto["ground_truth"] == "full" and proto["score_threshold"] == 0.25 and proto["objects"] == 4
    # Against the layout's boxes the small object is not in the ground truth: its detection is a false positive.
    layout, proto = yolo_score(inputs("layout", 0.25))
    assert layout["yolo_ap"] < 1.0 and proto["ground_truth"] == "layout" and proto["objects"] == 2
    # The confidence threshold drops detections before COCOeval: at 0.95 only the small object's is left.
    strict, proto = yolo_score(inputs("full", 0.95))
    assert strict["yolo_ap"] < full["yolo_ap"] and proto["score_threshold"] == 0.95
    (tmp_path / "coco" / "annotations" / "instances_val2017.json").unlink()
    with pytest.raises(CannotRun, match="instances_val2017.json.*ground_truth=layout"):
        yolo_score(inputs("full", 0.25))
