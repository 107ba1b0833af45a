"""The mask network: per-object 32x32 shape masks pasted into their boxes, then (optionally) the
locality-aware mask adaption (LAMA) that lets overlapping objects negotiate their pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.models.blocks import LRELU_SLOPE, GatedConvBlock, sn

MASK_CH = 128  # the authors' channels of the mask network, independent of the generator width
MASK_SIZE = 32  # side of the per-object mask before pasting
ADAPT_SIZE = 64  # side at which the LAMA adapter compares objects


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Paste (B, O, m, m) object masks into their (x0, y0, w, h) fraction boxes on a size x size canvas
    by bilinear sampling; pixels outside a box get 0. Returns (B, O, size, size)."""
    b, o = masks.shape[:2]
    flat_boxes = boxes.reshape(b * o, 4, 1, 1).to(masks.dtype)
    x0, y0, w, h = flat_boxes.unbind(1)
    # Pixel i of the canvas sits at i / (size - 1) in [0, 1]; map it into box coordinates, then to [-1, 1].
    steps = torch.linspace(0, 1, steps=size, device=masks.device, dtype=masks.dtype)
    gx = ((steps.view(1, 1, size) - x0) / w).expand(b * o, size, size)
    gy = ((steps.view(1, size, 1) - y0) / h).expand(b * o, size, size)
    grid = torch.stack([gx, gy], dim=3) * 2 - 1
    pasted = F.grid_sample(
        masks.reshape(b * o, 1, *masks.shape[2:]),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    return pasted.view(b, o, size, size)


class LamaAdapter(nn.Module):
    """Locality-aware mask adaption: scales each raw mask by tanh(beta * energy) + 1 in [0, 2], where the
    energy compares an object's key with a per-pixel query aggregated from all objects' masks."""

    def __init__(self, in_features: int, groups: int = 4) -> None:
        super().__init__()
        dim = in_features // 4
        self.key_affine = sn(nn.Linear(in_features, dim))
        self.query_affine = sn(nn.Linear(in_features, dim))
        self.query_local = nn.Sequential(
            GatedConvBlock(nn.GroupNorm(groups, dim, affine=True), dim),
            GatedConvBlock(nn.GroupNorm(groups, dim, affine=True), dim),
        )
        self.mask_adjust_alpha = nn.Parameter(torch.zeros(()))  # beta: 0 makes the adapter the identity

    def forward(self, features: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """features (B, O, F) mask inputs; raw (B, O, R, R) pasted masks in [0, 1] -> adapted (B, O, R, R)."""
        b, o, size = raw.shape[0], raw.shape[1], raw.shape[-1]
        key = self.key_affine(features)  # (B, O, d)
        query = self.query_affine(features)  # (B, O, d)
        small = raw
        if size != ADAPT_SIZE:
            small = F.interpolate(raw, size=(ADAPT_SIZE, ADAPT_SIZE), mode="bilinear", align_corners=False)
        pixel_query = torch.bmm(query.transpose(1, 2), small.reshape(b, o, -1))
        pixel_query = self.query_local(pixel_query.view(b, -1, ADAPT_SIZE, ADAPT_SIZE))
        energy = torch.bmm(key, pixel_query.flatten(2)).view(b, o, ADAPT_SIZE, ADAPT_SIZE)
        adjust = torch.tanh(energy * self.mask_adjust_alpha.clamp(-1, 1)) + 1
        if size != ADAPT_SIZE:
            adjust = F.interpolate(adjust, size=(size, size), mode="bilinear", align_corners=False)
        return raw * adjust


class MaskNet(nn.Module):
    """Object masks from (label embedding, latent, box w/h) features: (B, O, F) -> (B, O, R, R) twice,
    the adapted masks (in [0, 2]) and the raw pasted ones (in [0, 1]). `channels` is its width (the
    authors' 128; at width 8 the mask net is most of the generator's cost, so small runs may narrow it)."""

    def __init__(self, in_features: int, resolution: int, lama: bool = True, channels: int = MASK_CH) -> None:
        super().__init__()
        self.resolution, self.channels = resolution, channels
        self.fc = sn(nn.Linear(in_features, channels * 4 * 4))
        self.conv1 = GatedConvBlock(nn.BatchNorm2d(channels), channels)
        self.conv2 = GatedConvBlock(nn.BatchNorm2d(channels), channels)
        self.conv3 = GatedConvBlock(nn.BatchNorm2d(channels), channels)
        self.final = nn.Sequential(
            nn.BatchNorm2d(channels), nn.LeakyReLU(LRELU_SLOPE), sn(nn.Conv2d(channels, 1, 1)), nn.Sigmoid()
        )
        self.adapter = LamaAdapter(in_features) if lama else None

    def forward(self, features: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, O, F); boxes (B, O, 4) fractions -> (adapted masks, raw masks), each (B, O, R, R)."""
        b, o = features.shape[:2]
        x = self.fc(features.reshape(b * o, -1)).view(b * o, self.channels, 4, 4)
        for block in (self.conv1, self.conv2, self.conv3):
            x = F.interpolate(block(x), scale_factor=2, mode="bilinear", align_corners=False)
        shapes = self.final(x).view(b, o, MASK_SIZE, MASK_SIZE)
        raw = paste_masks(shapes, boxes, self.resolution)
        if self.adapter is None:
            return raw, raw
        return self.adapter(features, raw), raw
