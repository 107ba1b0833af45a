"""The uint8 image cache (lama/datamodules/cache.py) returns exactly what per-item decoding returns."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from lama.datamodules.cache import ImageCache, cache_name, is_complete, write_image_cache
from lama.datamodules.common import DataError, load_image, to_unit_tensor


@pytest.fixture()
def image_dir(tmp_path):
    """Five small images of different sizes and modes (RGB JPEG, grayscale PNG, RGBA PNG) + one broken file."""
    rng = np.random.default_rng(0)
    d = tmp_path / "images"
    d.mkdir()
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(d / "a.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (17, 23), dtype=np.uint8)).save(d / "b.png")
    Image.fromarray(rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)).save(d / "c.png")
    Image.fromarray(rng.integers(0, 256, (50, 20, 3), dtype=np.uint8)).save(d / "d.jpg", quality=75)
    Image.fromarray(rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)).save(d / "e.png")
    (d / "broken.jpg").write_bytes(b"not a jpeg")
    return d


NAMES = ["a.jpg", "b.png", "c.png", "d.jpg", "e.png"]


@pytest.mark.parametrize("shard_size", [2, 100])
def test_cache_equals_per_item_decode(image_dir, tmp_path, shard_size):
    out = write_image_cache(image_dir, NAMES, tmp_path / "cache", 16, shard_size=shard_size, progress=False)
    cache = ImageCache(out, resolution=16)
    assert len(cache) == len(NAMES)
    assert len(list(out.glob("shard_*.npy"))) == -(-len(NAMES) // shard_size)
    for i, name in enumerate(NAMES):
        decoded, _ = load_image(image_dir / name, 16)
        assert cache.uint8(i).dtype == np.uint8 and cache.uint8(i).shape == (16, 16, 3)
        np.testing.assert_array_equal(cache.uint8(i), decoded)
        np.testing.assert_array_equal(cache.uint8_by_name(name), decoded)
        torch.testing.assert_close(cache.read(i), to_unit_tensor(decoded), rtol=0, atol=0)


def test_unreadable_file_is_recorded_and_raises_oserror(image_dir, tmp_path):
    cache = ImageCache(
        write_image_cache(image_dir, ["a.jpg", "broken.jpg"], tmp_path / "c", 8, progress=False)
    )
    assert cache.read(0).shape == (3, 8, 8) and cache.read(0).abs().max() <= 1
    with pytest.raises(OSError, match="broken.jpg"):
        cache.read(1)


def test_errors_name_the_problem(image_dir, tmp_path):
    with pytest.raises(DataError, match="task=prepare"):
        ImageCache(tmp_path / "nowhere")
    out = write_image_cache(image_dir, NAMES[:2], tmp_path / "c", 8, progress=False)
    with pytest.raises(DataError, match="8 px"):
        ImageCache(out, resolution=64)
    with pytest.raises(DataError, match="zz.jpg"):
        ImageCache(out).uint8_by_name("zz.jpg")
    with pytest.raises(IndexError):
        ImageCache(out).read(2)


def test_complete_cache_is_reused_and_a_changed_one_rewritten(image_dir, tmp_path):
    out = write_image_cache(image_dir, NAMES[:3], tmp_path / "c", 8, progress=False)
    stamp = (out / "index.json").stat().st_mtime_ns
    assert is_complete(out, NAMES[:3], 8)
    write_image_cache(image_dir, NAMES[:3], out, 8, progress=False)
    assert (out / "index.json").stat().st_mtime_ns == stamp
    write_image_cache(image_dir, NAMES, out, 8, progress=False)
    assert len(ImageCache(out)) == len(NAMES)
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no temporary directory left


def test_cache_pickles_for_loader_workers(image_dir, tmp_path):
    cache = ImageCache(write_image_cache(image_dir, NAMES, tmp_path / "c", 8, progress=False))
    cache.read(0)  # opens the memory maps
    clone = pickle.loads(pickle.dumps(cache))
    torch.testing.assert_close(clone.read(4), cache.read(4))


def test_cache_name_carries_resolution_and_draft():
    assert cache_name("train", 128) == "train_128px"
    assert cache_name("val", 64, draft=True) == "val_64px_draft"
