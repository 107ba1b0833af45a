"""Runs the selected metrics over one sample set against the real validation data. A metric that fails
(missing weights, missing masks, ...) is reported with its reason and left out of the results."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lama.metrics.images import ImageFiles, ObjectCrops, object_entries
from lama.metrics.manifest import SampleRecord
from lama.metrics.real import RealLayouts

log = logging.getLogger(__name__)

METRIC_NAMES = ("is", "fid", "scene_fid", "ds", "cas", "yolo", "mask_iou")


class MetricSkipped(RuntimeError):
    """A metric cannot run on these inputs; the message says why (it is reported, not raised)."""


@dataclass
class EvalInputs:
    """Everything a metric reads: the generated samples, the real split and the metric settings."""

    records: list[SampleRecord]
    real: RealLayouts
    dataset: str
    split: str
    resolution: int
    num_classes: int
    settings: dict[str, Any]
    device: str = "cpu"
    cache_dir: str | None = None
    progress: bool = True
    _cache: dict[str, Any] = field(default_factory=dict)

    def opt(self, key: str, default: Any = None) -> Any:
        """A metric setting by dotted key (e.g. 'cas.epochs'), or default."""
        node: Any = self.settings
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return default if node is None else node

    @property
    def real_ids(self) -> list[int]:
        """The distinct layout ids of the samples, in first-seen order (the real set, one image each)."""
        return list(dict.fromkeys(r.image_id for r in self.records))

    def fakes(self) -> ImageFiles:
        """Every generated image, (3, R, R) uint8, in manifest order."""
        return ImageFiles([r.file for r in self.records])

    def real_images(self):
        """The real image of each distinct layout id, (3, R, R) uint8, in real_ids order."""
        return self.real.images(self.real_ids)

    def real_layouts(self) -> tuple[list[list[int]], list[list[list[float]]]]:
        """Labels and boxes (fractions) of the real images, as stored in the dataset."""
        labels, boxes = [], []
        for image_id in self.real_ids:
            lab, box = self.real.layout(image_id)
            labels.append(lab.tolist())
            boxes.append(box.tolist())
        return labels, boxes


def _fidelity(inp: EvalInputs, isc: bool, fid: bool) -> tuple[dict[str, float], dict[str, Any]]:
    from lama.metrics.fidelity import fidelity_metrics, fidelity_protocol, real_stats_cache_name

    weights = inp.opt("inception_weights")
    cache_name = real_stats_cache_name(inp.dataset, inp.split, inp.resolution, len(inp.real_ids), weights)
    values = fidelity_metrics(
        inp.fakes(), inp.real_images() if fid else None, isc=isc, fid=fid, weights_path=weights,
        real_cache_name=cache_name if fid else None, cache_dir=inp.cache_dir, batch_size=inp.opt("fidelity_batch_size", 64),
        device=inp.device, isc_splits=inp.opt("isc_splits", 10), loader_workers=inp.opt("loader_workers", True),
        verbose=inp.progress,
    )
    proto = fidelity_protocol(weights, inp.opt("isc_splits", 10))
    proto.update(num_fake=len(inp.records), num_real=len(inp.real_ids) if fid else None,
                 real_stats_cache=cache_name if fid else None)
    return values, proto


def _is(inp: EvalInputs):
    values, proto = _fidelity(inp, isc=True, fid=False)
    proto.pop("num_real"), proto.pop("real_stats_cache")
    return values, proto


def _fid(inp: EvalInputs):
    return _fidelity(inp, isc=False, fid=True)


def _scene_fid(inp: EvalInputs):
    from lama.metrics.fidelity import real_stats_cache_name
    from lama.metrics.scene_fid import CROP_SIZE, scene_crops, scene_fid, scene_fid_protocol

    weights = inp.opt("inception_weights")
    fake = scene_crops(inp.fakes(), [r.labels for r in inp.records], [r.boxes for r in inp.records], CROP_SIZE)
    labels, boxes = inp.real_layouts()
    real = scene_crops(inp.real_images(), labels, boxes, CROP_SIZE)
    cache_name = real_stats_cache_name(inp.dataset, inp.split, inp.resolution, len(inp.real_ids), weights,
                                       kind=f"objects{len(real)}-crop{CROP_SIZE}bicubic")
    value = scene_fid(fake, real, weights_path=weights, real_cache_name=cache_name, cache_dir=inp.cache_dir,
                      batch_size=inp.opt("fidelity_batch_size", 64), device=inp.device,
                      loader_workers=inp.opt("loader_workers", True), verbose=inp.progress)
    proto = scene_fid_protocol(weights, len(fake), len(real))
    proto["real_stats_cache"] = cache_name
    return {"scene_fid": value}, proto


def _ds(inp: EvalInputs):
    from lama.metrics.diversity import build_lpips, diversity_protocol, diversity_score, lpips_distances

    by_key = {(r.image_id, r.repeat): r for r in inp.records}
    pairs = [(by_key[(i, 0)].file, by_key[(i, 1)].file) for i in inp.real_ids if (i, 0) in by_key and (i, 1) in by_key]
    if not pairs:
        raise MetricSkipped("DS needs two samples of each layout (repeats 0 and 1): set metrics.repeats >= 2")
    weights = inp.opt("lpips_weights")
    net = build_lpips(weights, inp.device)
    dist = lpips_distances(ImageFiles([a for a, _ in pairs]), ImageFiles([b for _, b in pairs]), net,
                           batch_size=inp.opt("ds_batch_size", 32), device=inp.device, progress=inp.progress)
    return diversity_score(dist), diversity_protocol(weights, len(pairs), [0, 1])


def _cas(inp: EvalInputs):
    from lama.metrics.cas import CAS_CROP, cas_protocol, classification_accuracy_score

    train = ObjectCrops(inp.fakes(), object_entries([r.labels for r in inp.records], [r.boxes for r in inp.records]),
                        CAS_CROP, with_labels=True)
    labels, boxes = inp.real_layouts()
    test = ObjectCrops(inp.real_images(), object_entries(labels, boxes), CAS_CROP, with_labels=True)
    settings = {k: inp.opt(f"cas.{k}", d) for k, d in
                (("epochs", 30), ("batch_size", 128), ("lr", 0.1), ("arch", "resnet18"), ("augment", True))}
    seed = int(inp.opt("seed", 0))
    acc = classification_accuracy_score(train, test, inp.num_classes, seed=seed, device=inp.device,
                                        progress=inp.progress, **settings)
    return {"cas": acc}, cas_protocol(len(train), len(test), seed=seed, **settings)


def _yolo(inp: EvalInputs):
    from lama.metrics.detection import (
        build_detector,
        coco_ap,
        detect,
        detection_protocol,
        ground_truth,
        read_detections,
    )

    if inp.dataset != "coco_stuff":
        raise MetricSkipped(f"the YOLO score needs COCO-Stuff layouts (COCO category ids), not data.name={inp.dataset}")
    first = [r for r in inp.records if r.repeat == 0]
    max_thing = int(inp.opt("detection.max_thing_label", 90))
    size = ImageFiles([first[0].file])[0].shape[-1]
    gt = ground_truth([r.image_id for r in first], [r.labels for r in first], [r.boxes for r in first],
                      size, size, max_thing)
    det_file = inp.opt("detection.detections_file")
    if det_file:
        dets, source = read_detections(det_file), f"detections file {det_file}"
    else:
        name = inp.opt("detection.model", "fasterrcnn_resnet50_fpn_v2")
        weights = inp.opt("detection.weights")
        model = build_detector(name, weights, inp.device)
        dets = detect(model, ImageFiles([r.file for r in first]), [r.image_id for r in first],
                      batch_size=inp.opt("detection.batch_size", 8), device=inp.device, progress=inp.progress)
        source = f"torchvision {name} ({weights or 'COCO_V1 weights'})"
    return coco_ap(gt, dets), detection_protocol(source, len(first), len(gt["annotations"]), max_thing)


def _mask_iou(inp: EvalInputs):
    from lama.metrics.manifest import load_masks
    from lama.metrics.mask_iou import MaskIoU

    if any(r.masks is None for r in inp.records):
        raise MetricSkipped("mask IoU needs the generator's masks: sample with metrics.save_masks=true")
    meter = MaskIoU()
    for r in inp.records:
        try:
            true = inp.real.masks(r.image_id)
        except Exception as err:  # noqa: BLE001 - datasets without masks raise their own error type
            raise MetricSkipped(f"mask IoU needs true instance masks: {err}") from None
        masks, raw = load_masks(r.masks)
        labels, boxes = inp.real.layout(r.image_id)
        real = labels != 0
        true, labels, boxes = true[real], labels[real], boxes[real]
        if masks.shape != true.shape:
            raise MetricSkipped(f"{r.masks}: masks {tuple(masks.shape)} do not match the true masks {tuple(true.shape)}")
        meter.update(masks[None], raw[None], true[None], labels[None], boxes[None])
    return meter.compute(), meter.protocol()


RUNNERS: dict[str, Callable[[EvalInputs], tuple[dict[str, float], dict[str, Any]]]] = {
    "is": _is, "fid": _fid, "scene_fid": _scene_fid, "ds": _ds, "cas": _cas, "yolo": _yolo, "mask_iou": _mask_iou,
}


def check_names(names: Sequence[str]) -> list[str]:
    """Validate metric names (metrics.names); unknown names raise ValueError listing the known ones."""
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} in metrics.names; choose from {', '.join(METRIC_NAMES)}")
    return list(dict.fromkeys(names))


def run_metrics(names: Sequence[str], inp: EvalInputs) -> tuple[dict[str, float], dict[str, Any], dict[str, str]]:
    """Run each named metric; returns (numbers, protocol per metric, failure reason per metric)."""
    from lama.metrics.weights import WeightsUnavailable

    values: dict[str, float] = {}
    protocol: dict[str, Any] = {}
    failed: dict[str, str] = {}
    names = check_names(names)
    if "is" in names and "fid" in names:  # one pass of Inception over the generated images serves both
        names = ["is+fid" if n == "is" else n for n in names if n != "fid"]
    for name in names:
        log.info("metric %s", name)
        try:
            if name == "is+fid":
                out, proto = _fidelity(inp, isc=True, fid=True)
                protocol["is"] = protocol["fid"] = proto
            else:
                out, proto = RUNNERS[name](inp)
                protocol[name] = proto
            values.update(out)
        except (WeightsUnavailable, MetricSkipped, ValueError, FileNotFoundError) as err:
            for n in name.split("+"):
                failed[n] = str(err)
            log.error("%s skipped: %s", name, err)
    return values, protocol, failed


def markdown_table(values: dict[str, float], failed: dict[str, str]) -> str:
    """The results as a Markdown table (fractions shown as they are; failures with their reason)."""
    rows = ["| metric | value |", "|---|---|"]
    rows += [f"| {k} | {v:.4f} |" for k, v in values.items()]
    rows += [f"| {k} | not computed: {why} |" for k, why in failed.items()]
    return "\n".join(rows)

