"""The real side of evaluation: validation images, layouts and true masks looked up by image id."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from lama.sampling.images import to_uint8


class RealLayouts:
    """Wraps an unflipped layout dataset by image id: images through its items (the public contract:
    image (3, R, R) in [-1, 1]), layouts, ids and masks through layout(i), image_id(i), masks(i)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.index = {int(dataset.image_id(i)): i for i in range(dataset.num_images)}

    def __len__(self) -> int:
        return len(self.index)

    @property
    def image_ids(self) -> list[int]:
        """Every image id, in dataset order."""
        return list(self.index)

    def _position(self, image_id: int) -> int:
        try:
            return self.index[int(image_id)]
        except KeyError:
            raise KeyError(f"image id {image_id} is not in the real {type(self.dataset).__name__} split") from None

    def layout(self, image_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(O,) int64 labels and (O, 4) boxes (fractions) of a real image."""
        labels, boxes = self.dataset.layout(self._position(image_id))
        return torch.as_tensor(labels, dtype=torch.int64), torch.as_tensor(boxes, dtype=torch.float32)

    def masks(self, image_id: int) -> torch.Tensor:
        """(O, R, R) {0, 1} true instance masks of a real image."""
        return torch.as_tensor(self.dataset.masks(self._position(image_id)), dtype=torch.float32)

    def images(self, image_ids: Sequence[int]) -> Dataset:
        """The real images of `image_ids` as a dataset of (3, R, R) uint8 tensors."""
        return ItemImages(self.dataset, [self._position(i) for i in image_ids])


class ItemImages(Dataset):
    """dataset[positions[k]]["image"] ([-1, 1]) as uint8; picklable, so loader workers can use it."""

    def __init__(self, dataset: Dataset, positions: Sequence[int]):
        self.dataset, self.positions = dataset, list(positions)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, k: int) -> torch.Tensor:
        return to_uint8(self.dataset[self.positions[k]]["image"])
