"""Faults around the data (issue 15): prepare never deletes what a user made, caches never go into the
data, are keyed by root and follow the umask (15.2); any changed image makes a cache stale (15.3);
the bad-image budget counts distinct files and its error is one line, workers included (15.5); bad
annotations are one-line errors naming the file and annotation id (15.10)."""

import json
import os
import shutil
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import lama.datamodules.synthetic as synthetic
from lama.datamodules import CocoStuff, DataError
from lama.datamodules.cache import HASHED_FILES, write_image_cache
from lama.datamodules.synthetic import MARKER, SyntheticDataModule, generate, generated_files, is_generated


def _tree(root: Path) -> dict[str, float]:
    """Every file under root with its mtime: what a read-only data root must keep."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def _module(root: Path, tmp_path: Path, num_train: int, num_val: int, seed: int = 0, **extra) -> SyntheticDataModule:
    generate_settings = {"num_train": num_train, "num_val": num_val, "seed": seed}
    return SyntheticDataModule(root, 184, 16, cache_dir=tmp_path / "cache", generate=generate_settings, **extra)


def test_generated_files_is_exactly_what_generate_writes(tmp_path: Path) -> None:
    root = generate(tmp_path / "s", 3, 2, 16, seed=0, progress=False)
    assert {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} == generated_files(3, 2)


def test_regenerating_with_other_counts_keeps_the_users_files(tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    _module(root, tmp_path, 6, 3).prepare_files()
    mine = {"notes.txt": "mine", "train2017/my_photo.png": "mine too", "annotations/extra.json": "{}"}
    for name, text in mine.items():
        (root / name).write_text(text)
    summary = _module(root, tmp_path, 3, 2).prepare_files()
    assert summary["num_train"] == 3 and is_generated(root)
    for name, text in mine.items():
        assert (root / name).read_text() == text
    written = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert written == generated_files(3, 2) | set(mine)  # old scenes 4..9 are gone, nothing else
    assert not list(tmp_path.glob(".scenes.tmp-*"))


def test_interrupted_regeneration_is_finished_by_the_next_one(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "scenes"
    generate(root, 6, 3, 16, seed=0, progress=False)
    (root / "notes.txt").write_text("mine")
    real_replace, calls = os.replace, []

    def dies_midway(src, dst) -> None:
        calls.append(dst)
        if len(calls) == 5:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(synthetic.os, "replace", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        generate(root, 2, 2, 16, seed=0, progress=False)
    monkeypatch.setattr(synthetic.os, "replace", real_replace)
    assert not is_generated(root)  # the marker says a regeneration was under way
    generate(root, 4, 1, 16, seed=1, progress=False)
    written = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert written == generated_files(4, 1) | {"notes.txt"} and is_generated(root)


def test_a_root_that_is_not_synthetic_is_refused_or_shared(tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "annotations").mkdir(parents=True)
    (other / "annotations/instances_train2017.json").write_text("the user's own")
    with pytest.raises(DataError, match=rf"not a synthetic dataset .*{MARKER}.*instances_train2017.json.*empty or new"):
        generate(other, 2, 1, 16, seed=0, progress=False)
    assert (other / "annotations/instances_train2017.json").read_text() == "the user's own"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "README.txt").write_text("mine")
    generate(shared, 2, 1, 16, seed=0, progress=False)  # nothing to overwrite: generated alongside
    assert (shared / "README.txt").read_text() == "mine" and is_generated(shared)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_datasets_and_caches_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        dm = _module(tmp_path / "scenes", tmp_path, 3, 2)
        dm.prepare()
    finally:
        os.umask(old)
    expected = 0o777 & ~umask
    cache = dm.cache_path("train")
    for folder in (dm.root, dm.root / "train2017", cache, cache.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == expected, folder


def test_caches_never_go_into_the_data_and_are_keyed_by_root(tmp_path: Path) -> None:
    roots = [tmp_path / "a" / "scenes", tmp_path / "b" / "scenes"]
    for seed, root in enumerate(roots):
        generate(root, 4, 2, 16, seed=seed, progress=False)
    before = [_tree(root) for root in roots]
    for seed, root in enumerate(roots):
        root.chmod(0o555)  # a read-only shared dataset (root ignores this; the file check below does not)
        _module(root, tmp_path, 4, 2, seed).prepare()
    assert [_tree(root) for root in roots] == before  # no layout or image cache written into the data
    modules = [_module(root, tmp_path, 4, 2, seed) for seed, root in enumerate(roots)]
    assert modules[0].cache_path("val") != modules[1].cache_path("val")
    for dm in modules:
        dm.setup("validate")
        assert dm.val_dataset.image_cache is not None  # each reads its own cache, no "written from" warning
        decoded = _module(dm.root, tmp_path, 4, 2, image_cache=None)  # generate settings unused here
        decoded.setup("validate")
        assert (dm.val_dataset[0]["image"] == decoded.val_dataset[0]["image"]).all()
    assert len(list((tmp_path / "cache/layouts").glob("*/layouts_*.json"))) == 4  # train + val per root
    for root in roots:
        root.chmod(0o755)


def _rewrite_pixels(path: Path) -> None:
    """Replace an image file by a visibly different image of the same size (a regenerated image)."""
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    Image.fromarray(255 - image).save(path)


def test_any_changed_image_makes_the_cache_stale_and_prepare_rebuilds_it(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    shutil.copytree(synthetic_root, root)
    dm = _module(root, tmp_path, 48, 16, seed=3)
    dm.write_image_caches()
    dm.setup("fit")
    names = dm.train_dataset.image_names()
    assert len(names) > 2 * HASHED_FILES  # so that most files are outside the hashed sample
    changed = root / "train2017" / names[1]  # not among the 16 hashed ones, nor the old 16 fingerprinted
    _rewrite_pixels(changed)
    with pytest.raises(DataError, match=rf"stale image cache .*{changed}.*task=prepare data=synthetic`"):
        _module(root, tmp_path, 48, 16, seed=3).setup("fit")
    dm.write_image_caches()  # task=prepare's step: the stale cache is rewritten, not kept
    fresh = _module(root, tmp_path, 48, 16, seed=3)
    fresh.setup("fit")
    decoded = CocoStuff(root, "train", 16)
    assert fresh.train_dataset.image_cache is not None
    assert torch.equal(fresh.train_dataset[1]["image"], decoded[1]["image"])


def test_same_size_and_mtime_with_new_bytes_is_caught_by_the_sample_hash(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    shutil.copytree(synthetic_root, root)
    ds = CocoStuff(root, "val", 16)
    cache = write_image_cache(ds.image_dir, ds.image_names(), tmp_path / "c", 16, progress=False)
    path = ds.image_dir / ds.image_names()[0]  # the first file is always hashed
    before, data = path.stat(), bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(DataError, match=f"stale image cache .*{path.name} changed"):
        ds.use_image_cache(cache)


def test_a_synthetic_cache_hint_names_the_synthetic_dataset(tmp_path: Path) -> None:
    dm = _module(tmp_path / "scenes", tmp_path, 3, 2, image_cache=str(tmp_path / "nowhere"))
    dm.prepare_data()
    with pytest.raises(DataError, match="no image cache .*nowhere.*task=prepare data=synthetic`") as err:
        dm.setup("validate")
    assert "coco_stuff" not in str(err.value)


def _with_bad_images(synthetic_root: Path, tmp_path: Path, count: int, **kwargs) -> CocoStuff:
    root = tmp_path / "scenes"
    shutil.copytree(synthetic_root, root, ignore=shutil.ignore_patterns("vg"))
    ds = CocoStuff(root, "val", 16, **kwargs)
    for i in range(count):
        ds.image_path(i).write_bytes(b"not an image")
    return ds


def test_the_bad_image_budget_counts_distinct_files(synthetic_root: Path, tmp_path: Path) -> None:
    ds = _with_bad_images(synthetic_root, tmp_path, 1, flip=True, max_bad_images=1)
    with pytest.warns(UserWarning, match="unreadable image") as warned:
        for _ in range(60):  # many epochs over the same unreadable file, flipped and not
            ds[0], ds[ds.num_images]
    assert ds.bad_images.count == 1 and len(warned) == 1  # one file, one warning, never over budget
    two = _with_bad_images(synthetic_root, tmp_path / "two", 2, max_bad_images=1)
    with pytest.warns(UserWarning), pytest.raises(DataError) as err:
        two[0]
    assert str(err.value).startswith("2 unreadable image files (limit max_bad_images=1): ")
    assert str(two.image_path(0)) in str(err.value) and str(two.image_path(1)) in str(err.value)


def test_a_bad_image_error_from_a_loader_worker_is_one_line(synthetic_root: Path, tmp_path: Path) -> None:
    ds = _with_bad_images(synthetic_root, tmp_path, 1, max_bad_images=0)
    with pytest.raises(DataError) as err:
        next(iter(DataLoader(ds, batch_size=2, num_workers=1)))
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("1 unreadable image file (limit max_bad_images=0): ") and str(ds.image_path(0)) in message
    everything = _with_bad_images(synthetic_root, tmp_path / "all", len(ds.image_ids), max_bad_images=10**6)
    with pytest.raises(DataError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        next(iter(DataLoader(everything, batch_size=2, num_workers=1)))
    assert str(err.value) == (f"none of the {everything.num_images} images under {everything.image_dir} is readable "
                              f"(first: {everything.image_path(0)}); re-extract the image archive")  # fmt: skip


COCO_BAD = [  # (what breaks the first stuff annotation, the error)
    (lambda a: a.update(bbox=[1, 2, "3", 4]), r"bbox must be \[x, y, w, h\] of 4 numbers, got \[1, 2, '3', 4\]"),
    (lambda a: a.update(bbox=[1, 2, 3]), r"bbox must be \[x, y, w, h\] of 4 numbers"),
    (lambda a: a.update(bbox=[1, 2, True, 4]), r"bbox must be .* of 4 numbers, got \[1, 2, True, 4\]"),
    (lambda a: a.update(bbox=[10, 10, -60, -50]), r"bbox \[10, 10, -60, -50\] has a negative width or height"),
]


@pytest.mark.parametrize(("breaks", "error"), COCO_BAD)
def test_a_bad_coco_annotation_names_file_and_id(realdata_dir: Path, tmp_path: Path, breaks, error) -> None:
    root = tmp_path / "coco"
    shutil.copytree(realdata_dir / "coco", root)
    path = root / "annotations/stuff_val2017.json"
    data = json.loads(path.read_text())
    breaks(data["annotations"][0])
    path.write_text(json.dumps(data))
    ann_id = data["annotations"][0]["id"]
    with pytest.raises(DataError, match=rf"stuff_val2017.json: annotations\[0\] \(id {ann_id}\): {error}"):
        CocoStuff(root, "val", 16)


@pytest.mark.parametrize("size", [("640", 480), (640, None), (0, 480)])
def test_a_bad_coco_image_size_names_file_and_id(realdata_dir: Path, tmp_path: Path, size) -> None:
    root = tmp_path / "coco"
    shutil.copytree(realdata_dir / "coco", root)
    path = root / "annotations/instances_val2017.json"
    data = json.loads(path.read_text())
    data["images"][1]["width"], data["images"][1]["height"] = size
    path.write_text(json.dumps(data))
    image_id = data["images"][1]["id"]
    with pytest.raises(DataError, match=rf"instances_val2017.json: images\[1\] \(id {image_id}\): image size must be"):
        CocoStuff(root, "val", 16)


@pytest.mark.parametrize(("field", "value", "error"), [
    ("w", "big", r"bbox must be \[x, y, w, h\] of 4 numbers"), ("h", -40, r"bbox \[0, 0, 799, -40\] has a negative width or height"),
])  # fmt: skip
def test_a_bad_vg_object_names_file_and_object_id(realdata_dir: Path, tmp_path: Path, field, value, error) -> None:
    from lama.datamodules.vg_prep import VGPrepConfig, preprocess

    root = tmp_path / "vg"
    shutil.copytree(realdata_dir / "vg", root)
    objects = json.loads((root / "objects.json").read_text())
    first = objects[0]["objects"][0]
    first[field] = value
    (root / "objects.json").write_text(json.dumps(objects))
    where = rf"objects.json: image {objects[0]['image_id']}, objects\[0\] \(object_id {first['object_id']}\)"
    config = VGPrepConfig(expected_num_objects=None, allow_missing_images=True)
    with pytest.warns(UserWarning, match="not in image_data.json"), pytest.raises(DataError, match=f"{where}: {error}"):
        preprocess(root, config=config, progress=False)
    images = json.loads((root / "image_data.json").read_text())
    images[0]["height"] = "tall"
    (root / "image_data.json").write_text(json.dumps(images))
    with pytest.raises(DataError, match=rf"image_data.json: image {images[0]['image_id']}: image size must be"):
        preprocess(root, config=config, progress=False)


def test_generate_settings_come_from_the_config_only(tmp_path: Path) -> None:
    dm = SyntheticDataModule(tmp_path / "s", 184, 16, generate={"num_train": 3, "num_val": 2, "sed": 1})
    with pytest.raises(DataError, match=r"data.generate takes num_train, num_val, seed, rotate; unknown: \['sed'\], missing: \['seed'\]"):
        dm.prepare_data()
