"""The LAMA and LostGAN-V2 discriminators: an image branch and a projection-style object branch on
ROI-aligned features (small and large objects read different feature levels at 128 and 256 px). One
network, parametrised by a DArch: the two differ in widths, activation, gates, head biases and pooling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from lama.layout import PAD_LABEL, check_layout_tensors
from lama.models.arch import check_arch
from lama.models.blocks import CONV_SN_EPS, lrelu, sn

ROI_SIZE = 8


class _DResidual(nn.Module):
    """Shared parts of the two block kinds: activation, SN convs and LAMA's clamp(a) residual gate."""

    def __init__(self, in_ch: int, out_ch: int, down: bool, gated: bool, act: Callable, eps: float) -> None:
        super().__init__()
        self.down, self.act = down, act
        self.conv1 = sn(nn.Conv2d(in_ch, out_ch, 3, padding=1), eps=eps)
        self.conv2 = sn(nn.Conv2d(out_ch, out_ch, 3, padding=1), eps=eps)
        self.alpha = nn.Parameter(torch.zeros(())) if gated else None

    def gate(self, h: torch.Tensor) -> torch.Tensor:
        return h if self.alpha is None else self.alpha.clamp(-1, 1) * h


class DFirstBlock(_DResidual):
    """First block: gate * pool(conv(act(conv(x)))) + conv1x1(pool(x)), no activation on the input."""

    def __init__(self, in_ch: int, out_ch: int, down: bool = True, gated: bool = True, act: Callable = lrelu,
                 eps: float = 1e-12) -> None:  # fmt: skip
        super().__init__(in_ch, out_ch, down, gated, act, eps)
        self.c_sc = sn(nn.Conv2d(in_ch, out_ch, 1), eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.act(self.conv1(x)))
        if self.down:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        return self.gate(h) + self.c_sc(x)


class DBlock(_DResidual):
    """gate * pool(conv(act(conv(act(x))))) + shortcut, the shortcut being pool(conv1x1(x)) (computed as
    conv1x1(pool(x)), the same linear map) when the channels change or the block downsamples, x otherwise."""

    def __init__(self, in_ch: int, out_ch: int, down: bool = True, gated: bool = True, act: Callable = lrelu,
                 eps: float = 1e-12) -> None:  # fmt: skip
        super().__init__(in_ch, out_ch, down, gated, act, eps)
        self.c_sc = sn(nn.Conv2d(in_ch, out_ch, 1), eps=eps) if (in_ch != out_ch or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.act(self.conv1(self.act(x))))
        if self.down:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        if self.c_sc is not None:
            # The authors pool after the 1x1 conv; both are linear and the pool keeps the bias, so pooling
            # first is the same function with a quarter of the shortcut's FLOPs (rounding differs ~1e-7).
            x = self.c_sc(x)
        return self.gate(h) + x


@dataclass(frozen=True)
class DArch:
    """One discriminator design at one resolution."""

    image_blocks: tuple  # (in mult or None for the first block, out mult, downsample)
    object_blocks: dict  # authors' index -> (in mult, out mult, downsample)
    levels: tuple  # (image block giving f1, block giving f2 or None, small-object size limit in px)
    small_inclusive: bool = False  # LAMA 256: "at most" the limit is small; elsewhere strictly below
    sum_image: bool = True  # the image score sums over positions (else averages)
    head_bias: bool = False
    gated: bool = True
    act: Callable = lrelu
    sn_eps: float = 1e-12


D_ARCHS = {
    ("lama", 64): DArch(
        ((None, 1, False), (1, 2, False), (2, 4, True), (4, 8, True), (8, 16, True)),
        {4: (4, 8, True)}, (3, None, None), sum_image=False,
    ),
    ("lama", 128): DArch(
        ((None, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 8, True), (8, 16, False)),
        {3: (2, 4, False), 4: (4, 8, False), 5: (8, 16, True)}, (2, 3, 64), sum_image=False,
    ),
    ("lama", 256): DArch(
        ((None, 1, True), (1, 2, True), (2, 4, True), (4, 4, True), (4, 8, True), (8, 8, True), (8, 16, False)),
        {4: (4, 4, False), 5: (4, 8, False), 6: (8, 16, True)}, (3, 4, 128), small_inclusive=True,
    ),
    ("lostgan_v2", 128): DArch(
        ((None, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 16, True), (16, 16, False)),
        {3: (2, 4, False), 4: (4, 8, False), 5: (8, 16, True)}, (2, 3, 64),
        head_bias=True, gated=False, act=F.relu, sn_eps=CONV_SN_EPS,
    ),
    ("lostgan_v2", 256): DArch(
        ((None, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 8, True), (8, 16, True), (16, 16, False)),
        {4: (4, 8, False), 5: (8, 8, False), 6: (8, 16, True)}, (3, 4, 128),
        head_bias=True, gated=False, act=F.relu, sn_eps=CONV_SN_EPS,
    ),
}  # fmt: skip


class Discriminator(nn.Module):
    """D(images (B, 3, R, R) in [-1, 1], boxes (B, O, 4) fractions, labels (B, O)) -> (d_img (B, 1),
    d_obj (N, 1)) for the N non-padding objects, large objects first then small (at 128 and 256 px)."""

    def __init__(self, resolution: int, num_classes: int, ch: int = 64, arch: str = "lama") -> None:
        super().__init__()
        check_arch(arch)
        if (arch, resolution) not in D_ARCHS:
            sizes = sorted(r for a, r in D_ARCHS if a == arch)
            raise ValueError(f"resolution must be one of {sizes} for the {arch} discriminator, got {resolution}")
        self.resolution, self.num_classes, self.ch, self.arch = resolution, num_classes, ch, arch
        spec = self.spec = D_ARCHS[arch, resolution]
        kw = {"gated": spec.gated, "act": spec.act, "eps": spec.sn_eps}
        for i, (a, b, down) in enumerate(spec.image_blocks, start=1):
            block = DFirstBlock(3, b * ch, down, **kw) if a is None else DBlock(a * ch, b * ch, down, **kw)
            self.add_module(f"block{i}", block)
        self.l_im = sn(nn.Linear(16 * ch, 1, bias=spec.head_bias))
        for i, (a, b, down) in spec.object_blocks.items():
            self.add_module(f"block_obj{i}", DBlock(a * ch, b * ch, down, **kw))
        obj_ch = max(b for _, b, _ in spec.object_blocks.values()) * ch
        self.l_obj = sn(nn.Linear(obj_ch, 1, bias=spec.head_bias))
        self.l_y = sn(nn.Embedding(num_classes, obj_ch))

    def forward(
        self, images: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(d_img (B, 1), d_obj (N, 1)) for images in [-1, 1] and their layouts."""
        check_layout_tensors(labels, boxes)
        r, spec = self.resolution, self.spec
        if images.dim() != 4 or images.shape[1:] != (3, r, r) or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images must be (B, 3, {r}, {r}) with B = {labels.shape[0]}, got {tuple(images.shape)}"
            )

        f1_at, f2_at, _ = spec.levels
        feats = {}
        x = images
        for i in range(1, len(spec.image_blocks) + 1):
            x = getattr(self, f"block{i}")(x)
            feats[i] = x
        x = spec.act(x)
        x = x.sum(dim=(2, 3)) if spec.sum_image else x.mean(dim=(2, 3))
        d_img = self.l_im(x)

        rois, y = self._rois(boxes, labels, images.dtype)
        if f2_at is None:
            obj = self.block_obj4(
                roi_align(feats[f1_at], rois, ROI_SIZE, 1 / 2, sampling_ratio=0, aligned=False)
            )
        else:
            small = self._is_small(rois)
            obj = self._two_level_features(feats[f1_at], feats[f2_at], rois, small)
            y = torch.cat([y[~small], y[small]])  # the authors' order: large objects first
        obj = spec.act(obj).sum(dim=(2, 3))
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
        limit = self.spec.levels[2]
        width, height = rois[:, 3] - rois[:, 1], rois[:, 4] - rois[:, 2]
        if self.spec.small_inclusive:
            return (width <= limit) & (height <= limit)
        return (width < limit) & (height < limit)

    def _two_level_features(
        self, f1: torch.Tensor, f2: torch.Tensor, rois: torch.Tensor, small: torch.Tensor
    ) -> torch.Tensor:
        """128/256 px: small objects read the finer level f1, large ones f2; both pass a shared block,
        then ROIAlign, then the last object block. Returns large objects first, then small."""
        fine, shared, last = (getattr(self, f"block_obj{i}") for i in self.spec.object_blocks)
        # f1 sits at 1/4 of the input at 128 px and 1/8 at 256 px; f2 at half that
        s_scale = f1.shape[-1] / self.resolution
        l_scale = f2.shape[-1] / self.resolution
        # Both paths always run (as the authors' do), so every parameter gets a gradient under DDP.
        s_feat = roi_align(shared(fine(f1)), rois[small], ROI_SIZE, s_scale, sampling_ratio=0, aligned=False)
        l_feat = roi_align(shared(f2), rois[~small], ROI_SIZE, l_scale, sampling_ratio=0, aligned=False)
        return last(torch.cat([l_feat, s_feat]))


def init_discriminator(D: Discriminator) -> Discriminator:
    """The authors' initialisation: orthogonal (lama.models.init) for LAMA at 64 and 128 px; PyTorch's
    defaults for LAMA at 256 px and for LostGAN-V2 (its discriminators have no init routine)."""
    from lama.models.init import init_weights

    if D.arch == "lama" and D.resolution != 256:
        init_weights(D)
    return D
