"""COCO-Stuff 2017 layouts with the LostGAN/LAMA filter (PROTOCOL.md): instance objects, then
stuff objects, each in file order; an object is kept when its annotation box covers > 2% of the
image, it is not `other` (183) and not a crowd; only images with stuff annotations; 3..8 objects."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from lama.datamodules.base import LayoutDataset
from lama.datamodules.common import (
    DataError,
    check_box,
    check_size,
    load_image,
    load_json,
    require_fields,
    require_path,
    resize_masks,
)
from lama.datamodules.datamodule import LayoutDataModule, plain
from lama.datamodules.download import fetch_archives
from lama.layout import pad_objects

NUM_CLASSES = 184  # COCO category ids 1..182 plus 183 'other'; 0 is padding
OTHER_ID = 183
SPLITS = ("train", "val")
PREPARE_CMD = "python run.py task=prepare data=coco_stuff"
# The deprecated 2017 stuff-challenge annotations (~40k train / 5k val images) are not distributed
# any more; users who have them put them here and set stuff_challenge=true.
CHALLENGE_DIR = "stuff_challenge"
CACHE_VERSION = 1


def annotation_paths(root: Path, split: str, stuff_challenge: bool = False) -> tuple[Path, Path]:
    """(instances json, stuff json) paths of a split under a COCO root."""
    ann = Path(root) / "annotations"
    stuff_dir = ann / CHALLENGE_DIR if stuff_challenge else ann
    return ann / f"instances_{split}2017.json", stuff_dir / f"stuff_{split}2017.json"


class CocoStuff(LayoutDataset):
    """COCO-Stuff 2017 layouts: items with image (3,R,R) in [-1,1], labels (8,), boxes (8,4) as
    fractions of the image's own size, image_id, and masks (8,R,R) when `return_masks`.

    `image_ids` are the kept ids in the instances file's image order; `class_names[label]` is the
    category name ('' for unused ids). `flip=True` doubles the length (second half mirrored).
    `stuff_challenge=True` reads the deprecated 2017 stuff-challenge annotations from
    `annotations/stuff_challenge/stuff_{split}2017.json` instead of the full COCO-Stuff 2017 ones.
    `image_cache` (a directory written by lama.datamodules.cache, see `task=prepare`) serves the
    resized uint8 images instead of decoding them, pixel for pixel the same.
    `layout_cache_dir` keeps the filtered layouts there (`layouts_*.json`, keyed by the filter and the
    source files' path, size and mtime), so later runs skip parsing the large JSON files; never the data.
    `prepare_cmd` is the command named in missing-file hints.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        resolution: int,
        flip: bool = False,
        return_masks: bool = False,
        stuff_challenge: bool = False,
        max_objects: int = 8,
        min_objects: int = 3,
        min_object_area: float = 0.02,
        include_other: bool = False,
        max_bad_images: int = 100,
        jpeg_draft: bool = False,
        layout_cache_dir: str | Path | None = None,
        image_cache: str | Path | None = None,
        prepare_cmd: str = PREPARE_CMD,
    ) -> None:
        super().__init__(resolution, flip, return_masks, max_bad_images)
        if split not in SPLITS:
            raise DataError(f"unknown COCO-Stuff split {split!r}; choose one of {', '.join(SPLITS)}")
        self.prepare_cmd = prepare_cmd
        self.root = require_path(Path(root), prepare_cmd, "COCO-Stuff root directory")
        self.split = split
        self.num_slots = int(max_objects)
        self.jpeg_draft = bool(jpeg_draft)
        instances_path, stuff_path = annotation_paths(self.root, split, stuff_challenge)
        if stuff_challenge and not stuff_path.exists():
            raise DataError(
                f"stuff_challenge=true needs the deprecated 2017 stuff-challenge annotations at {stuff_path} "
                "(stuff_{train,val}2017.json of the 2017 COCO Stuff Segmentation Challenge, ~40k/5k images); "
                "they are not downloadable from the COCO site any more"
            )
        self.image_dir = require_path(self.root / f"{split}2017", prepare_cmd, "image directory")
        rules = {"min_objects": int(min_objects), "max_objects": int(max_objects),
                 "min_object_area": float(min_object_area), "include_other": bool(include_other)}  # fmt: skip
        parsed = None
        use_cache = layout_cache_dir is not None and not return_masks
        cache_path = _cache_path(instances_path, stuff_path, rules, Path(layout_cache_dir)) if use_cache else None
        if cache_path is not None:
            parsed = _read_cache(cache_path)
        self.from_cache = parsed is not None
        if parsed is None:
            parsed = _parse(instances_path, stuff_path, rules, keep_masks=return_masks, prepare_cmd=prepare_cmd)
            if cache_path is not None:
                _write_cache(cache_path, parsed)
        self.class_names, self._images, self._objects = parsed
        self.image_ids = list(self._images)
        self.num_images = len(self.image_ids)
        if self.num_images == 0:
            raise DataError(f"no image of {instances_path} passes the layout filter ({min_objects}..{max_objects} objects)")
        self.use_image_cache(image_cache)

    def image_id(self, i: int) -> int:
        return int(self.image_ids[i])

    def image_name(self, i: int) -> str:
        return str(self._images[self.image_ids[i]]["file_name"])

    def read_image(self, i: int) -> np.ndarray:
        image, _ = load_image(self.image_path(i), self.resolution, draft=self.jpeg_draft)
        return image

    def layout(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        record = self._images[self.image_ids[i]]
        width, height = float(record["width"]), float(record["height"])
        anns = self._objects[self.image_ids[i]]
        labels = [int(a["category_id"]) for a in anns]
        boxes = [[x / width, y / height, w / width, h / height] for x, y, w, h in (a["bbox"] for a in anns)]
        return pad_objects(labels, boxes, self.num_slots)

    def masks(self, i: int) -> np.ndarray:
        record = self._images[self.image_ids[i]]
        height, width = int(record["height"]), int(record["width"])
        anns = self._objects[self.image_ids[i]]
        decoded = np.stack([_decode(a, height, width, self._where(a)) for a in anns])
        out = np.zeros((self.num_slots, self.resolution, self.resolution), np.float32)
        out[: len(anns)] = resize_masks(decoded, self.resolution)
        return out

    def _where(self, ann: Mapping) -> str:
        return f"{self.split} annotation id {ann.get('id')} (image {ann['image_id']})"


Parsed = tuple[list[str], dict[int, Mapping], dict[int, list[Mapping]]]


def _parse(instances_path: Path, stuff_path: Path, rules: dict, keep_masks: bool, prepare_cmd: str) -> Parsed:
    """(class names, kept image records in instances-file order, their kept objects in order)."""
    instances = _load_coco(instances_path, prepare_cmd)
    stuff = _load_coco(stuff_path, prepare_cmd)
    images = _image_records(instances, instances_path)
    class_names = [""] * NUM_CLASSES
    for data, path in ((instances, instances_path), (stuff, stuff_path)):
        for k, cat in enumerate(data["categories"]):
            require_fields(cat, ("id", "name"), f"{path}: categories[{k}]")
            _check_category(cat["id"], f"{path}: categories[{k}]")
            class_names[cat["id"]] = cat["name"]

    objects: dict[int, list[Mapping]] = {image_id: [] for image_id in images}
    with_stuff: set[int] = set()
    for data, path, is_stuff in ((instances, instances_path, False), (stuff, stuff_path, True)):
        for k, ann in enumerate(data["annotations"]):
            where = f"{path}: annotations[{k}]"
            require_fields(ann, ("image_id", "category_id", "bbox"), where)
            image_id = ann["image_id"]
            if image_id not in images:
                raise DataError(f"{where} (id {ann.get('id')}) refers to image {image_id}, not in {instances_path}")
            if is_stuff:
                with_stuff.add(image_id)
            if _keep(ann, images[image_id], rules["min_object_area"], rules["include_other"], where):
                objects[image_id].append(ann if keep_masks else _slim(ann))
    kept = [
        i for i in images if i in with_stuff and rules["min_objects"] <= len(objects[i]) <= rules["max_objects"]
    ]
    slim_images = {i: {k: images[i][k] for k in ("id", "file_name", "width", "height")} for i in kept}
    return class_names, slim_images, {i: objects[i] for i in kept}


def _cache_path(instances_path: Path, stuff_path: Path, rules: dict, cache_dir: Path) -> Path | None:
    """Cache file in cache_dir named by a hash of the filter and of the sources' path, size and mtime."""
    try:
        sources = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in (instances_path, stuff_path)]
    except OSError:
        return None  # a missing file is reported by _parse with the prepare command
    key = hashlib.sha1(json.dumps([CACHE_VERSION, rules, sources], sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"layouts_{instances_path.stem}_{key}.json"


def _read_cache(path: Path) -> Parsed | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        images = {int(r["id"]): r for r in data["images"]}
        objects = {int(r["id"]): [{"image_id": int(r["id"]), "category_id": c, "bbox": b} for c, b in r["objects"]]
                   for r in data["images"]}  # fmt: skip
        return data["class_names"], images, objects
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unusable: parse the sources again


def _write_cache(path: Path, parsed: Parsed) -> None:
    class_names, images, objects = parsed
    records = [{**images[i], "objects": [[a["category_id"], a["bbox"]] for a in objects[i]]} for i in images]
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"class_names": class_names, "images": records}, f)
        os.replace(tmp, path)  # atomic: DDP ranks may write at the same time
    except OSError:
        tmp.unlink(missing_ok=True)  # read-only cache directory: run without a layout cache


def _load_coco(path: Path, prepare_cmd: str) -> dict:
    data = load_json(path, prepare_cmd)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a COCO JSON object, got {type(data).__name__}")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise DataError(f"{path} lacks the top-level key(s) {', '.join(map(repr, missing))}")
    return data


def _image_records(data: dict, path: Path) -> dict[int, Mapping]:
    images: dict[int, Mapping] = {}
    for k, record in enumerate(data["images"]):
        require_fields(record, ("id", "file_name", "width", "height"), f"{path}: images[{k}]")
        check_size(record["width"], record["height"], f"{path}: images[{k}] (id {record['id']})")
        images[record["id"]] = record
    return images


def _check_category(category_id: object, where: str) -> None:
    if not isinstance(category_id, int) or not 1 <= category_id < NUM_CLASSES:
        raise DataError(f"{where}: category id {category_id!r} outside 1..{NUM_CLASSES - 1}")


def _keep(ann: Mapping, image: Mapping, min_area: float, include_other: bool, where: str) -> bool:
    """The paper's object filter, on the annotation's own box (not its mask area)."""
    bbox = ann["bbox"]
    check_box(bbox, f"{where} (id {ann.get('id')})")
    _check_category(ann["category_id"], f"{where} (id {ann.get('id')})")
    box_area = bbox[2] * bbox[3] / (image["width"] * image["height"])
    other_ok = include_other or ann["category_id"] != OTHER_ID
    return box_area > min_area and other_ok and ann.get("iscrowd", 0) != 1


def _slim(ann: Mapping) -> dict:
    """Drop the segmentation of annotations kept for layouts only (saves memory on full COCO)."""
    return {"image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": ann["bbox"], "id": ann.get("id")}


def _decode(ann: Mapping, height: int, width: int, where: str) -> np.ndarray:
    """Polygon, uncompressed RLE or compressed RLE -> (H, W) uint8 {0,1} mask (pycocotools)."""
    segm = ann.get("segmentation")
    if segm is None:
        raise DataError(f"{where} has no 'segmentation' (needed for return_masks=True)")
    if isinstance(segm, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
    elif isinstance(segm, dict) and isinstance(segm.get("counts"), list):
        rle = mask_utils.frPyObjects(segm, height, width)
    elif isinstance(segm, dict) and "counts" in segm:
        rle = dict(segm)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    else:
        raise DataError(f"{where}: unsupported segmentation {type(segm).__name__}")
    return mask_utils.decode(rle)


class CocoFormatDataModule(LayoutDataModule):
    """Data module of a COCO-Stuff tree under root (annotations/, train2017/, val2017/): CocoStuff datasets
    with their layout cache under cache_dir."""

    def build_dataset(self, split: str, flip: bool) -> CocoStuff:
        kwargs = dict(self.dataset_kwargs)
        layout_cache = self.root_cache_dir("layouts") if kwargs.pop("cache", True) else None
        return CocoStuff(self.root, split, self.resolution, flip=flip, return_masks=self.return_masks,
                         layout_cache_dir=layout_cache, prepare_cmd=self.prepare_cmd, **kwargs)  # fmt: skip


class CocoStuffDataModule(CocoFormatDataModule):
    """COCO-Stuff 2017 (`data=coco_stuff`): prepare() downloads and extracts the official archives
    (`download`), checks the annotation files and builds the validation layouts, then the image caches."""

    name = "coco_stuff"

    def __init__(self, *args: object, download: Mapping | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.download = plain(download)

    def prepare_files(self) -> dict:
        """Fetch the archives into root, check every annotation file, count the validation layouts."""
        fetch_archives(self.download, self.root)
        stuff_challenge = bool(self.dataset_kwargs.get("stuff_challenge", False))
        for split in SPLITS:
            for path in annotation_paths(self.root, split, stuff_challenge):
                if not path.exists():
                    raise DataError(f"{path} is missing after extraction; check the archives under data.download.dir")
        # Building the validation layouts checks the files end to end; the paper's filter keeps 3097.
        val = self.build_dataset("val", flip=False)
        print(f"COCO-Stuff val2017: {len(val.image_ids)} layouts pass the filter (the papers' full split: 3097)")
        return {"root": str(self.root), "val_layouts": len(val.image_ids)}
