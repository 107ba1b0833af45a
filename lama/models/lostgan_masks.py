"""LostGAN-V2's masks: the mask network v2 (16x16 shapes pasted on a 64x64 canvas), the hard box masks,
and the per-stage class-logit heads (a conv head, or a PSP head) that refine the masks block by block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.models.blocks import sn
from lama.models.masks import paste_masks

MASKNET_CH = 256  # channels of the mask network, independent of the generator width
MASKNET_SIZE = 16  # side of the per-object mask before pasting
CANVAS = 64  # side of the canvas the masks are pasted on, at 128 and 256 px
HEAD_CH = 100  # hidden channels of the class-logit heads and the PSP module
MASK_CLASSES = 184  # class-logit channels (COCO's 184), whatever the class count (more only if it is larger)
PSP_SIZES = (1, 2, 3, 6)


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Hard masks (B, O, size, size): 1 where 0 <= (c/(size-1) - x0)/w <= 1 and likewise for rows, else 0."""
    steps = torch.linspace(0, 1, steps=size, device=boxes.device, dtype=boxes.dtype)
    x0, y0, w, h = (t.unsqueeze(-1) for t in boxes.unbind(-1))
    x, y = (steps - x0) / w, (steps - y0) / h  # (B, O, size) each
    inside_x, inside_y = (x >= 0) & (x <= 1), (y >= 0) & (y <= 1)
    return (inside_y.unsqueeze(-1) & inside_x.unsqueeze(-2)).to(boxes.dtype)


class MaskNetV2(nn.Module):
    """Styles (B, O, F) and boxes -> object masks (B, O, 64, 64) in [0, 1]: SN-linear to 256 x 4 x 4, three
    (SN-conv, InstanceNorm, ReLU) stages with bilinear x2 between them, SN-conv1x1, sigmoid, pasted."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.fc = sn(nn.Linear(in_features, MASKNET_CH * 4 * 4))
        for i in (1, 2, 3):
            stage = [sn(nn.Conv2d(MASKNET_CH, MASKNET_CH, 3, padding=1)), nn.InstanceNorm2d(MASKNET_CH), nn.ReLU()]
            if i == 3:
                stage += [sn(nn.Conv2d(MASKNET_CH, 1, 1)), nn.Sigmoid()]
            self.add_module(f"conv{i}", nn.Sequential(*stage))

    def forward(self, w: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        b, o = w.shape[:2]
        x = self.fc(w.reshape(b * o, -1)).view(b * o, MASKNET_CH, 4, 4)
        x = F.interpolate(self.conv1(x), size=8, mode="bilinear", align_corners=False)
        x = F.interpolate(self.conv2(x), size=16, mode="bilinear", align_corners=False)
        shapes = self.conv3(x).view(b, o, MASKNET_SIZE, MASKNET_SIZE)
        return paste_masks(shapes, boxes, CANVAS)


class PSPModule(nn.Module):
    """Pyramid pooling: (avg-pool to s, conv1x1, BN, ReLU, bilinear back) for s in 1, 2, 3, 6, concatenated
    with the input, then conv3x3, BN, ReLU, Dropout2d(0.1) -> HEAD_CH channels."""

    def __init__(self, features: int, out: int = HEAD_CH) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(s), nn.Conv2d(features, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()
            )
            for s in PSP_SIZES
        )
        self.bottleneck = nn.Sequential(
            nn.Conv2d(features + len(PSP_SIZES) * out, out, 3, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(),
            nn.Dropout2d(0.1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        priors = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=True) for stage in self.stages]
        return self.bottleneck(torch.cat([*priors, x], dim=1))


def logit_head(channels: int, classes: int, psp: bool = False) -> nn.Sequential:
    """Per-class mask logits (B, classes, H, W) from block features: conv3x3-BN-ReLU-conv1x1, or PSP-conv1x1."""
    if psp:
        return nn.Sequential(PSPModule(channels), nn.Conv2d(HEAD_CH, classes, 1))
    return nn.Sequential(
        nn.Conv2d(channels, HEAD_CH, 3, padding=1), nn.BatchNorm2d(HEAD_CH), nn.ReLU(), nn.Conv2d(HEAD_CH, classes, 1)
    )
