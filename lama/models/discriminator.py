"""The LAMA / LostGAN-V2 discriminator: an image branch and a projection-style object branch on
ROI-aligned features (small and large objects read different feature levels at 128 and 256 px)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from lama.layout import PAD_LABEL, check_layout_tensors
from lama.models.blocks import lrelu, sn

ROI_SIZE = 8


class DFirstBlock(nn.Module):
    """First block: clamp(a) * pool(conv(LReLU(conv(x)))) + conv1x1(pool(x)), no activation on the input."""

    def __init__(self, in_ch: int, out_ch: int, down: bool = True) -> None:
        super().__init__()
        self.down = down
        self.conv1 = sn(nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.conv2 = sn(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.c_sc = sn(nn.Conv2d(in_ch, out_ch, 1))
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(lrelu(self.conv1(x)))
        if self.down:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        return self.alpha.clamp(-1, 1) * h + self.c_sc(x)


class DBlock(nn.Module):
    """clamp(a) * pool(conv(LReLU(conv(LReLU(x))))) + shortcut, the shortcut being pool(conv1x1(x)) (computed
    as conv1x1(pool(x)), the same linear map) when the channels change or the block downsamples, x otherwise."""

    def __init__(self, in_ch: int, out_ch: int, down: bool = True) -> None:
        super().__init__()
        self.down = down
        self.conv1 = sn(nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.conv2 = sn(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.c_sc = sn(nn.Conv2d(in_ch, out_ch, 1)) if (in_ch != out_ch or down) else None
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(lrelu(self.conv1(lrelu(x))))
        if self.down:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        if self.c_sc is not None:
            # The authors pool after the 1x1 conv; both are linear and the pool keeps the bias, so pooling
            # first is the same function with a quarter of the shortcut's FLOPs (rounding differs ~1e-7).
            x = self.c_sc(x)
        return self.alpha.clamp(-1, 1) * h + x


# resolution -> image blocks as (in mult, out mult, downsample); the first is a DFirstBlock
IMAGE_BLOCKS = {
    64: ((None, 1, False), (1, 2, False), (2, 4, True), (4, 8, True), (8, 16, True)),
    128: ((None, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 8, True), (8, 16, False)),
    256: (
        (None, 1, True),
        (1, 2, True),
        (2, 4, True),
        (4, 4, True),
        (4, 8, True),
        (8, 8, True),
        (8, 16, False),
    ),
}
# resolution -> object blocks by the authors' index: (in mult, out mult, downsample)
OBJECT_BLOCKS = {
    64: {4: (4, 8, True)},
    128: {3: (2, 4, False), 4: (4, 8, False), 5: (8, 16, True)},
    256: {4: (4, 4, False), 5: (4, 8, False), 6: (8, 16, True)},
}
# resolution -> (index of the image block giving the small-object features f1, index for f2, size limit px)
LEVELS = {64: (3, None, None), 128: (2, 3, 64), 256: (3, 4, 128)}


class Discriminator(nn.Module):
    """D(images (B, 3, R, R) in [-1, 1], boxes (B, O, 4) fractions, labels (B, O)) -> (d_img (B, 1),
    d_obj (N, 1)) for the N non-padding objects, large objects first then small (at 128 and 256 px)."""

    def __init__(self, resolution: int, num_classes: int, ch: int = 64) -> None:
        super().__init__()
        if resolution not in IMAGE_BLOCKS:
            raise ValueError(f"resolution must be one of {sorted(IMAGE_BLOCKS)}, got {resolution}")
        self.resolution, self.num_classes, self.ch = resolution, num_classes, ch
        for i, (a, b, down) in enumerate(IMAGE_BLOCKS[resolution], start=1):
            block = DFirstBlock(3, b * ch, down) if a is None else DBlock(a * ch, b * ch, down)
            self.add_module(f"block{i}", block)
        self.l_im = sn(nn.Linear(16 * ch, 1, bias=False))
        for i, (a, b, down) in OBJECT_BLOCKS[resolution].items():
            self.add_module(f"block_obj{i}", DBlock(a * ch, b * ch, down))
        obj_ch = max(b for _, b, _ in OBJECT_BLOCKS[resolution].values()) * ch
        self.l_obj = sn(nn.Linear(obj_ch, 1, bias=False))
        self.l_y = sn(nn.Embedding(num_classes, obj_ch))

    def forward(
        self, images: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(d_img (B, 1), d_obj (N, 1)) for images in [-1, 1] and their layouts."""
        check_layout_tensors(labels, boxes)
        r = self.resolution
        if images.dim() != 4 or images.shape[1:] != (3, r, r) or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images must be (B, 3, {r}, {r}) with B = {labels.shape[0]}, got {tuple(images.shape)}"
            )

        f1_at, f2_at, _ = LEVELS[r]
        feats = {}
        x = images
        for i in range(1, len(IMAGE_BLOCKS[r]) + 1):
            x = getattr(self, f"block{i}")(x)
            feats[i] = x
        x = lrelu(x)
        # The 256 px network sums over positions; 64 and 128 average.
        x = x.sum(dim=(2, 3)) if r == 256 else x.mean(dim=(2, 3))
        d_img = self.l_im(x)

        rois, y = self._rois(boxes, labels, images.dtype)
        if r == 64:
            obj = self.block_obj4(
                roi_align(feats[f1_at], rois, ROI_SIZE, 1 / 2, sampling_ratio=0, aligned=False)
            )
        else:
            small = self._is_small(rois)
            obj = self._two_level_features(feats[f1_at], feats[f2_at], rois, small)
            y = torch.cat([y[~small], y[small]])  # the authors' order: large objects first
        obj = lrelu(obj).sum(dim=(2, 3))
        d_obj = self.l_obj(obj) + (self.l_y(y) * obj).sum(dim=1, keepdim=True)
        return d_img, d_obj

    def _rois(
        self, boxes: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, 5) ROIs (image index, x0, y0, x1, y1) in input pixels for the non-padding slots, row-major."""
        b, o = labels.shape
        idx = torch.arange(b, device=boxes.device, dtype=dtype).view(b, 1, 1).expand(b, o, 1)
        x0, y0, w, h = boxes.to(dtype).unbind(-1)
        xyxy = torch.stack([x0, y0, x0 + w, y0 + h], dim=-1) * self.resolution
        rois = torch.cat([idx, xyxy], dim=-1).view(b * o, 5)
        keep = (labels != PAD_LABEL).view(-1)
        return rois[keep], labels.view(-1)[keep]

    def _is_small(self, rois: torch.Tensor) -> torch.Tensor:
        limit = LEVELS[self.resolution][2]
        width, height = rois[:, 3] - rois[:, 1], rois[:, 4] - rois[:, 2]
        if self.resolution == 128:
            return (width < limit) & (height < limit)
        return (width <= limit) & (height <= limit)

    def _two_level_features(
        self, f1: torch.Tensor, f2: torch.Tensor, rois: torch.Tensor, small: torch.Tensor
    ) -> torch.Tensor:
        """128/256 px: small objects read the finer level f1, large ones f2; both pass a shared block,
        then ROIAlign, then the last object block. Returns large objects first, then small."""
        if self.resolution == 128:
            fine, shared, last, s_scale, l_scale = (
                self.block_obj3,
                self.block_obj4,
                self.block_obj5,
                1 / 4,
                1 / 8,
            )
        else:
            fine, shared, last, s_scale, l_scale = (
                self.block_obj4,
                self.block_obj5,
                self.block_obj6,
                1 / 8,
                1 / 16,
            )
        # Both paths always run (as the authors' do), so every parameter gets a gradient under DDP.
        s_feat = roi_align(shared(fine(f1)), rois[small], ROI_SIZE, s_scale, sampling_ratio=0, aligned=False)
        l_feat = roi_align(shared(f2), rois[~small], ROI_SIZE, l_scale, sampling_ratio=0, aligned=False)
        return last(torch.cat([l_feat, s_feat]))


def build_discriminator(resolution: int, num_classes: int, ch: int = 64) -> Discriminator:
    """The LAMA discriminator for 64, 128 or 256 px images."""
    return Discriminator(int(resolution), int(num_classes), int(ch))
