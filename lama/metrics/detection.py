"""YOLO score: a COCO-trained detector on generated images, COCOeval AP / AP50 / AP75 against the real
thing-class boxes of the same layouts. Default detector: a torchvision COCO model; or read the detections
of any external detector (e.g. YOLOv4, the papers' choice) from a COCO results-format JSON file."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lama.layout import PAD_LABEL
from lama.metrics.errors import CannotRun
from lama.metrics.weights import WeightsUnavailable, ensure_downloaded, load_state_dict_file
from lama.progress import stage_bar

DETECTOR_OPTION = "metrics.detection.weights"
DETECTIONS_OPTION = "metrics.detection.detections_file"
# COCO category ids 1..90 are the 80 thing classes (with gaps); torchvision's COCO detectors predict these ids.
COCO_MAX_THING_LABEL = 90
COCO_NUM_CLASSES = 91


def build_detector(name: str = "fasterrcnn_resnet50_fpn_v2", weights_path: str | Path | None = None,
                   device: str | torch.device = "cpu") -> nn.Module:
    """A torchvision COCO detector in eval mode: its COCO weights (downloaded as torchvision does) or a local
    state dict of the same architecture. Takes a list of (3, H, W) float images in [0, 1]."""
    try:
        builder = torchvision.models.get_model_builder(name)
        weights_enum = torchvision.models.get_model_weights(name)
    except ValueError:
        raise CannotRun(f"metrics.detection.model={name!r} is not a torchvision detection model",
                        short="unknown metrics.detection.model") from None
    if weights_path is None:
        weights = weights_enum.COCO_V1 if hasattr(weights_enum, "COCO_V1") else weights_enum.DEFAULT
        ensure_downloaded(weights.url, metric=f"YOLO score ({name})", option=DETECTOR_OPTION)
        model = builder(weights=weights)
    else:
        state = load_state_dict_file(weights_path, DETECTOR_OPTION)
        model = builder(weights=None, weights_backbone=None, num_classes=COCO_NUM_CLASSES)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise WeightsUnavailable(f"{DETECTOR_OPTION}={weights_path} does not fit torchvision {name}: {err}") from None
    return model.eval().to(device)


@torch.no_grad()
def detect(model: nn.Module, images: Dataset, image_ids: Sequence[int], batch_size: int = 8,
           device: str | torch.device = "cpu", progress: bool = True) -> list[dict[str, Any]]:
    """Run a torchvision-style detector over uint8 (3, H, W) images; COCO results-format detections
    (bbox = [x, y, w, h] in pixels of the image) with image_id = image_ids[i]."""
    if len(images) != len(image_ids):
        raise ValueError(f"{len(images)} images but {len(image_ids)} image ids")
    loader = DataLoader(images, batch_size=batch_size, collate_fn=list)
    results, start = [], 0
    bar = stage_bar("yolo", len(images), "img", desc="YOLO score (detector)", disable=not progress)
    for batch in loader:
        outputs = model([img.float().div(255).to(device) for img in batch])
        for offset, out in enumerate(outputs):
            xyxy = out["boxes"].cpu().tolist()
            for (x0, y0, x1, y1), label, score in zip(xyxy, out["labels"].tolist(), out["scores"].tolist()):
                results.append({"image_id": int(image_ids[start + offset]), "category_id": int(label),
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score)})
        start += len(batch)
        bar.update(len(batch))
    bar.close()
    return results


def read_detections(path: str | Path) -> list[dict[str, Any]]:
    """Read a COCO results-format JSON file: a list of {image_id, category_id, bbox [x, y, w, h] px, score}."""
    path = Path(path)
    short = f"bad {DETECTIONS_OPTION}"
    if not path.is_file():
        raise CannotRun(f"{DETECTIONS_OPTION}={path}: no such file", short=f"{DETECTIONS_OPTION} not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CannotRun(f"{path} is not valid JSON: {err}", short=short) from None
    if not isinstance(data, list):
        raise CannotRun(f"{path} must hold a JSON list of detections (COCO results format)", short=short)
    for i, det in enumerate(data):
        missing = [k for k in ("image_id", "category_id", "bbox", "score") if not isinstance(det, dict) or k not in det]
        if missing:
            raise CannotRun(f"{path}: detection {i} lacks {missing}", short=short)
        if len(det["bbox"]) != 4:
            raise CannotRun(f"{path}: detection {i} bbox must be [x, y, w, h], got {det['bbox']}", short=short)
    return data


def ground_truth(image_ids: Sequence[int], labels: Sequence[Sequence[int]], boxes: Sequence[Sequence[Sequence[float]]],
                 width: int, height: int, max_thing_label: int = COCO_MAX_THING_LABEL) -> dict[str, Any]:
    """A COCO-format ground-truth dataset from layouts: thing-class objects only (1..max_thing_label),
    boxes (x0, y0, w, h) fractions -> pixels of a width x height image."""
    images, annotations = [], []
    for image_id, labs, bxs in zip(image_ids, labels, boxes):
        images.append({"id": int(image_id), "width": width, "height": height})
        for label, (x0, y0, w, h) in zip(labs, bxs):
            if int(label) == PAD_LABEL or int(label) > max_thing_label:
                continue
            bbox = [x0 * width, y0 * height, w * width, h * height]
            annotations.append({"id": len(annotations) + 1, "image_id": int(image_id), "category_id": int(label),
                                "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0})
    categories = [{"id": c} for c in sorted({a["category_id"] for a in annotations})]
    return {"images": images, "annotations": annotations, "categories": categories}


def full_ground_truth(instances_path: str | Path, image_ids: Sequence[int]) -> dict[str, Any]:
    """The papers' YOLO-score ground truth: a COCO-format dataset of `image_ids` with EVERY annotation of
    those images in a COCO instances file (objects under the layout's area filter kept, crowd ones flagged
    as COCOeval expects), boxes in pixels of the original images."""
    path = Path(instances_path)
    if not path.is_file():
        raise CannotRun(f"metrics.detection.ground_truth=full needs the COCO instances file {path}; "
                        "add it, or use metrics.detection.ground_truth=layout", short=f"needs {path.name}")
    data = json.loads(path.read_text())
    wanted = {int(i) for i in image_ids}
    images = [img for img in data["images"] if int(img["id"]) in wanted]
    missing = wanted - {int(img["id"]) for img in images}
    if missing:
        raise CannotRun(f"{path} lacks the evaluated image ids {sorted(missing)[:5]}", short=f"image ids not in {path.name}")
    annotations = [a for a in data["annotations"] if int(a["image_id"]) in wanted]
    return {"images": images, "annotations": annotations, "categories": data["categories"]}


def to_original_size(detections: Sequence[dict[str, Any]], images: Sequence[dict[str, Any]],
                     size: int) -> list[dict[str, Any]]:
    """Detections on size x size generated images -> boxes in pixels of each original image ({id, width, height})."""
    scale = {int(img["id"]): (img["width"] / size, img["height"] / size) for img in images}
    out = []
    for det in detections:
        sx, sy = scale.get(int(det["image_id"]), (1.0, 1.0))
        x, y, w, h = det["bbox"]
        out.append({**det, "bbox": [x * sx, y * sy, w * sx, h * sy]})
    return out


def keep_confident(detections: Sequence[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """The detections whose score is at least `threshold` (the detector's confidence threshold)."""
    return [d for d in detections if float(d["score"]) >= threshold]


def coco_ap(gt: dict[str, Any], detections: Sequence[dict[str, Any]]) -> dict[str, float]:
    """COCOeval bbox AP (IoU .50:.95), AP50 and AP75 as fractions in [0, 1]: {yolo_ap, yolo_ap50, yolo_ap75}."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not gt["annotations"]:
        raise CannotRun("YOLO score: no thing-class objects in the layouts (check metrics.detection.max_thing_label)",
                        short="no thing-class objects to detect")
    known = {img["id"] for img in gt["images"]}
    dets = [d for d in detections if int(d["image_id"]) in known]
    if not dets:
        return {"yolo_ap": 0.0, "yolo_ap50": 0.0, "yolo_ap75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {**gt, "info": {}}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(d) for d in dets])
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    ap, ap50, ap75 = (max(float(v), 0.0) for v in evaluator.stats[:3])
    return {"yolo_ap": ap, "yolo_ap50": ap50, "yolo_ap75": ap75}


def detection_protocol(source: str, num_images: int, num_objects: int, max_thing_label: int, ground_truth: str,
                       score_threshold: float) -> dict[str, Any]:
    """What stands behind a YOLO-score number, for results.json."""
    truth = {"full": "every annotation of the evaluated images in instances_val2017.json, original image size",
             "layout": f"layout boxes with labels 1..{max_thing_label} (COCO thing classes), generated image size"}
    return {
        "detector": source,
        "evaluation": "pycocotools COCOeval bbox, AP@[.50:.95], AP50, AP75 (fractions)",
        "ground_truth": ground_truth,
        "ground_truth_objects": truth[ground_truth],
        "score_threshold": score_threshold,
        "images": num_images,
        "objects": num_objects,
        "repeats": 1,
        "resize": "the detector's own input transform of the generated images",
    }
