"""CocoStuff on the genuine COCO 2017 / COCO-Stuff sample files: kept ids, object order, labels
and boxes against values computed here from the raw JSON; flipping, padding, masks, errors."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO

from lama.datamodules import CocoStuff, DataError, MissingDataError
from lama.layout import PAD_BOX, PAD_LABEL


def expected_layouts(root: Path, split: str, min_objects: int = 3, max_objects: int = 8) -> dict[int, list]:
    """The paper's filter written out plainly from the JSON: {image_id: [(cat, box fractions)]}."""
    inst = json.loads((root / "annotations" / f"instances_{split}2017.json").read_text())
    stuff = json.loads((root / "annotations" / f"stuff_{split}2017.json").read_text())
    size = {im["id"]: (im["width"], im["height"]) for im in inst["images"]}
    objs = {im["id"]: [] for im in inst["images"]}
    for ann in inst["annotations"] + stuff["annotations"]:
        w_img, h_img = size[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        if w * h / (w_img * h_img) > 0.02 and ann["category_id"] != 183 and not ann["iscrowd"]:
            objs[ann["image_id"]].append((ann["category_id"], [x / w_img, y / h_img, w / w_img, h / h_img]))
    with_stuff = {a["image_id"] for a in stuff["annotations"]}
    return {
        i: objs[i]
        for i in (im["id"] for im in inst["images"])
        if i in with_stuff and min_objects <= len(objs[i]) <= max_objects
    }


def check_layout(item: dict, objects: list, slots: int) -> None:
    n = len(objects)
    assert item["labels"].shape == (slots,) and item["labels"].dtype == torch.int64
    assert item["boxes"].shape == (slots, 4)
    assert item["labels"][:n].tolist() == [c for c, _ in objects]
    torch.testing.assert_close(item["boxes"][:n], torch.tensor([b for _, b in objects], dtype=torch.float32))
    assert (item["labels"][n:] == PAD_LABEL).all()
    assert (item["boxes"][n:] == torch.tensor(PAD_BOX)).all()


def test_val_filter_matches_json(realdata_dir: Path) -> None:
    root = realdata_dir / "coco"
    expected = expected_layouts(root, "val")
    assert list(expected) == [802]  # 139 has 17 kept objects; the other images have no stuff
    ds = CocoStuff(root, "val", resolution=32)
    assert ds.image_ids == list(expected)
    assert len(ds) == 1 and ds.num_classes == 184
    item = ds[0]
    assert item["image_id"] == 802
    check_layout(item, expected[802], 8)
    # instance objects first, then stuff, each in file order
    assert item["labels"].tolist() == [82, 79, 98, 102, 117, 123, 172, 173]


def test_object_order_with_many_objects(realdata_dir: Path) -> None:
    root = realdata_dir / "coco"
    expected = expected_layouts(root, "val", max_objects=20)
    ds = CocoStuff(root, "val", resolution=16, max_objects=20)
    assert ds.image_ids == list(expected) == [802, 139]  # instances-file image order
    item = ds[1]
    assert item["image_id"] == 139 and len(expected[139]) == 17
    check_layout(item, expected[139], 20)


def test_class_names(realdata_dir: Path) -> None:
    ds = CocoStuff(realdata_dir / "coco", "val", resolution=16)
    cats = json.loads((realdata_dir / "coco/annotations/instances_val2017.json").read_text())["categories"]
    cats += json.loads((realdata_dir / "coco/annotations/stuff_val2017.json").read_text())["categories"]
    assert len(ds.class_names) == 184
    assert all(ds.class_names[c["id"]] == c["name"] for c in cats)
    assert ds.class_names[0] == "" and ds.class_names[12] == ""  # padding and an unused COCO id


def test_image_is_bilinear_resize_in_unit_range(realdata_dir: Path) -> None:
    ds = CocoStuff(realdata_dir / "coco", "val", resolution=64)
    image = ds[0]["image"]
    ref = Image.open(realdata_dir / "coco/val2017/000000000802.jpg").convert("RGB").resize((64, 64), Image.BILINEAR)
    ref = torch.from_numpy(np.asarray(ref).copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    torch.testing.assert_close(image, ref)
    assert image.min() >= -1 and image.max() <= 1


def test_flip_doubles_and_mirrors(realdata_dir: Path) -> None:
    ds = CocoStuff(realdata_dir / "coco", "val", resolution=32, flip=True, return_masks=True)
    assert len(ds) == 2
    a, b = ds[0], ds[1]
    assert a["image_id"] == b["image_id"] == 802
    torch.testing.assert_close(b["image"], a["image"].flip(-1))
    torch.testing.assert_close(b["masks"], a["masks"].flip(-1))
    real = a["labels"] != PAD_LABEL
    torch.testing.assert_close(b["boxes"][real, 0], 1 - a["boxes"][real, 0] - a["boxes"][real, 2])
    torch.testing.assert_close(b["boxes"][real, 1:], a["boxes"][real, 1:])
    assert torch.equal(b["labels"], a["labels"])


def test_masks_match_pycocotools(realdata_dir: Path) -> None:
    root = realdata_dir / "coco"
    ds = CocoStuff(root, "val", resolution=32, return_masks=True)
    masks = ds[0]["masks"]
    assert masks.shape == (8, 32, 32)
    inst = COCO(str(root / "annotations/instances_val2017.json"))
    stuff = COCO(str(root / "annotations/stuff_val2017.json"))
    anns = [a for a in inst.loadAnns(inst.getAnnIds(imgIds=802))] + stuff.loadAnns(stuff.getAnnIds(imgIds=802))
    anns = [a for a in anns if a["category_id"] != 183]
    for k, ann in enumerate(anns):
        coco = inst if ann["category_id"] <= 90 else stuff
        full = coco.annToMask(ann)
        small = np.asarray(Image.fromarray(full * 255).resize((32, 32), Image.BILINEAR)) >= 128
        assert torch.equal(masks[k].bool(), torch.from_numpy(small)), f"slot {k}"
    assert set(masks.unique().tolist()) <= {0.0, 1.0}


def test_missing_files_name_the_prepare_command(tmp_path: Path, realdata_dir: Path) -> None:
    with pytest.raises(MissingDataError, match="task=prepare data=coco_stuff") as err:
        CocoStuff(tmp_path / "nowhere", "val", resolution=32)
    assert "nowhere" in str(err.value)
    with pytest.raises(MissingDataError, match="stuff_train2017.json"):
        CocoStuff(realdata_dir / "coco", "train", resolution=32)
    with pytest.raises(DataError, match="stuff_challenge/stuff_val2017.json"):
        CocoStuff(realdata_dir / "coco", "val", resolution=32, stuff_challenge=True)


def _copy_root(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def test_malformed_json_and_records(tmp_path: Path, realdata_dir: Path) -> None:
    root = _copy_root(realdata_dir / "coco", tmp_path / "coco")
    path = root / "annotations/stuff_val2017.json"
    original = path.read_text()
    path.write_text(original[:500])
    with pytest.raises(DataError, match="malformed JSON in .*stuff_val2017.json"):
        CocoStuff(root, "val", resolution=32)
    data = json.loads(original)
    del data["annotations"][3]["bbox"]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"stuff_val2017.json: annotations\[3\] \(id 20000003\) lacks .*'bbox'"):
        CocoStuff(root, "val", resolution=32)


def test_unreadable_image_is_skipped_and_counted(tmp_path: Path, synthetic_root: Path) -> None:
    root = _copy_root(synthetic_root, tmp_path / "syn")
    ds = CocoStuff(root, "val", resolution=32, max_bad_images=1)
    first, second = ds.image_path(0), ds.image_ids[1]
    first.write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="unreadable image"):
        item = ds[0]
    assert item["image_id"] == second and ds.bad_images.count == 1
    ds.image_path(1).unlink()
    with pytest.warns(UserWarning), pytest.raises(DataError, match="max_bad_images=1"):
        ds[0]


def test_agrees_with_the_authors_evaluation_ids(realdata_dir: Path, reference_dir: Path) -> None:
    """802 is among the authors' 3097 validation layouts and 139 (17 objects) is not; the authors'
    order follows the instances file's image order, as `image_ids` does."""
    authors = [int(float(line)) for line in (reference_dir / "coco_val2017_eval_image_ids.txt").read_text().split()]
    assert len(authors) == 3097
    ds = CocoStuff(realdata_dir / "coco", "val", resolution=16)
    assert set(ds.image_ids) <= set(authors) and 139 not in authors
    inst = json.loads((realdata_dir / "coco/annotations/instances_val2017.json").read_text())
    in_both = [im["id"] for im in inst["images"] if im["id"] in authors]
    assert in_both == sorted(in_both, key=authors.index)


def test_layout_cache_is_used_and_invalidated(tmp_path: Path, synthetic_root: Path) -> None:
    root = _copy_root(synthetic_root, tmp_path / "syn")
    layouts = tmp_path / "cache/layouts"
    before = sorted(root.rglob("*"))
    first = CocoStuff(root, "train", resolution=16, layout_cache_dir=layouts)
    second = CocoStuff(root, "train", resolution=16, layout_cache_dir=layouts)
    assert not first.from_cache and second.from_cache
    assert second.image_ids == first.image_ids and second.class_names == first.class_names
    for i in (0, len(first.image_ids) - 1):
        assert torch.equal(second[i]["boxes"], first[i]["boxes"]) and torch.equal(second[i]["labels"], first[i]["labels"])
    assert sorted(root.rglob("*")) == before and len(list(layouts.glob("layouts_*.json"))) == 1  # never in the data
    assert not CocoStuff(root, "train", resolution=16, min_objects=4, layout_cache_dir=layouts).from_cache
    assert not CocoStuff(root, "train", resolution=16, return_masks=True, layout_cache_dir=layouts).from_cache
    assert not CocoStuff(root, "train", resolution=16).from_cache  # no cache directory: no cache
    path = root / "annotations/stuff_train2017.json"
    data = json.loads(path.read_text())
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != first.image_ids[0]]
    path.write_text(json.dumps(data))
    changed = CocoStuff(root, "train", resolution=16, layout_cache_dir=layouts)
    assert not changed.from_cache and first.image_ids[0] not in changed.image_ids
