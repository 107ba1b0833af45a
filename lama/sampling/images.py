"""Image files: PNG reading and writing (uint8, or float in [-1, 1]) and masks in class colours; the [-1, 1] <-> uint8
conversions are lama.pixels', importable from here too."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image

from lama.layout import PAD_LABEL
from lama.pixels import object_color, to_uint8, to_unit_range

# to_uint8 and to_unit_range are lama.pixels', kept importable from here
__all__ = ["color_masks", "read_image", "to_uint8", "to_unit_range", "write_image"]


def read_image(path: str | Path) -> torch.Tensor:
    """An image file -> (3, H, W) uint8 RGB tensor."""
    with Image.open(path) as img:
        array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def write_image(path: str | Path | BinaryIO, image: torch.Tensor) -> None:
    """Write a (3, H, W) uint8 tensor, or float in [-1, 1], as a PNG to a path or a binary file object."""
    if image.is_floating_point():
        image = to_uint8(image)
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(path, format="PNG")


def color_masks(masks: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Colour one image's object masks (O, H, W), values >= 0, by class: -> (3, H, W) uint8.
    Each pixel mixes the object colours weighted by mask value; mask sums above 1 are normalised;
    padding slots (label 0) are left out."""
    real = labels != PAD_LABEL
    if not real.any():
        return torch.zeros(3, *masks.shape[-2:], dtype=torch.uint8)
    m = masks[real].float().clamp(min=0).cpu()
    colors = torch.tensor([object_color(int(c)) for c in labels[real]], dtype=torch.float32)  # (O, 3)
    image = torch.einsum("ohw,oc->chw", m, colors) / m.sum(0).clamp(min=1.0)
    return image.round().clamp(0, 255).to(torch.uint8)
