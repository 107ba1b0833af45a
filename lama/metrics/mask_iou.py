"""Mask quality where true instance masks exist (the synthetic data): IoU of the generator's adapted and
raw masks against the true masks, over the whole image and inside the regions where boxes overlap."""

from __future__ import annotations

from typing import Any

import torch

from lama.layout import PAD_LABEL

THRESHOLD = 0.5


def box_overlap_region(boxes: torch.Tensor, labels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H, W) bool: pixels whose centre lies inside two or more non-padding boxes ((x0, y0, w, h) fractions)."""
    xs = (torch.arange(width, device=boxes.device) + 0.5) / width
    ys = (torch.arange(height, device=boxes.device) + 0.5) / height
    x0, y0, w, h = (t[..., None, None] for t in boxes.unbind(-1))
    inside = (xs >= x0) & (xs < x0 + w) & (ys[:, None] >= y0) & (ys[:, None] < y0 + h)  # (B, O, H, W)
    inside &= (labels != PAD_LABEL)[..., None, None]
    return inside.sum(1) >= 2


def object_ious(pred: torch.Tensor, true: torch.Tensor, region: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-object IoU of pred > 0.5 and true > 0.5, both (B, O, H, W), optionally only inside region (B, H, W).
    Returns (iou (B, O), valid (B, O)): valid where the union is non-empty."""
    p, t = pred > THRESHOLD, true > THRESHOLD
    if region is not None:
        p, t = p & region[:, None], t & region[:, None]
    inter = (p & t).flatten(2).sum(-1).float()
    union = (p | t).flatten(2).sum(-1).float()
    return inter / union.clamp(min=1), union > 0


class MaskIoU:
    """Accumulates per-object IoUs over batches; compute() averages over objects (fractions in [0, 1])."""

    KEYS = ("mask_iou", "mask_iou_raw", "mask_iou_overlap", "mask_iou_overlap_raw")

    def __init__(self) -> None:
        self.sums = dict.fromkeys(self.KEYS, 0.0)
        self.counts = dict.fromkeys(self.KEYS, 0)

    def update(self, masks: torch.Tensor, raw_masks: torch.Tensor, true_masks: torch.Tensor,
               labels: torch.Tensor, boxes: torch.Tensor) -> None:
        """masks / raw_masks: generator masks (B, O, H, W) in [0, 1] (adapted ones may exceed 1);
        true_masks (B, O, H, W) {0, 1}; labels (B, O); boxes (B, O, 4) fractions."""
        if not (masks.shape == raw_masks.shape == true_masks.shape):
            raise ValueError(f"mask shapes differ: {tuple(masks.shape)}, {tuple(raw_masks.shape)}, {tuple(true_masks.shape)}")
        real = labels != PAD_LABEL
        region = box_overlap_region(boxes, labels, *masks.shape[-2:])
        for key, pred, reg in (("mask_iou", masks, None), ("mask_iou_raw", raw_masks, None),
                               ("mask_iou_overlap", masks, region), ("mask_iou_overlap_raw", raw_masks, region)):
            iou, valid = object_ious(pred, true_masks, reg)
            keep = valid & real
            self.sums[key] += float(iou[keep].sum())
            self.counts[key] += int(keep.sum())

    def compute(self) -> dict[str, float]:
        """Mean IoU per key over the objects that had any mask pixel (in the region, for the overlap keys)."""
        return {k: self.sums[k] / self.counts[k] for k in self.KEYS if self.counts[k] > 0}

    def protocol(self) -> dict[str, Any]:
        """What stands behind the numbers, for results.json."""
        return {
            "binarisation": f"mask > {THRESHOLD}",
            "average": "mean of per-object IoU over non-padding objects with a non-empty union",
            "overlap_region": "pixels whose centre lies in two or more boxes",
            "objects": dict(self.counts),
        }
