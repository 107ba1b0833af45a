"""Pixel values: float images in [-1, 1] <-> uint8 in [0, 255], and the RGB colour each class label is
drawn in. Below both lama.layout (drawing layouts) and lama.sampling.images (writing images and masks)."""

from __future__ import annotations

import torch


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255] (same shape, same device)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def object_color(label: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour (0-255 per channel) per class label."""
    g = torch.Generator().manual_seed(int(label) * 7919 + 17)
    rgb = torch.randint(40, 256, (3,), generator=g)
    return tuple(int(c) for c in rgb)
