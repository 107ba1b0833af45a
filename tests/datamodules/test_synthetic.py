"""Synthetic scenes: valid COCO and raw-VG files, exact masks, deterministic, loadable unchanged."""

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pycocotools.coco import COCO

from lama.datamodules import CocoStuff
from lama.datamodules.synthetic import generate, is_generated
from lama.datamodules.synthetic_scenes import STUFF, THINGS, draw_scene


def test_coco_files_are_valid_and_masks_exact(synthetic_root: Path) -> None:
    for split, count in (("train", 48), ("val", 16)):
        inst = COCO(str(synthetic_root / f"annotations/instances_{split}2017.json"))
        stuff = COCO(str(synthetic_root / f"annotations/stuff_{split}2017.json"))
        assert len(inst.getImgIds()) == count and inst.getImgIds() == stuff.getImgIds()
        assert {c["id"] for c in inst.loadCats(inst.getCatIds())} <= set(range(1, 91))
        assert {c["id"] for c in stuff.loadCats(stuff.getCatIds())} <= set(range(92, 184))
        for image_id in inst.getImgIds()[:6]:
            record = inst.loadImgs(image_id)[0]
            image = Image.open(synthetic_root / f"{split}2017" / record["file_name"])
            assert image.size == (32, 32) and image.mode == "RGB"
            things = [inst.annToMask(a) for a in inst.loadAnns(inst.getAnnIds(imgIds=image_id))]
            stuffs = {a["category_id"]: stuff.annToMask(a) for a in stuff.loadAnns(stuff.getAnnIds(imgIds=image_id))}
            assert 1 <= len(things) <= 6
            coverage = sum(things) + sum(m for c, m in stuffs.items() if c != 183)
            assert (coverage == 1).all()  # visible masks tile the image exactly once
            if things:
                assert np.array_equal(stuffs[183], (sum(things) > 0).astype(np.uint8))
            for ann in inst.loadAnns(inst.getAnnIds(imgIds=image_id)):
                ys, xs = np.nonzero(inst.annToMask(ann))
                assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
                assert ann["area"] == len(xs) and ann["iscrowd"] == 0


def test_most_scenes_pass_the_filter_and_load_unchanged(synthetic_root: Path) -> None:
    ds = CocoStuff(synthetic_root, "train", resolution=32, return_masks=True)
    assert len(ds.image_ids) >= 0.7 * 48
    item = ds[0]
    n = int((item["labels"] != 0).sum())
    assert 3 <= n <= 8
    assert set(item["labels"][:n].tolist()) <= set(THINGS) | set(STUFF)
    assert (item["masks"][:n].sum((1, 2)) > 0).all() and (item["masks"][n:] == 0).all()


def test_overlaps_are_frequent() -> None:
    overlapping = 0
    for i in range(60):
        _, objects = draw_scene(np.random.default_rng([0, i]), 64)
        things = [o for o in objects if o.category_id in THINGS]
        boxes = []
        for o in things:
            ys, xs = np.nonzero(o.mask)
            boxes.append((xs.min(), ys.min(), xs.max(), ys.max()))
        overlapping += any(
            a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
            for k, a in enumerate(boxes) for b in boxes[k + 1:]
        )  # fmt: skip
    assert overlapping >= 20


def test_vg_files_describe_the_same_scenes(synthetic_root: Path) -> None:
    vg = synthetic_root / "vg"
    image_data = json.loads((vg / "image_data.json").read_text())
    objects = json.loads((vg / "objects.json").read_text())
    splits = json.loads((vg / "vg_splits.json").read_text())
    assert [r["image_id"] for r in image_data] == list(range(1, 65))
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == list(range(1, 65))
    for name in ("attributes.json", "relationships.json", "object_alias.txt", "relationship_alias.txt"):
        assert (vg / name).stat().st_size > 0
    inst = json.loads((synthetic_root / "annotations/instances_train2017.json").read_text())
    first = [a for a in inst["annotations"] if a["image_id"] == 1]
    vg_first = objects[0]["objects"][: len(first)]
    assert [[o["x"], o["y"], o["w"], o["h"]] for o in vg_first] == [a["bbox"] for a in first]
    assert (vg / "VG_100K/1.png").read_bytes() == (synthetic_root / "train2017/000000000001.png").read_bytes()


def test_generation_is_deterministic_and_atomic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 5, 2, 24, seed=7, progress=False)
    b = generate(tmp_path / "b", 5, 2, 24, seed=7, progress=False)
    c = generate(tmp_path / "c", 5, 2, 24, seed=8, progress=False)
    ann = "annotations/instances_train2017.json"
    assert (a / ann).read_bytes() == (b / ann).read_bytes() != (c / ann).read_bytes()
    assert is_generated(a) and not list(tmp_path.glob(".*tmp*"))  # a root with other files: test_data_faults


def test_scene_images_match_masks_colour_families() -> None:
    image, objects = draw_scene(np.random.default_rng(1), 64)
    for obj in objects:
        if obj.category_id == 183:
            continue
        pixels = torch.from_numpy(image[obj.mask].astype(np.float32))
        assert pixels.std(0).max() < 30  # mild texture around one colour per object


def test_upright_scenes_are_the_same_scenes_with_every_shape_unrotated() -> None:
    squares = 0
    for i in range(40):
        rng_rotated, rng_upright = np.random.default_rng([0, i]), np.random.default_rng([0, i])
        _, rotated = draw_scene(rng_rotated, 64)
        _, upright = draw_scene(rng_upright, 64, rotate=False)
        assert [o.category_id for o in upright if o.category_id in STUFF] == [o.category_id for o in rotated if o.category_id in STUFF]
        assert rng_upright.random() == rng_rotated.random()  # the same draws: positions, sizes, classes
        for obj in upright:
            if obj.category_id == 2 and obj.mask.sum() > 0:  # an unoccluded upright square fills its bounding box
                ys, xs = np.nonzero(obj.mask)
                box_area = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
                squares += obj.mask.sum() == box_area
    assert squares >= 5


def test_a_dataset_written_before_the_rotate_option_matches_and_other_settings_regenerate(tmp_path: Path, capsys) -> None:
    from lama.datamodules.synthetic import MARKER, SyntheticDataModule

    root = generate(tmp_path / "s", 5, 2, 24, seed=0, progress=False)
    marker = json.loads((root / MARKER).read_text())
    assert marker["rotate"] is True
    del marker["rotate"]  # as written by the generator before the option existed
    (root / MARKER).write_text(json.dumps(marker))
    settings = {"num_train": 5, "num_val": 2, "seed": 0}
    dm = SyntheticDataModule(root, 184, 24, generate=settings)
    dm.prepare_files()
    assert "already at" in capsys.readouterr().out
    upright = SyntheticDataModule(root, 184, 24, generate={**settings, "rotate": False})
    upright.prepare_files()
    assert "regenerating" in capsys.readouterr().out
    assert json.loads((root / MARKER).read_text())["rotate"] is False
    dm.prepare_data()  # training asks for rotated scenes again: they are regenerated, not silently reused
    assert "regenerating" in capsys.readouterr().out and json.loads((root / MARKER).read_text())["rotate"] is True
