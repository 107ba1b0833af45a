"""Data-loader throughput on photo-sized JPEGs: per-item decode + resize (the datasets' path) against the
uint8 image cache, each through a DataLoader with and without worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from lama.datamodules.cache import ImageCache, write_image_cache
from lama.datamodules.common import load_image, to_unit_tensor
from lama.datamodules.throughput import images_per_second
from lama.device import single_threaded


def write_photos(out_dir: Path, count: int, width: int = 640, height: int = 480, seed: int = 0) -> list[str]:
    """Write `count` photo-sized JPEGs (smooth colour fields with grain, quality 90, like COCO's) and
    return their file names. Photo-like content keeps the decode cost realistic."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        coarse = rng.uniform(0, 255, size=(height // 32, width // 32, 3)).astype(np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.int16)
        grain = rng.normal(0, 12, size=(height, width, 3))
        pixels = np.clip(field + grain, 0, 255).astype(np.uint8)
        name = f"{i:06d}.jpg"
        Image.fromarray(pixels).save(out_dir / name, quality=90)
        names.append(name)
    return names


class DecodeDataset(Dataset):
    """Images decoded and resized item by item, then scaled to [-1, 1], as lama.datamodules' datasets do."""

    def __init__(self, image_dir: Path, names: list[str], resolution: int) -> None:
        self.image_dir, self.names, self.resolution = image_dir, names, resolution

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": to_unit_tensor(load_image(self.image_dir / self.names[i], self.resolution)[0])}


class CachedDataset(Dataset):
    """The same images read from the uint8 cache (same conversion to [-1, 1])."""

    def __init__(self, cache: ImageCache) -> None:
        self.cache = cache

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.cache.read(i)}


def loader_throughput(
    work_dir: Path, count: int, items: int, resolution: int, batch: int, workers: list[int], seed: int = 0
) -> dict[str, float]:
    """Write `count` JPEGs and their cache under work_dir, then time `items` images (the files repeated)
    through a DataLoader per worker count, decoding and from the cache; keys
    loader_images_per_s_{decode,cached}_w{N} (worker start-up included, as at every epoch without
    persistent workers). Timed with one torch intra-op thread, as inside a DataLoader worker process: with
    more, the collate's small copies wait tens of milliseconds for busy threads on a loaded CPU."""
    image_dir = work_dir / "jpeg"
    names = write_photos(image_dir, count, seed=seed)
    cache = ImageCache(write_image_cache(image_dir, names, work_dir / "cache", resolution, progress=False))
    out = {}
    with single_threaded():
        for n in workers:
            decoded = images_per_second(DecodeDataset(image_dir, names, resolution), items, n, batch)
            cached = images_per_second(CachedDataset(cache), items, n, batch)
            out[f"loader_images_per_s_decode_w{n}"], out[f"loader_images_per_s_cached_w{n}"] = decoded, cached
    return out
