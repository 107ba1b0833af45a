"""Synthetic layout dataset, the built-in default for the demo and the tests.

`generate(root, num_train, num_val, resolution, seed)` writes, under `root`:
- a COCO-Stuff tree: `annotations/instances_{train,val}2017.json` (compressed RLE masks, iscrowd 0),
  `annotations/stuff_{train,val}2017.json` (RLE, including 'other' = the union of things, as in
  COCO-Stuff), `train2017/` and `val2017/` PNGs -- `CocoStuff` reads it unchanged;
- the same scenes in raw Visual Genome format under `vg/` (`image_data.json`, `objects.json`,
  `attributes.json`, `relationships.json`, `object_alias.txt`, `relationship_alias.txt`,
  `vg_splits.json` and `VG_100K/` images) -- the VG preprocessing and `VisualGenome` read it.
Category ids follow COCO (things 1..90, stuff 92..182), so num_classes = 184 as for COCO.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from tqdm import tqdm

from lama.datamodules.coco_stuff import CocoFormatDataModule
from lama.datamodules.common import DataError, atomic_directory, staging_directory
from lama.datamodules.datamodule import plain
from lama.datamodules.synthetic_scenes import OTHER, STUFF, THINGS, SceneObject, draw_scene

MARKER = "SYNTHETIC.json"
# Alternative names exercise the VG alias files: an object named "disc" counts as "circle".
OBJECT_ALIASES = {"circle": ["disc", "round"], "square": ["box"], "sky": ["skies"], "sea": ["ocean", "water"]}
RELATION_ALIASES = {"next to": ["beside", "near"], "on top of": ["over"]}
ATTRIBUTE_WORDS = ("bright", "dark", "striped", "shiny", "small", "large")


def is_generated(root: str | Path) -> bool:
    """True when `root` holds a complete synthetic dataset (its marker file is written last)."""
    marker = Path(root) / MARKER
    return marker.is_file() and "replacing" not in json.loads(marker.read_text())


def generated_files(num_train: int, num_val: int) -> set[str]:
    """Every file (relative to root) that generate() writes for these counts, the marker included."""
    files = {MARKER, "vg/vg_splits.json", "vg/object_alias.txt", "vg/relationship_alias.txt"}
    files |= {f"vg/{name}.json" for name in ("image_data", "objects", "attributes", "relationships")}
    for split, ids in (("train", range(1, num_train + 1)), ("val", range(num_train + 1, num_train + num_val + 1))):
        files |= {f"annotations/{part}_{split}2017.json" for part in ("instances", "stuff")}
        files |= {f"{split}2017/{i:012d}.png" for i in ids} | {f"vg/VG_100K/{i}.png" for i in ids}
    return files


def _owned_files(root: Path) -> set[str] | None:
    """What the generator wrote under root according to its marker (both sets while a regeneration
    was interrupted); None when root holds no marker."""
    marker = root / MARKER
    if not marker.is_file():
        return None
    params = json.loads(marker.read_text())
    owned: set[str] = set()
    for counts in [params, *params.get("replacing", [])]:
        owned |= generated_files(counts["num_train"], counts["num_val"])
    return owned


def generate(root: str | Path, num_train: int, num_val: int, resolution: int, seed: int, rotate: bool = True,
             progress: bool = True) -> Path:
    """Write `num_train` + `num_val` scenes of `resolution` px under `root` (COCO + raw VG formats);
    rotate=False draws every shape upright (the same scenes otherwise, see draw_scene).

    A new root is built in a temporary sibling and renamed into place. In an existing root only the
    generator's own files are replaced or removed, never anything else there: files a user added stay,
    and a root whose files would be overwritten but that holds no synthetic dataset is refused."""
    root = Path(root)
    if num_train < 1 or num_val < 1 or resolution < 8:
        raise DataError(f"need num_train >= 1, num_val >= 1, resolution >= 8; got {num_train}, {num_val}, {resolution}")
    if not root.exists() or not any(root.iterdir()):
        with atomic_directory(root) as tmp:
            _write(tmp, num_train, num_val, resolution, seed, rotate, progress)
        return root
    new = generated_files(num_train, num_val)
    owned = _owned_files(root)
    if owned is None:
        clash = sorted(f for f in new if (root / f).exists())
        if clash:
            raise DataError(f"{root} is not a synthetic dataset (no {MARKER}) and holds {root / clash[0]}, which "
                            "generating would overwrite; point data.root at an empty or new directory")  # fmt: skip
        owned = set()
    with staging_directory(root) as tmp:
        _write(tmp, num_train, num_val, resolution, seed, rotate, progress)
        _replace_own_files(tmp, root, owned, new)
    return root


def _replace_own_files(src: Path, root: Path, owned: set[str], new: set[str]) -> None:
    """Move the freshly written files from src into root and delete the old generator files that are not
    written again. The marker says `replacing` meanwhile, so an interruption leaves a root that is not
    'generated' and whose owned files are still known."""
    if (root / MARKER).is_file():
        old = json.loads((root / MARKER).read_text())
        replacing = [old, *old.pop("replacing", [])]  # an interrupted regeneration: its sets still count
        _dump_atomic({**json.loads((src / MARKER).read_text()), "replacing": replacing}, root / MARKER)
    for name in sorted(new - {MARKER}):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(src / name, root / name)
    for name in sorted(owned - new):
        (root / name).unlink(missing_ok=True)
    for folder in sorted({Path(name).parent for name in owned - new}, key=lambda p: -len(p.parts)):
        if folder.parts and (root / folder).is_dir() and not any((root / folder).iterdir()):
            (root / folder).rmdir()  # emptied generator folders only; a user's file keeps its folder
    os.replace(src / MARKER, root / MARKER)


def _dump_atomic(data: object, path: Path) -> None:
    tmp = path.with_name(f"{path.name}.tmp")
    _dump(data, tmp)
    os.replace(tmp, path)


def _write(root: Path, num_train: int, num_val: int, resolution: int, seed: int, rotate: bool, progress: bool) -> None:
    (root / "annotations").mkdir()
    vg_images = root / "vg" / "VG_100K"
    vg_images.mkdir(parents=True)
    categories = _categories()
    vg = {"image_data": [], "objects": [], "attributes": [], "relationships": []}
    splits = {}
    counters = {"ann": 1, "vg_obj": 1, "vg_rel": 1}
    bar = tqdm(total=num_train + num_val, desc="synthetic scenes", unit="scene", disable=not progress)
    first_id = 1
    for split, count in (("train", num_train), ("val", num_val)):
        image_dir = root / f"{split}2017"
        image_dir.mkdir()
        coco = {"instances": _coco_skeleton(categories["things"]), "stuff": _coco_skeleton(categories["stuff"])}
        ids = list(range(first_id, first_id + count))
        for image_id in ids:
            rng = np.random.default_rng([seed, image_id])
            image, objects = draw_scene(rng, resolution, rotate)
            file_name = f"{image_id:012d}.png"
            Image.fromarray(image).save(image_dir / file_name, compress_level=1)
            _link_or_copy(image_dir / file_name, vg_images / f"{image_id}.png")
            record = {"id": image_id, "file_name": file_name, "width": resolution, "height": resolution, "license": 0}
            for part in coco.values():
                part["images"].append(record)
            for obj in objects:
                part = coco["instances"] if obj.category_id in THINGS else coco["stuff"]
                part["annotations"].append(_coco_annotation(obj, image_id, counters))
            _add_vg(vg, rng, image_id, resolution, objects, counters)
            bar.update()
        for name, part in coco.items():
            _dump(part, root / "annotations" / f"{name}_{split}2017.json")
        splits[split] = ids
        first_id += count
    bar.close()
    # VG needs three splits: the validation scenes are halved into val and test.
    val = splits.pop("val")
    half = max(1, len(val) // 2)
    splits["val"], splits["test"] = val[:half], val[half:]
    for name, data in vg.items():
        _dump(data, root / "vg" / f"{name}.json")
    _dump(splits, root / "vg" / "vg_splits.json")
    _write_aliases(root / "vg" / "object_alias.txt", OBJECT_ALIASES)
    _write_aliases(root / "vg" / "relationship_alias.txt", RELATION_ALIASES)
    # Every generator setting goes into the marker: task=prepare compares it with what data.generate asks.
    _dump({"num_train": num_train, "num_val": num_val, "resolution": resolution, "seed": seed, "rotate": rotate},
          root / MARKER)


def _categories() -> dict[str, list[dict]]:
    things = [{"supercategory": "shape", "id": i, "name": n} for i, n in THINGS.items()]
    stuff = [{"supercategory": "stuff", "id": i, "name": n} for i, n in STUFF.items()]
    stuff.append({"supercategory": "other", "id": OTHER[0], "name": OTHER[1]})
    return {"things": things, "stuff": stuff}


def _coco_skeleton(categories: list[dict]) -> dict:
    info = {"description": "lama synthetic layout scenes", "version": "1.0"}
    return {"info": info, "licenses": [], "images": [], "annotations": [], "categories": categories}


def _coco_annotation(obj: SceneObject, image_id: int, counters: dict[str, int]) -> dict:
    rle = mask_utils.encode(np.asfortranarray(obj.mask.astype(np.uint8)))
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    ann = {
        "id": counters["ann"],
        "image_id": image_id,
        "category_id": obj.category_id,
        "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
        "area": float(mask_utils.area(rle)),
        "bbox": [x, y, w, h],
        "iscrowd": 0,
    }
    counters["ann"] += 1
    return ann


def _add_vg(vg: dict, rng: np.random.Generator, image_id: int, res: int, objects: list[SceneObject], counters: dict) -> None:
    """The scene as raw VG records: objects (with alias names), attributes, geometric relationships."""
    url = f"https://synthetic.invalid/VG_100K/{image_id}.png"
    vg["image_data"].append({"width": res, "url": url, "height": res, "image_id": image_id, "coco_id": None, "flickr_id": None})
    records = []
    for obj in objects:
        if obj.category_id == OTHER[0]:
            continue
        ys, xs = np.nonzero(obj.mask)
        name = {**THINGS, **STUFF}[obj.category_id]
        if name in OBJECT_ALIASES and rng.random() < 0.3:
            name = str(rng.choice(OBJECT_ALIASES[name]))
        records.append({
            "synsets": [], "h": int(ys.max() - ys.min() + 1), "object_id": counters["vg_obj"],
            "merged_object_ids": [], "names": [name], "w": int(xs.max() - xs.min() + 1),
            "y": int(ys.min()), "x": int(xs.min()),
        })  # fmt: skip
        counters["vg_obj"] += 1
    vg["objects"].append({"image_id": image_id, "objects": records, "image_url": url})
    attributes = [{**r, "attributes": [str(rng.choice(ATTRIBUTE_WORDS))]} for r in records if rng.random() < 0.5]
    vg["attributes"].append({"image_id": image_id, "attributes": attributes})
    relationships = []
    for a, b in zip(records[:-1], records[1:], strict=False):
        predicate = _predicate(a, b, rng)
        relationships.append({
            "predicate": predicate, "object": _vg_ref(b, "names"), "relationship_id": counters["vg_rel"],
            "synsets": [], "subject": _vg_ref(a, "name"),
        })  # fmt: skip
        counters["vg_rel"] += 1
    vg["relationships"].append({"relationships": relationships, "image_id": image_id})


def _predicate(a: dict, b: dict, rng: np.random.Generator) -> str:
    """A geometric predicate in VG's inconsistent casing (the preprocessing lower-cases it)."""
    dx = (a["x"] + a["w"] / 2) - (b["x"] + b["w"] / 2)
    dy = (a["y"] + a["h"] / 2) - (b["y"] + b["h"] / 2)
    if abs(dx) > abs(dy):
        word = "left of" if dx < 0 else "right of"
    else:
        word = "above" if dy < 0 else "below"
    if rng.random() < 0.2:
        word = str(rng.choice(["beside", "next to", "over"]))
    return word.upper() if rng.random() < 0.3 else word


def _vg_ref(record: dict, name_key: str) -> dict:
    """VG relationship endpoints carry either `name` or `names`; both forms occur in v1.4."""
    ref = {k: record[k] for k in ("object_id", "x", "y", "w", "h", "synsets")}
    ref[name_key] = record["names"][0] if name_key == "name" else list(record["names"])
    return ref


def _write_aliases(path: Path, aliases: dict[str, list[str]]) -> None:
    path.write_text("".join(",".join([k, *v]) + "\n" for k, v in aliases.items()))


def _dump(data: object, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _generate_parameters() -> tuple[dict[str, inspect.Parameter], list[str]]:
    """generate()'s settings that data.generate holds (all but root, resolution and progress), and the
    required ones: a new generator option is a new keyword of generate() and a key of synthetic.yaml."""
    params = dict(inspect.signature(generate).parameters)
    for name in ("root", "resolution", "progress"):
        params.pop(name)
    return params, [n for n, p in params.items() if p.default is inspect.Parameter.empty]


def _defaults(params: dict[str, inspect.Parameter]) -> dict:
    return {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}


class SyntheticDataModule(CocoFormatDataModule):
    """Synthetic scenes (`data=synthetic`) in a COCO-Stuff tree under root: generated when missing
    (prepare_data) with the `generate` settings of the data config (their only source); prepare()
    regenerates them when they were generated with other settings, then writes the image caches."""

    name = "synthetic"

    def __init__(self, *args: object, generate: Mapping | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.generate_settings = plain(generate)

    def wanted(self) -> dict:
        """The generator's settings (data.generate and the resolution) this module asks for."""
        settings = self.generate_settings
        known, required = _generate_parameters()
        unknown = sorted(set(settings) - set(known))
        missing = [k for k in required if k not in settings]
        if unknown or missing:
            raise DataError(f"data.generate takes {', '.join(known)}; "
                            f"unknown: {unknown or 'none'}, missing: {missing or 'none'}")  # fmt: skip
        return {**_defaults(known), **settings, "resolution": self.resolution}

    def held(self) -> dict | None:
        """The settings the scenes under root were generated with (None when root holds none); a marker
        written before a generator option existed holds that option's default."""
        if not is_generated(self.root):
            return None
        return {**_defaults(_generate_parameters()[0]), **json.loads((self.root / MARKER).read_text())}

    def prepare_data(self) -> None:
        """Generate the scenes when root holds none, or holds them with other settings (once per node);
        quiet when they are already there."""
        if self.held() != self.wanted():
            self.prepare_files()

    def prepare_files(self) -> dict:
        """Generate the scenes unless root already holds them with these settings."""
        have, wanted = self.held(), self.wanted()
        if have == wanted:
            print(f"synthetic dataset already at {self.root} ({have})")
            return {"root": str(self.root), **have}
        if have is not None:
            print(f"regenerating {self.root}: it holds {have}, asked for {wanted}")
        generate(self.root, **wanted)
        print(f"wrote synthetic dataset to {self.root}")
        return {"root": str(self.root), **wanted}
