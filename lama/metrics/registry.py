"""The metrics registry: every metric with its name, result keys, needs and runner, the one place that
metrics.names, the README's metric table and results.json are made from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lama.metrics import runners
from lama.metrics.inputs import EvalInputs
from lama.metrics.mask_iou import MaskIoU


@dataclass(frozen=True)
class Metric:
    """One metric: `keys` it may report in results.json, what it needs (pretrained `weights` by name,
    the generator's `masks`, at least `min_repeats` samples per layout, one of `datasets`), its runner,
    and `how`, the README's one-line protocol."""

    name: str
    keys: tuple[str, ...]
    runner: Callable[[EvalInputs], runners.Result]
    how: str
    weights: str | None = None
    masks: bool = False
    min_repeats: int = 1
    datasets: tuple[str, ...] | None = None

    def missing_input(self, inp: EvalInputs) -> tuple[str, str] | None:
        """(full reason, short reason) when `inp` lacks what this metric needs, else None."""
        if self.datasets is not None and inp.dataset not in self.datasets:
            return (f"{self.name} needs {' or '.join(self.datasets)} layouts, not data {inp.dataset}",
                    f"needs {' or '.join(self.datasets)} data")
        if inp.repeats < self.min_repeats:
            return (f"{self.name} needs {self.min_repeats} samples per layout, the samples have {inp.repeats}: "
                    f"set metrics.repeats >= {self.min_repeats}", f"needs metrics.repeats >= {self.min_repeats}")
        if self.masks and any(r.masks is None for r in inp.records):
            return (f"{self.name} needs the generator's masks: sample with metrics.save_masks=true",
                    "needs sampled masks (metrics.save_masks=true)")
        return None

    def weights_reason(self) -> str:
        """The table's reason when the weights are missing."""
        return f"needs {self.weights} weights: see Offline weights"


METRICS: tuple[Metric, ...] = (
    Metric("is", ("is_mean", "is_std"), runners.inception_score, weights="Inception",
           how="torch-fidelity `inception-v3-compat` (the TF 2015-12-05 Inception graph), "
               "`metrics.is_splits` splits (10; the authors' script: 5) over the measured images"),
    Metric("fid", ("fid",), runners.fid, weights="Inception",
           how="as IS; real = the validation images of the sampled layouts at the model's resolution, statistics "
               "cached in `.cache/fidelity` under a name holding dataset, split, resolution, image count, resize "
               "and weights"),
    Metric("scene_fid", ("scene_fid",), runners.scene_fid, weights="Inception",
           how="every non-padding box cropped from real and generated images, 224 x 224 bicubic, FID between the "
               "crop sets"),
    Metric("ds", ("ds_mean", "ds_std"), runners.diversity, weights="AlexNet (LPIPS)", min_repeats=2,
           how="LPIPS (torchmetrics, AlexNet, linear layers v0.1) between repeats 0 and 1 of each layout"),
    Metric("cas", ("cas",), runners.classification_accuracy,
           how="torchvision ResNet-18 with a CIFAR stem trained from scratch on 32 px crops of the generated "
               "objects, tested on the same crops of the real images; accuracy (fraction) after the last of "
               "`metrics.cas.epochs` (30) epochs"),
    Metric("yolo", ("yolo_ap", "yolo_ap50", "yolo_ap75"), runners.yolo_score, weights="detector",
           datasets=("coco_stuff",),
           how="torchvision `fasterrcnn_resnet50_fpn_v2` (COCO) on repeat 0 of each layout, or "
               "`metrics.detection.detections_file=dets.json`; detections under `metrics.detection.score_threshold` "
               "(0.25) dropped; pycocotools COCOeval (fractions) against every `instances_val2017.json` object of "
               "those images at their original size (`metrics.detection.ground_truth=full`) or the layout's thing "
               "boxes (`layout`)"),
    Metric("mask_iou", tuple(MaskIoU.KEYS), runners.mask_iou, masks=True,
           how="data with instance masks (the synthetic scenes): IoU with the true visible masks of the adapted "
               "masks, the raw ones (`_raw`) and the filled boxes (`_box`, the floor), each binarised by ownership "
               "(an object owns the pixels where its mask is the largest); mean over objects, all / `_things` / "
               "`_stuff`, over the image and inside pixels covered by two or more thing boxes (`_overlap`)"),
)
BY_NAME = {m.name: m for m in METRICS}
NAMES = tuple(BY_NAME)
ALL = "all"


def select(names: str | Sequence[str]) -> list[Metric]:
    """The metrics of metrics.names: `all` or a list of names; unknown names raise ValueError listing the known."""
    if isinstance(names, str):
        names = list(NAMES) if names == ALL else [names]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} in metrics.names; choose from {', '.join(NAMES)} (or all)")
    return [BY_NAME[n] for n in dict.fromkeys(names)]


def reference_table() -> str:
    """The README's metric table (Markdown): name, result keys, needs, how."""
    rows = ["| name | keys in results.json | needs | how |", "|---|---|---|---|"]
    for m in METRICS:
        needs = ([f"{m.weights} weights"] if m.weights else []) + (["sampled masks"] if m.masks else [])
        needs += ([f"repeats >= {m.min_repeats}"] if m.min_repeats > 1 else [])
        needs += ([f"{' or '.join(m.datasets)} data"] if m.datasets else [])
        keys = ", ".join(f"`{k}`" for k in m.keys)
        rows.append(f"| `{m.name}` | {keys} | {', '.join(needs) or '-'} | {m.how} |")
    return "\n".join(rows)
