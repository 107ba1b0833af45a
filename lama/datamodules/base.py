"""The item contract shared by every layout dataset: dicts with `image` (3, R, R) in [-1, 1],
`labels` (O,) int64, `boxes` (O, 4) normalised (x0, y0, w, h), `image_id`, optional `masks`;
`flip=True` doubles the length (second half mirrored), unreadable images are skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lama.datamodules.cache import ImageCache
from lama.datamodules.common import UNREADABLE, BadImageCounter, DataError, to_unit_tensor
from lama.layout import flip_boxes


class LayoutDataset(Dataset):
    """Base class: subclasses set `num_images`, `num_slots`, `image_dir`, `prepare_cmd` and implement
    `image_name`, `read_image` and `layout`; this class adds flipping, masks, bad-image skipping and
    reading through an image cache (lama.datamodules.cache) instead of decoding."""

    prepare_cmd = "python run.py task=prepare"
    image_dir: Path
    jpeg_draft: bool = False

    def __init__(self, resolution: int, flip: bool, return_masks: bool, max_bad_images: int) -> None:
        if int(resolution) <= 0:
            raise DataError(f"resolution must be a positive number of pixels, got {resolution}")
        self.resolution = int(resolution)
        self.flip = bool(flip)
        self.return_masks = bool(return_masks)
        self.bad_images = BadImageCounter(max_bad_images)
        self.class_names: list[str] = []
        self.image_cache: ImageCache | None = None

    # -- to implement ---------------------------------------------------------------------------
    num_images: int
    num_slots: int

    def image_name(self, i: int) -> str:  # pragma: no cover - abstract
        """File name of image number `i` (unflipped index), relative to `image_dir`."""
        raise NotImplementedError

    def image_path(self, i: int) -> Path:
        """Path of image number `i` (unflipped index)."""
        return self.image_dir / self.image_name(i)

    def read_image(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        """(R, R, 3) uint8 array of image `i`; raises OSError-like errors when unreadable."""
        raise NotImplementedError

    def layout(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        """(num_slots,) int64 labels and (num_slots, 4) float32 boxes of image `i`, unflipped."""
        raise NotImplementedError

    def image_id(self, i: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def masks(self, i: int) -> np.ndarray:
        """(num_slots, R, R) float32 {0,1} true instance masks of image `i` (zeros for padding)."""
        raise DataError(f"{type(self).__name__} has no instance masks (return_masks=True is not supported)")

    # -- shared behaviour -------------------------------------------------------------------------
    def image_names(self) -> list[str]:
        """File names (relative to image_dir) of every image, in index order: what a cache must hold."""
        return [self.image_name(i) for i in range(self.num_images)]

    def use_image_cache(self, cache_dir: str | Path | None) -> None:
        """Read images from the cache at cache_dir (None: decode again). DataError, naming the cache and
        the prepare command, when it is of another resolution or JPEG mode, lacks an image of this
        dataset, or was written from files that have changed since."""
        if cache_dir is None:
            self.image_cache = None
            return
        cache = ImageCache(cache_dir, self.resolution, self.prepare_cmd)
        if cache.draft != self.jpeg_draft:
            raise DataError(
                f"image cache {cache.cache_dir} was written with jpeg_draft={cache.draft}, the dataset uses "
                f"jpeg_draft={self.jpeg_draft}; point image_cache at the matching cache or rerun `{self.prepare_cmd}`"
            )
        cache.check_source(self.image_dir, self.image_names())
        self.image_cache = cache

    def _read(self, i: int) -> np.ndarray:
        if self.image_cache is not None:
            return self.image_cache.uint8_by_name(self.image_name(i))
        return self.read_image(i)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return self.num_images * (2 if self.flip else 1)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        base, flipped = index % self.num_images, index >= self.num_images
        # An unreadable image is replaced by the next readable one, so an epoch never crashes.
        for step in range(self.num_images):
            i = (base + step) % self.num_images
            try:
                image = self._read(i)
            except UNREADABLE as err:
                self.bad_images.record(self.image_path(i), err)
                continue
            return self._item(i, image, flipped)
        raise DataError(f"none of the {self.num_images} images under {self.image_dir} is readable "
                        f"(first: {self.image_path(base)}); re-extract the image archive")  # fmt: skip

    def _item(self, i: int, image: np.ndarray, flipped: bool) -> dict[str, torch.Tensor | int]:
        labels, boxes = self.layout(i)
        item: dict[str, torch.Tensor | int] = {
            "image": to_unit_tensor(image, flipped),
            "labels": labels,
            "boxes": flip_boxes(boxes, labels) if flipped else boxes,
        }
        if self.return_masks:
            masks = self.masks(i)
            item["masks"] = torch.from_numpy(np.ascontiguousarray(masks[..., ::-1] if flipped else masks))
        item["image_id"] = self.image_id(i)
        return item
