"""User layout files (JSON or YAML) -> one Layout.

    image_size: [256, 256]      # optional (W, H): boxes are pixels of this size; omit for fractions
    objects:
      - {class: sky, box: [0, 0, 256, 100]}       # box = [x0, y0, w, h]
      - {class: person, box: [90, 80, 60, 150]}

Every problem is one LayoutError naming the file, the object (`objects[k]`) and the field."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lama.layout import Layout, LayoutError, layout_from_objects, name_to_label

log = logging.getLogger(__name__)

# A box may stick out of the image, but every coordinate stays within one image size of it
# (fractions in [-1, 2]); far larger finite values overflow the mask pasting into NaN images.
BOX_RANGE = (-1.0, 2.0)
MAX_FILE_BYTES = 10_000_000


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats: `5e-1` and `1e3` are numbers (PyYAML's YAML 1.1
    rules read them as strings); quoted "5e-1" stays a string."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _parse(path: Path) -> Any:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise LayoutError(f"layout file {path} is larger than {MAX_FILE_BYTES // 1_000_000} MB: not a layout")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise LayoutError(f"layout file {path} is not UTF-8 text (byte {err.start}): save it as UTF-8") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, Loader=_Yaml12Loader)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        reason = " ".join(str(err).split())
        raise LayoutError(f"layout file {path} cannot be parsed: {reason}") from None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_box(where: str, box: object, size: tuple[float, float] | None) -> list[float]:
    """The box of one object as (x0, y0, w, h) fractions, or a LayoutError naming `where`."""
    if not isinstance(box, list | tuple) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise LayoutError(f"{where}.box must be 4 numbers [x0, y0, w, h], got {box!r}")
    if not all(math.isfinite(v) for v in box):
        raise LayoutError(f"{where}.box has a non-finite value: {list(box)}")
    if size is None and any(abs(v) > 1.5 for v in box):
        raise LayoutError(f"{where}.box looks like pixels; add image_size: [width, height] (got {list(box)})")
    x0, y0, w, h = (float(v) / (size[i % 2] if size else 1.0) for i, v in enumerate(box))
    if w <= 0 or h <= 0:
        raise LayoutError(f"{where}.box {list(box)} needs a width and height > 0")
    low, high = BOX_RANGE
    if not all(low <= v <= high for v in (x0, y0, x0 + w, y0 + h)):
        raise LayoutError(f"{where}.box {list(box)} reaches more than one image size outside the image")
    if x0 >= 1 or y0 >= 1 or x0 + w <= 0 or y0 + h <= 0:
        raise LayoutError(f"{where}.box {list(box)} lies entirely outside the image")
    return [x0, y0, w, h]


def _check_size(path: Path, size: object) -> tuple[float, float] | None:
    if size is None:
        return None
    ok = isinstance(size, list | tuple) and len(size) == 2 and all(_is_number(v) for v in size)
    if not ok or not all(math.isfinite(v) and 0 < v <= 100_000 for v in size):
        raise LayoutError(f"{path}: image_size must be [width, height] in pixels (1..100000), got {size!r}")
    return float(size[0]), float(size[1])


def read_layout_file(
    path: str | Path,
    class_names: Sequence[str] | dict[int, str],
    num_slots: int | None = None,
    *,
    max_objects: int | None = None,
    drop_extra: bool = False,
    num_classes: int | None = None,
) -> Layout:
    """Read a layout file (class names + boxes in pixels with image_size, or fractions) as a (1, O) Layout;
    O = num_slots or the number of objects. More than `max_objects` objects (the model's slot count) are
    refused, or with `drop_extra` the first max_objects are kept with a warning; `num_classes` (the model's)
    refuses class names whose label it has no embedding for. Errors name the file, object and field."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"layout file {path} does not exist")
    data = _parse(path)
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list) or not data["objects"]:
        raise LayoutError(f"{path}: expected a mapping with a non-empty 'objects' list")
    entries = data["objects"]
    if max_objects is not None and len(entries) > max_objects:
        if not drop_extra:
            raise LayoutError(f"{path}: {len(entries)} objects, but the model has {max_objects} object slots: "
                              "remove some, or add layout_drop_extra=true to keep the first ones")
        log.warning("%s: %d objects; keeping the first %d (the model's slot count)", path, len(entries), max_objects)
        entries = entries[:max_objects]
    size = _check_size(path, data.get("image_size"))
    by_name = name_to_label(class_names)
    objects = []
    for k, obj in enumerate(entries):
        where = f"{path}: objects[{k}]"
        if not isinstance(obj, dict) or "class" not in obj or "box" not in obj:
            raise LayoutError(f"{where} needs 'class' and 'box' ([x0, y0, w, h])")
        name = str(obj["class"])
        label = by_name.get(name)
        if label is not None and num_classes is not None and label >= num_classes:
            raise LayoutError(f"{where}.class {name!r} is label {label}, but the model knows only {num_classes} "
                              "classes: this checkpoint was trained on other data")
        objects.append((name, _check_box(where, obj["box"], size)))
    slots = num_slots or len(objects)
    try:
        return layout_from_objects(objects, class_names, slots)
    except LayoutError as err:
        raise LayoutError(f"{path}: {err}") from None

