"""The datasets read through the image cache task=prepare writes: items identical to decoding
(flips and masks included), clear errors for stale or corrupt caches, picklable for loader workers."""

import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lama.datamodules import CocoStuff, DataError, VisualGenome
from lama.datamodules.cache import write_image_cache
from lama.datamodules.synthetic import SyntheticDataModule
from lama.datamodules.visual_genome import VisualGenomeDataModule


def _assert_same_items(a, b) -> None:
    assert len(a) == len(b)
    for k in range(len(a)):
        x, y = a[k], b[k]
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], torch.Tensor):
                assert torch.equal(x[key], y[key]), f"item {k}, {key}"
            else:
                assert x[key] == y[key], f"item {k}, {key}"


def _synthetic(root: Path, cache_dir: Path | None, **extra) -> SyntheticDataModule:
    return SyntheticDataModule(root, 184, 32, cache_dir=cache_dir, dataset={"cache": False}, **extra)


def _images_dir(dm) -> Path:
    return dm.root_cache_dir("images")


@pytest.fixture()
def scenes(synthetic_root: Path, tmp_path: Path) -> Path:
    """A private copy of the session's synthetic scenes (some tests change its files)."""
    root = tmp_path / "scenes"
    shutil.copytree(synthetic_root, root, ignore=shutil.ignore_patterns("vg"))
    return root


def test_prepare_writes_caches_the_datasets_read_pixel_for_pixel(scenes: Path, tmp_path: Path) -> None:
    written = _synthetic(scenes, tmp_path / "cache").write_image_caches()
    dm = _synthetic(scenes, tmp_path / "cache", return_masks=True)
    assert written == {s: str(_images_dir(dm) / f"{s}_32px") for s in ("train", "val")}
    dm.setup("fit")
    assert dm.train_dataset.image_cache is not None and dm.val_dataset.image_cache is not None
    for split, flip in (("train", True), ("val", False)):
        decoded = CocoStuff(scenes, split, 32, flip=flip, return_masks=True)
        assert decoded.image_cache is None
        cached = dm.train_dataset if split == "train" else dm.val_dataset
        _assert_same_items(cached, decoded)  # images, flipped copies, labels, boxes, masks, ids
    off = _synthetic(scenes, tmp_path / "cache", image_cache=None)
    assert off.make_dataset("val").image_cache is None


def test_real_coco_images_through_the_cache(realdata_dir: Path, tmp_path: Path) -> None:
    root = realdata_dir / "coco"
    decoded = CocoStuff(root, "val", 32, flip=True, max_objects=20)
    assert len(decoded.image_ids) == 2
    out = write_image_cache(decoded.image_dir, decoded.image_names(), tmp_path / "val_32px", 32, progress=False)
    cached = CocoStuff(root, "val", 32, flip=True, max_objects=20, image_cache=out)
    _assert_same_items(cached, decoded)


def test_visual_genome_through_the_cache(prepared_vg: Path, tmp_path: Path) -> None:
    vg = prepared_vg
    classes = len(VisualGenome(vg, "train", 32).class_names)
    dm = VisualGenomeDataModule(vg, classes, 32, cache_dir=tmp_path / "cache")
    assert set(dm.write_image_caches()) == {"train", "val", "test"}
    cached = dm.make_dataset("train", flip=True)
    assert cached.image_cache is not None
    _assert_same_items(cached, VisualGenome(vg, "train", 32, flip=True))


def test_stale_or_corrupt_cache_is_a_clear_error(scenes: Path, tmp_path: Path) -> None:
    ds = CocoStuff(scenes, "val", 32)
    names = ds.image_names()
    partial = write_image_cache(ds.image_dir, names[:-1], tmp_path / "partial", 32, progress=False)
    with pytest.raises(DataError, match=rf"stale image cache {partial}.*{names[-1]}.*task=prepare data=coco_stuff"):
        ds.use_image_cache(partial)
    full = write_image_cache(ds.image_dir, names, tmp_path / "full", 32, progress=False)
    with pytest.raises(DataError, match="holds 32 px images, but 16 px"):
        CocoStuff(scenes, "val", 16, image_cache=full)
    with pytest.raises(DataError, match=r"no image cache at .*nowhere.*task=prepare data=coco_stuff"):
        ds.use_image_cache(tmp_path / "nowhere")
    # the source images were regenerated after the cache was written
    first = ds.image_dir / names[0]
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(DataError, match=rf"stale image cache {full}: .*{names[0]} changed"):
        ds.use_image_cache(full)
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    ds.use_image_cache(full)
    # a truncated shard
    shard = full / "shard_00000.npy"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(DataError, match=rf"corrupt image cache {full}"):
        ds.use_image_cache(full)


def test_auto_ignores_a_cache_of_another_dataset(scenes: Path, synthetic_root: Path, tmp_path: Path) -> None:
    other = CocoStuff(synthetic_root, "val", 32)
    dm = _synthetic(scenes, tmp_path / "cache")
    write_image_cache(other.image_dir, other.image_names(), _images_dir(dm) / "val_32px", 32, progress=False)
    with pytest.warns(UserWarning, match="decoding instead"):
        assert dm.make_dataset("val").image_cache is None
    explicit = _synthetic(scenes, None, image_cache=str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match="elsewhere"):
        explicit.make_dataset("val")  # an explicit directory must hold the cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = _synthetic(scenes, tmp_path / "none")
        assert empty.make_dataset("val").image_cache is None  # auto without a cache: decode silently


def test_cached_dataset_in_loader_workers(scenes: Path, tmp_path: Path) -> None:
    ds = CocoStuff(scenes, "val", 32, flip=True)
    ds.use_image_cache(write_image_cache(ds.image_dir, ds.image_names(), tmp_path / "c", 32, progress=False))
    ds[0]  # memory maps open in this process; pickling must drop them
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[3]["image"], ds[3]["image"])
    batches = list(DataLoader(ds, batch_size=8, num_workers=1))
    images = torch.cat([b["image"] for b in batches])
    expected = torch.stack([ds[k]["image"] for k in range(len(ds))])
    assert torch.equal(images, expected)
    assert np.isfinite(images.numpy()).all()
