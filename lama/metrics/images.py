"""Image sets the metrics read: uint8 (3, H, W) tensors from sample folders, datasets and object crops
(the tensor <-> file conversions are lama.sampling.images)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from lama.layout import PAD_LABEL
from lama.sampling.images import read_image, to_uint8


class ImageFiles(Dataset):
    """Image files -> (3, H, W) uint8 tensors (the input type torch-fidelity takes)."""

    def __init__(self, files: Sequence[str | Path]):
        self.files = [Path(f) for f in files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return read_image(self.files[index])


class TensorList(Dataset):
    """Images held in memory: a list of (3, H, W) uint8 tensors as a dataset."""

    def __init__(self, images: Sequence[torch.Tensor]):
        self.images = list(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


class MappedImages(Dataset):
    """`get(i)` for i in range(n) -> (3, H, W) uint8; e.g. the real images of a layout dataset."""

    def __init__(self, get: Callable[[int], torch.Tensor], n: int):
        self.get, self.n = get, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.get(index)
        return to_uint8(image) if image.is_floating_point() else image


# How a box becomes the pixel window of a SceneFID / CAS crop, the same for real and generated images (the
# authors' scripts truncate the generated images' window and ceil the real images' one).
CROP_WINDOW = "left/top floored, right/bottom ceiled, the same window for real and generated images"
CROP_RESIZE = "torch bicubic, antialiased"


def box_to_pixel_window(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) fractions -> integer (left, top, right, bottom) pixels covering the box, at least 1 px."""
    x0, y0, w, h = (float(v) for v in box)
    left = min(max(int(np.floor(x0 * width)), 0), width - 1)
    top = min(max(int(np.floor(y0 * height)), 0), height - 1)
    right = max(min(int(np.ceil((x0 + w) * width)), width), left + 1)
    bottom = max(min(int(np.ceil((y0 + h) * height)), height), top + 1)
    return left, top, right, bottom


def crop_resize(image: torch.Tensor, box: Sequence[float], size: int) -> torch.Tensor:
    """Crop a (x0, y0, w, h)-fraction box from a (3, H, W) uint8 image, resize (bicubic) to size x size uint8."""
    left, top, right, bottom = box_to_pixel_window(box, image.shape[-1], image.shape[-2])
    crop = image[:, top:bottom, left:right].float()[None]
    out = F.interpolate(crop, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return out[0].clamp(0, 255).round().to(torch.uint8)


def object_entries(
    labels: Sequence[Sequence[int]], boxes: Sequence[Sequence[Sequence[float]]]
) -> list[tuple[int, int, list[float]]]:
    """(image index, label, box) for every non-padding object of a list of layouts (boxes in fractions)."""
    entries = []
    for index, (labs, bxs) in enumerate(zip(labels, boxes)):
        for label, box in zip(labs, bxs):
            if int(label) != PAD_LABEL:
                entries.append((index, int(label), [float(v) for v in box]))
    return entries


class ObjectCrops(Dataset):
    """Crops of objects of an image set, made on demand: item -> (3, size, size) uint8, or (crop, label)."""

    def __init__(self, images: Dataset, entries: Sequence[tuple[int, int, list[float]]], size: int,
                 with_labels: bool = False):
        self.images, self.entries, self.size, self.with_labels = images, list(entries), size, with_labels
        self._cached: tuple[int, torch.Tensor] | None = None  # consecutive crops usually share an image

    def __len__(self) -> int:
        return len(self.entries)

    def labels(self) -> torch.Tensor:
        """The class label of every crop, (N,) int64."""
        return torch.tensor([label for _, label, _ in self.entries], dtype=torch.int64)

    def __getitem__(self, index: int):
        image_index, label, box = self.entries[index]
        if self._cached is None or self._cached[0] != image_index:
            self._cached = (image_index, self.images[image_index])
        crop = crop_resize(self._cached[1], box, self.size)
        return (crop, label) if self.with_labels else crop
