"""The served generator: request checking (errors name the field) and one generation at a time."""

from __future__ import annotations

import base64
import io
import math
import threading
from collections.abc import Sequence
from typing import Any

import torch

from lama.layout import PAD_LABEL, Layout, draw_layout, layout_from_objects, name_to_label
from lama.sampling import sample_layouts
from lama.sampling.images import color_masks, write_image

# The overlay is drawn at least this large, as task=sample does, so class names stay legible.
OVERLAY_SIZE = 256


class RequestError(ValueError):
    """A bad API request; the message names the field (answered as HTTP 422)."""


def png_data_url(image: torch.Tensor) -> str:
    """(3, H, W) uint8 or float in [-1, 1] -> 'data:image/png;base64,...'."""
    buffer = io.BytesIO()
    write_image(buffer, image)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class ServedModel:
    """A generator in eval mode with its class names and object-slot count; `generate` is thread-safe."""

    def __init__(self, generator: torch.nn.Module, record: dict[str, Any], class_names: Sequence[str],
                 max_objects: int, checkpoint: str = "") -> None:
        self.generator, self.record = generator, record
        self.class_names = list(class_names)
        self.max_objects = int(max_objects)
        self.checkpoint = checkpoint
        hp = record["hparams"]
        self.resolution, self.num_classes = int(hp["resolution"]), int(hp["num_classes"])
        # Label 0 is padding; names of labels the generator has no embedding for cannot be drawn.
        self.labels = {n: i for n, i in name_to_label(self.class_names).items()
                       if i != PAD_LABEL and i < self.num_classes}
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """What GET /api/info answers: model, resolution, class names, slot count."""
        hp = self.record["hparams"]
        arch = str(hp.get("arch") or self.record.get("arch") or "lama")
        name = {"lama": "LAMA" if hp.get("lama", True) else "LAMA off", "lostgan_v2": "LostGAN-V2"}.get(arch, arch)
        return {"model": name, "checkpoint": self.checkpoint, "hparams": hp, "resolution": self.resolution,
                "class_names": sorted(self.labels, key=self.labels.get), "slots": self.max_objects}

    def parse(self, body: object) -> tuple[Layout, int, float | None]:
        """A POST /api/generate body -> (layout, seed, truncation); RequestError names the bad field."""
        if not isinstance(body, dict):
            raise RequestError(f"body: expected a JSON object, got {type(body).__name__}")
        objects = body.get("objects")
        if not isinstance(objects, list) or not objects:
            raise RequestError("objects: expected a non-empty list of {\"class\": NAME, \"box\": [x0, y0, w, h]}")
        if len(objects) > self.max_objects:
            raise RequestError(f"objects: {len(objects)} objects, but the model has {self.max_objects} object slots")
        pairs = []
        for k, obj in enumerate(objects):
            where = f"objects[{k}]"
            if not isinstance(obj, dict) or "class" not in obj or "box" not in obj:
                raise RequestError(f"{where}: needs 'class' and 'box' ([x0, y0, w, h] fractions)")
            if obj["class"] not in self.labels:
                raise RequestError(f"{where}.class: unknown class {obj['class']!r} (GET /api/info lists the names)")
            box = obj["box"]
            if not isinstance(box, list) or len(box) != 4 or not all(_number(v) for v in box):
                raise RequestError(f"{where}.box: expected 4 finite numbers [x0, y0, w, h], got {box!r}")
            x0, y0, w, h = (float(v) for v in box)
            eps = 1e-6
            if w <= 0 or h <= 0 or x0 < -eps or y0 < -eps or x0 + w > 1 + eps or y0 + h > 1 + eps:
                raise RequestError(f"{where}.box: {box} must lie in [0, 1] (fractions of the image) with w, h > 0")
            pairs.append((obj["class"], [x0, y0, w, h]))
        seed = body.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise RequestError(f"seed: expected an integer in [0, 2^63), got {seed!r}")
        truncation = body.get("truncation", None)
        if truncation is not None and not (_number(truncation) and truncation >= 0):
            raise RequestError(f"truncation: expected null or a number >= 0, got {truncation!r}")
        layout = layout_from_objects(pairs, self.class_names, len(pairs))
        return layout, seed, truncation

    def generate(self, layout: Layout, seed: int, truncation: float | None) -> dict[str, str]:
        """One sample as PNG data URLs: image, masks (adapted), raw_masks, overlay; the same image as
        `task=sample layout=FILE seed=SEED metrics.truncation=T` gives for repeat 0."""
        with self._lock:  # one generation at a time: requests queue instead of competing for the cores
            batch = next(sample_layouts(self.generator, [0], layout.labels, layout.boxes, repeats=1,
                                        truncation=truncation, seed=seed, batch_size=1, return_masks=True))
        image, labels, boxes = batch.images[0], layout.labels[0], layout.boxes[0]
        return {"image": png_data_url(image), "masks": png_data_url(color_masks(batch.masks[0], labels)),
                "raw_masks": png_data_url(color_masks(batch.raw_masks[0], labels)),
                "overlay": png_data_url(draw_layout(image, labels, boxes, self.class_names, min_size=OVERLAY_SIZE))}

    def objects_of(self, layout: Layout) -> list[dict[str, Any]]:
        """A (1, O) layout as the API's objects list (padding left out), for the page to edit."""
        names = {i: n for n, i in self.labels.items()}
        return [{"class": names[int(lab)], "box": [round(float(v), 6) for v in box]}
                for lab, box in zip(layout.labels[0], layout.boxes[0]) if int(lab) in names]
