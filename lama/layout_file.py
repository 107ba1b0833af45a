"""User layout files (JSON or YAML) -> one Layout.

    image_size: [256, 256]      # optional (W, H): boxes are pixels of this size; omit for fractions
    objects:
      - {class: sky, box: [0, 0, 256, 100]}       # box = [x0, y0, w, h]
      - {class: person, box: [90, 80, 60, 150]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lama.layout import Layout, LayoutError, layout_from_objects


def read_layout_file(path: str | Path, class_names: Sequence[str] | dict[int, str],
                     num_slots: int | None = None) -> Layout:
    """Read a layout file (class names + boxes in pixels with image_size, or fractions) as a (1, O) Layout;
    O = num_slots or the number of objects. Errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"layout file {path} does not exist")
    text = path.read_text()
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise LayoutError(f"layout file {path} cannot be parsed: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list) or not data["objects"]:
        raise LayoutError(f"{path}: expected a mapping with a non-empty 'objects' list")
    objects = []
    for k, obj in enumerate(data["objects"]):
        if not isinstance(obj, dict) or "class" not in obj or "box" not in obj:
            raise LayoutError(f"{path}: objects[{k}] needs 'class' and 'box' ([x0, y0, w, h])")
        box = obj["box"]
        if not isinstance(box, list | tuple) or len(box) != 4 or not all(isinstance(v, int | float) for v in box):
            raise LayoutError(f"{path}: objects[{k}].box must be 4 numbers [x0, y0, w, h], got {box!r}")
        objects.append((str(obj["class"]), box))
    size = data.get("image_size")
    if size is not None:
        if not isinstance(size, list | tuple) or len(size) != 2 or not all(isinstance(v, int | float) and v > 0 for v in size):
            raise LayoutError(f"{path}: image_size must be [width, height] in pixels, got {size!r}")
        size = (float(size[0]), float(size[1]))
    else:
        bad = [k for k, (_, box) in enumerate(objects) if any(abs(v) > 1.5 for v in box)]
        if bad:
            raise LayoutError(f"{path}: objects[{bad[0]}].box looks like pixels; add image_size: [width, height]")
    slots = num_slots or len(objects)
    try:
        return layout_from_objects(objects, class_names, slots, image_size=size)
    except LayoutError as err:
        raise LayoutError(f"{path}: {err}") from None
