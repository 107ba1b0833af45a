"""Sample grids: the layout on the real image, generated images, raw and adapted masks per object."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import pil_to_tensor
from torchvision.utils import make_grid

from lama.layout import draw_layout
from lama.sampling.images import color_masks, to_uint8

COLUMNS = ("layout", "generated", "raw masks", "adapted masks")
TITLE_HEIGHT = 16  # px of the white strip above the grid that names the columns


def sample_grid(
    real: torch.Tensor,
    fake: torch.Tensor,
    masks: torch.Tensor,
    raw_masks: torch.Tensor,
    labels: torch.Tensor,
    boxes: torch.Tensor,
    class_names: Sequence[str] | None = None,
    min_size: int = 128,
) -> torch.Tensor:
    """One row per layout: layout on the real image | generated | raw masks | adapted masks.
    real/fake (B, 3, R, R) in [-1, 1]; masks (B, O, R, R). Tiles are upscaled (nearest) to at least
    `min_size` px so the class names stay legible; a strip above names the columns (COLUMNS).
    Returns (3, TITLE_HEIGHT + H, W) uint8."""
    scale = max(1, -(-min_size // real.shape[-1]))
    if scale > 1:
        up = functools.partial(F.interpolate, scale_factor=scale, mode="nearest")
        real, fake, masks, raw_masks = up(real.float()), up(fake.float()), up(masks.float()), up(raw_masks.float())
    tiles = []
    for i in range(real.shape[0]):
        tiles += [
            draw_layout(real[i].cpu(), labels[i].cpu(), boxes[i].cpu(), class_names),
            to_uint8(fake[i].cpu()),
            color_masks(raw_masks[i], labels[i]),
            color_masks(masks[i], labels[i]),
        ]
    grid = make_grid(torch.stack(tiles), nrow=len(COLUMNS), padding=2, pad_value=255)
    return torch.cat([column_titles(grid.shape[-1], real.shape[-1] + 2), grid], dim=1)


def column_titles(width: int, column_width: int, titles: Sequence[str] = COLUMNS) -> torch.Tensor:
    """A white (3, TITLE_HEIGHT, width) uint8 strip with each title centred over its column."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (width, TITLE_HEIGHT), "white")
    draw = ImageDraw.Draw(strip)
    for k, title in enumerate(titles):
        draw.text((2 + k * column_width + column_width / 2, TITLE_HEIGHT / 2), title, fill="black", anchor="mm")
    return pil_to_tensor(strip)
