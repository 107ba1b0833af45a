"""Visual Genome preprocessing as sg2im does it (used by LostGAN and LAMA): raw VG JSON ->
one HDF5 file per split + vocab.json (PROTOCOL.md). Steps, in sg2im's order:

1. drop images smaller than `min_image_size` px on a side;
2. alias object names, object vocabulary = '__image__' + names with >= `min_object_instances`
   training instances (most common first);
3. attribute vocabulary: >= `min_attribute_instances` training instances;
4. keep objects whose (aliased) name is in the vocabulary and whose box is >= `min_object_size` px
   on both sides;
5. predicate vocabulary = '__in_image__' + lower-cased, aliased predicates between kept objects
   with >= `min_relationship_instances` training instances;
6. per split keep images with `min..max_objects_per_image` objects and
   `min..max_relationships_per_image` relationships.

Two sg2im behaviours are kept on purpose, because they decide which images survive: predicates
are lower-cased/aliased only while counting the training split, so a val/test relationship whose
raw predicate is not literally in the vocabulary (e.g. 'ON') is dropped; and split ids missing from
image_data.json are an error on the full dataset. One is made deterministic: names that tie in
count keep first-seen order (sg2im's order depended on Python's string hash seed).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from lama.datamodules.common import DataError, check_box, check_size, load_json, require_fields, require_path

PREPARE_CMD = "python run.py task=prepare data=vg"
RAW_FILES = ("image_data.json", "objects.json", "attributes.json", "relationships.json",
             "object_alias.txt", "relationship_alias.txt")  # fmt: skip
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class VGPrepConfig:
    """sg2im's preprocessing thresholds (the defaults reproduce the 179-entry object vocabulary)."""

    min_image_size: int = 200
    min_object_instances: int = 2000
    min_attribute_instances: int = 2000
    min_object_size: int = 32
    min_objects_per_image: int = 3
    max_objects_per_image: int = 30
    max_attributes_per_image: int = 30
    min_relationship_instances: int = 500
    min_relationships_per_image: int = 1
    max_relationships_per_image: int = 30
    expected_num_objects: int | None = 179
    # Split ids absent from image_data.json: error (full dataset) or skip (small subsets).
    allow_missing_images: bool = False


def packaged_splits() -> Path:
    """Path of the sg2im/LostGAN/LAMA split file shipped with the package."""
    return Path(str(resources.files("lama") / "data" / "vg_splits.json"))


def load_aliases(path: Path) -> dict[str, str]:
    """VG alias file: each line 'canonical,alias,alias...' -> {name: canonical} (names stripped)."""
    aliases: dict[str, str] = {}
    with open(require_path(path, PREPARE_CMD), encoding="utf-8") as f:
        for line in f:
            names = [s.strip() for s in line.split(",")]
            for name in names:
                aliases[name] = names[0]
    return aliases


def preprocess(
    vg_dir: str | Path,
    out_dir: str | Path | None = None,
    splits_json: str | Path | None = None,
    config: VGPrepConfig | None = None,
    progress: bool = True,
) -> dict:
    """Raw VG JSON in `vg_dir` -> `{train,val,test}.h5` and `vocab.json` in `out_dir` (default
    `vg_dir`); returns a summary (vocabulary sizes, images kept per split)."""
    cfg = config or VGPrepConfig()
    vg_dir = require_path(Path(vg_dir), PREPARE_CMD, "Visual Genome directory")
    out_dir = Path(out_dir or vg_dir)
    for name in RAW_FILES:
        require_path(vg_dir / name, PREPARE_CMD)
    splits_path = Path(splits_json) if splits_json else packaged_splits()
    splits = _load_splits(splits_path)

    say = print if progress else (lambda *a: None)
    say(f"Loading {vg_dir / 'image_data.json'}")
    images = _by_image_id(load_json(vg_dir / "image_data.json", PREPARE_CMD), "image_data.json", ("width", "height", "url"))
    for image_id, record in images.items():
        check_size(record["width"], record["height"], f"image_data.json: image {image_id}")
    splits = _drop_missing(splits, images, cfg.allow_missing_images, splits_path)
    splits = _drop_small(splits, images, cfg.min_image_size, say)
    obj_aliases = load_aliases(vg_dir / "object_alias.txt")
    rel_aliases = load_aliases(vg_dir / "relationship_alias.txt")

    say(f"Loading {vg_dir / 'objects.json'}")
    objects = _by_image_id(load_json(vg_dir / "objects.json", PREPARE_CMD), "objects.json", ("objects",))
    train_ids = set(splits["train"])
    vocab: dict[str, object] = {}
    object_names = object_vocabulary(objects, train_ids, obj_aliases, cfg.min_object_instances)
    vocab["object_name_to_idx"] = {n: i for i, n in enumerate(object_names)}
    vocab["object_idx_to_name"] = object_names
    say(f"Found {len(object_names)} object categories with >= {cfg.min_object_instances} training instances")
    if cfg.expected_num_objects is not None and len(object_names) != cfg.expected_num_objects:
        raise DataError(
            f"object vocabulary has {len(object_names)} entries, the released checkpoints expect "
            f"{cfg.expected_num_objects}: check the VG files (v1.4 objects.json) and the thresholds"
        )

    say(f"Loading {vg_dir / 'attributes.json'}")
    attributes = _by_image_id(load_json(vg_dir / "attributes.json", PREPARE_CMD), "attributes.json", ("attributes",))
    attribute_names = attribute_vocabulary(attributes, train_ids, cfg.min_attribute_instances)
    vocab["attribute_name_to_idx"] = {n: i for i, n in enumerate(attribute_names)}
    vocab["attribute_idx_to_name"] = attribute_names

    all_ids = set().union(*map(set, splits.values()))
    kept_objects = filter_objects(objects, all_ids, obj_aliases, vocab["object_name_to_idx"], cfg.min_object_size)
    say(f"After filtering there are {len(kept_objects)} object instances")

    say(f"Loading {vg_dir / 'relationships.json'}")
    relationships = _by_image_id(
        load_json(vg_dir / "relationships.json", PREPARE_CMD), "relationships.json", ("relationships",)
    )
    predicates = predicate_vocabulary(relationships, train_ids, kept_objects, rel_aliases, cfg.min_relationship_instances)
    vocab["pred_name_to_idx"] = {n: i for i, n in enumerate(predicates)}
    vocab["pred_idx_to_name"] = predicates

    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {"num_objects": len(object_names), "num_predicates": len(predicates),
               "num_attributes": len(attribute_names), "images": {}}  # fmt: skip
    for split in SPLIT_NAMES:
        arrays, skipped = encode_split(
            splits.get(split, []), objects, relationships, attributes, vocab, kept_objects, cfg, progress, split
        )
        paths = [_image_path(images[i]["url"]) for i in arrays["image_ids"].tolist()]
        arrays["image_widths"] = np.asarray([images[i]["width"] for i in arrays["image_ids"].tolist()], np.int32)
        arrays["image_heights"] = np.asarray([images[i]["height"] for i in arrays["image_ids"].tolist()], np.int32)
        _write_h5(out_dir / f"{split}.h5", arrays, paths)
        summary["images"][split] = len(paths)
        say(f"{split}: kept {len(paths)} images; skipped {dict(skipped)}")
    with open(out_dir / "vocab.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    with open(out_dir / "prep_config.json", "w", encoding="utf-8") as f:
        json.dump({**asdict(cfg), "splits_json": str(splits_path), "summary": summary}, f, indent=1)
    return summary


def object_vocabulary(objects: Mapping[int, Mapping], train_ids: set[int], aliases: Mapping[str, str], min_count: int) -> list[str]:
    """['__image__'] + aliased object names with >= min_count training instances, most common first."""
    counter: Counter[str] = Counter()
    for image_id, record in objects.items():
        if image_id in train_ids:
            for obj in record["objects"]:
                # An object counts once per distinct aliased name (sg2im uses a set here).
                counter.update(list(dict.fromkeys(aliases.get(n, n) for n in obj.get("names", []))))
    return ["__image__"] + [name for name, count in counter.most_common() if count >= min_count]


def attribute_vocabulary(attributes: Mapping[int, Mapping], train_ids: set[int], min_count: int) -> list[str]:
    """Attribute names with >= min_count training instances, most common first."""
    counter: Counter[str] = Counter()
    for image_id, record in attributes.items():
        if image_id in train_ids:
            for attr in record["attributes"]:
                counter.update(list(dict.fromkeys(attr.get("attributes") or [])))
    return [name for name, count in counter.most_common() if count >= min_count]


def filter_objects(
    objects: Mapping[int, Mapping], image_ids: set[int], aliases: Mapping[str, str],
    name_to_idx: Mapping[str, int], min_size: int,
) -> dict[int, dict]:  # fmt: skip
    """object_id -> {name, name_idx, box (x, y, w, h) px} for objects whose first in-vocabulary
    aliased name exists and whose box is at least `min_size` px on both sides."""
    kept: dict[int, dict] = {}
    for image_id, record in objects.items():
        if image_id not in image_ids:
            continue
        for k, obj in enumerate(record["objects"]):
            where = f"objects.json: image {image_id}, objects[{k}]"
            require_fields(obj, ("object_id", "x", "y", "w", "h"), where)
            check_box([obj["x"], obj["y"], obj["w"], obj["h"]], f"{where} (object_id {obj['object_id']})")
            name = next((aliases.get(n, n) for n in obj.get("names", []) if aliases.get(n, n) in name_to_idx), None)
            if name is not None and obj["w"] >= min_size and obj["h"] >= min_size:
                box = [obj["x"], obj["y"], obj["w"], obj["h"]]
                kept[obj["object_id"]] = {"name": name, "name_idx": name_to_idx[name], "box": box}
    return kept


def normalise_predicate(predicate: str, aliases: Mapping[str, str]) -> str:
    """Lower-case, strip, then alias a VG predicate."""
    pred = predicate.lower().strip()
    return aliases.get(pred, pred)


def predicate_vocabulary(
    relationships: Mapping[int, Mapping], train_ids: set[int], kept: Mapping[int, dict],
    aliases: Mapping[str, str], min_count: int,
) -> list[str]:  # fmt: skip
    """['__in_image__'] + predicates between kept training objects with >= min_count instances
    (first-seen order, as sg2im). Rewrites those relationships' predicates in place, as sg2im does."""
    counts: dict[str, int] = defaultdict(int)
    for image_id, record in relationships.items():
        if image_id not in train_ids:
            continue
        for rel in record["relationships"]:
            if _endpoint(rel, "subject") in kept and _endpoint(rel, "object") in kept:
                rel["predicate"] = normalise_predicate(rel["predicate"], aliases)
                counts[rel["predicate"]] += 1
    return ["__in_image__"] + [p for p, c in counts.items() if c >= min_count]


def encode_split(
    image_ids: Iterable[int], objects: Mapping[int, Mapping], relationships: Mapping[int, Mapping],
    attributes: Mapping[int, Mapping], vocab: Mapping, kept: Mapping[int, dict], cfg: VGPrepConfig,
    progress: bool = False, split: str = "",
) -> tuple[dict[str, np.ndarray], Counter]:  # fmt: skip
    """sg2im's per-image encoding: padded object/relationship arrays of the images that pass."""
    max_o, max_r = cfg.max_objects_per_image, cfg.max_relationships_per_image
    pred_to_idx, attr_to_idx = vocab["pred_name_to_idx"], vocab["attribute_name_to_idx"]
    rows = defaultdict(list)
    skipped: Counter = Counter()
    for image_id in tqdm(list(image_ids), desc=f"encode {split}", disable=not progress, unit="img"):
        obj_ids = [o["object_id"] for o in objects.get(image_id, {"objects": []})["objects"] if o["object_id"] in kept]
        if not cfg.min_objects_per_image <= len(obj_ids) <= max_o:
            skipped["too_few_objects" if len(obj_ids) < cfg.min_objects_per_image else "too_many_objects"] += 1
            continue
        index = {oid: k for k, oid in enumerate(obj_ids)}
        rels = []
        for rel in relationships.get(image_id, {"relationships": []})["relationships"]:
            pred = pred_to_idx.get(rel["predicate"])
            s, o = index.get(_endpoint(rel, "subject")), index.get(_endpoint(rel, "object"))
            if pred is not None and s is not None and o is not None:
                rels.append((rel["relationship_id"], s, pred, o))
        if not cfg.min_relationships_per_image <= len(rels) <= max_r:
            few = len(rels) < cfg.min_relationships_per_image
            skipped["too_few_relationships" if few else "too_many_relationships"] += 1
            continue
        obj_attrs = {a["object_id"]: a.get("attributes") for a in attributes.get(image_id, {"attributes": []})["attributes"]}
        num_attrs = []
        for oid in obj_ids:
            names = obj_attrs.get(oid)
            ids = [attr_to_idx[n] for n in (names or []) if n in attr_to_idx][: cfg.max_attributes_per_image]
            num_attrs.append(len(ids))
        pad_o, pad_r = max_o - len(obj_ids), max_r - len(rels)
        rows["image_ids"].append(image_id)
        rows["object_ids"].append(obj_ids + [-1] * pad_o)
        rows["object_names"].append([kept[i]["name_idx"] for i in obj_ids] + [-1] * pad_o)
        rows["object_boxes"].append([kept[i]["box"] for i in obj_ids] + [[-1, -1, -1, -1]] * pad_o)
        rows["objects_per_image"].append(len(obj_ids))
        for key, col in (("relationship_ids", 0), ("relationship_subjects", 1),
                         ("relationship_predicates", 2), ("relationship_objects", 3)):  # fmt: skip
            rows[key].append([r[col] for r in rels] + [-1] * pad_r)
        rows["relationships_per_image"].append(len(rels))
        rows["attributes_per_object"].append(num_attrs + [-1] * pad_o)
    shapes = {"image_ids": (0,), "object_boxes": (0, max_o, 4), "objects_per_image": (0,),
              "relationships_per_image": (0,)}  # fmt: skip
    arrays = {}
    for key in ("image_ids", "object_ids", "object_names", "object_boxes", "objects_per_image", "relationship_ids",
                "relationship_subjects", "relationship_predicates", "relationship_objects",
                "relationships_per_image", "attributes_per_object"):  # fmt: skip
        width = max_r if key.startswith("relationship_") else max_o
        shape = shapes.get(key, (0, width))
        arrays[key] = np.asarray(rows[key], dtype=np.int32).reshape(-1, *shape[1:])
    return arrays, skipped


def _endpoint(rel: Mapping, key: str) -> int | None:
    end = rel.get(key)
    return end.get("object_id") if isinstance(end, Mapping) else None


def _image_path(url: str) -> str:
    """sg2im: the last directory of the image URL + its file name, e.g. 'VG_100K/1.jpg'."""
    parts = url.rstrip("/").split("/")
    return "/".join(parts[-2:])


def _write_h5(path: Path, arrays: Mapping[str, np.ndarray], image_paths: list[str]) -> None:
    tmp = path.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as f:
        for name, array in arrays.items():
            f.create_dataset(name, data=array)
        f.create_dataset("image_paths", data=np.asarray(image_paths, dtype=object), dtype=h5py.string_dtype())
    tmp.replace(path)


def _load_splits(path: Path) -> dict[str, list[int]]:
    data = load_json(require_path(path, PREPARE_CMD, "VG split file"), PREPARE_CMD)
    if not isinstance(data, dict) or not all(isinstance(data.get(s), list) for s in SPLIT_NAMES):
        raise DataError(f"{path}: expected an object with lists 'train', 'val' and 'test' of image ids")
    return {s: [int(i) for i in data[s]] for s in SPLIT_NAMES}


def _by_image_id(records: object, name: str, fields: tuple[str, ...]) -> dict[int, Mapping]:
    if not isinstance(records, list):
        raise DataError(f"{name}: expected a list of per-image records, got {type(records).__name__}")
    out = {}
    for k, record in enumerate(records):
        require_fields(record, ("image_id", *fields), f"{name}: record [{k}]")
        out[record["image_id"]] = record
    return out


def _drop_missing(splits: dict[str, list[int]], images: Mapping[int, Mapping], allow: bool, path: Path) -> dict:
    missing = {s: [i for i in ids if i not in images] for s, ids in splits.items()}
    total = sum(map(len, missing.values()))
    if total and not allow:
        first = next(i for ids in missing.values() for i in ids)
        raise DataError(
            f"{total} image ids of {path} are not in image_data.json (first: {first}); "
            "for a subset of VG set data.prep.allow_missing_images=true"
        )
    if total:
        warnings.warn(f"{total} split image ids are not in image_data.json; skipped", stacklevel=2)
    return {s: [i for i in ids if i in images] for s, ids in splits.items()}


def _drop_small(splits: dict[str, list[int]], images: Mapping[int, Mapping], min_size: int, say) -> dict:
    out = {}
    for split, ids in splits.items():
        out[split] = [i for i in ids if min(images[i]["height"], images[i]["width"]) >= min_size]
        say(f"Removed {len(ids) - len(out[split])} images from split {split!r} for being too small")
    return out
