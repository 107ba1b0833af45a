"""Mask quality where true instance masks exist (the synthetic data): per-object IoU of the generator's
adapted and raw masks, and of the filled boxes (the trivial floor), against the true visible masks; for
things and stuff separately, over the whole image and inside the pixels covered by two or more thing boxes.

Binarisation is by ownership, not by a fixed threshold: the generator's norms use the masks normalised
per pixel over objects (m_o / sum m), so a pixel belongs to the object(s) with the largest mask value
there. This is the partition the generator paints with, it is the same rule for raw masks (in [0, 1])
and adapted ones (in [0, 2]), and it does not change when a mask is scaled. Filled boxes all have the
value 1, so under this rule every box owns its whole box: the baseline is exactly "the box as the mask".
"""

from __future__ import annotations

from typing import Any

import torch

from lama.layout import PAD_LABEL

OWNER_FLOOR = 1e-3  # a pixel where every mask is below this (outside all boxes) belongs to nobody
COCO_LAST_THING = 91  # COCO(-Stuff) ids: things 1..91, stuff 92..182 (the synthetic scenes use the same ids)
SOURCES = ("", "_raw", "_box")  # adapted masks, raw masks, filled boxes
GROUPS = ("", "_things", "_stuff")  # all objects, things only, stuff only
REGIONS = ("", "_overlap")  # whole image, pixels under two or more thing boxes


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, O, H, W) bool: pixels whose centre lies inside each (x0, y0, w, h) fraction box."""
    xs = (torch.arange(width, device=boxes.device) + 0.5) / width
    ys = (torch.arange(height, device=boxes.device) + 0.5) / height
    x0, y0, w, h = (t[..., None, None] for t in boxes.unbind(-1))
    return (xs >= x0) & (xs < x0 + w) & (ys[:, None] >= y0) & (ys[:, None] < y0 + h)


def thing_overlap_region(boxes: torch.Tensor, things: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H, W) bool: pixels under two or more *thing* boxes (things (B, O) bool). Stuff boxes are left
    out: they cover most of the image, so counting them would make every thing pixel an 'overlap'."""
    inside = box_masks(boxes, height, width) & things[..., None, None]
    return inside.sum(1) >= 2


def owned(masks: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """(B, O, H, W) bool: object o owns pixel p when its mask is the largest of the present objects' there
    (ties: all of them) and at least OWNER_FLOOR. masks (B, O, H, W) >= 0; present (B, O) bool."""
    masks = masks.float().masked_fill(~present[..., None, None], 0.0)
    top = masks.amax(1, keepdim=True)
    return (masks >= top) & (masks >= OWNER_FLOOR)


def object_ious(pred: torch.Tensor, true: torch.Tensor, region: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-object IoU of bool pred and true (B, O, H, W), optionally only inside region (B, H, W).
    Returns (iou (B, O), valid (B, O)): valid where the union is non-empty."""
    if region is not None:
        pred, true = pred & region[:, None], true & region[:, None]
    inter = (pred & true).flatten(2).sum(-1).float()
    union = (pred | true).flatten(2).sum(-1).float()
    return inter / union.clamp(min=1), union > 0


def metric_keys() -> tuple[str, ...]:
    """mask_iou[_things|_stuff][_overlap][_raw|_box], the keys compute() may return."""
    return tuple(f"mask_iou{g}{r}{s}" for g in GROUPS for r in REGIONS for s in SOURCES)


class MaskIoU:
    """Accumulates per-object IoUs over batches; compute() averages over objects (fractions in [0, 1]).
    Labels up to `last_thing_label` are things, the others stuff (COCO ids by default)."""

    KEYS = metric_keys()

    def __init__(self, last_thing_label: int = COCO_LAST_THING) -> None:
        self.last_thing_label = int(last_thing_label)
        self.sums = dict.fromkeys(self.KEYS, 0.0)
        self.counts = dict.fromkeys(self.KEYS, 0)

    def update(self, masks: torch.Tensor, raw_masks: torch.Tensor, true_masks: torch.Tensor,
               labels: torch.Tensor, boxes: torch.Tensor) -> None:
        """masks / raw_masks: generator masks (B, O, H, W) >= 0 (adapted ones in [0, 2]);
        true_masks (B, O, H, W) {0, 1} visible masks; labels (B, O); boxes (B, O, 4) fractions."""
        if not (masks.shape == raw_masks.shape == true_masks.shape):
            raise ValueError(f"mask shapes differ: {tuple(masks.shape)}, {tuple(raw_masks.shape)}, {tuple(true_masks.shape)}")
        height, width = masks.shape[-2:]
        present = labels != PAD_LABEL
        things = present & (labels <= self.last_thing_label)
        groups = {"": present, "_things": things, "_stuff": present & ~things}
        regions = {"": None, "_overlap": thing_overlap_region(boxes, things, height, width)}
        boxes_as_masks = box_masks(boxes, height, width).float()
        preds = {s: owned(m, present) for s, m in zip(SOURCES, (masks, raw_masks, boxes_as_masks))}
        true = true_masks > 0.5
        for s, pred in preds.items():
            for r, region in regions.items():
                iou, valid = object_ious(pred, true, region)
                for g, members in groups.items():
                    keep = valid & members
                    key = f"mask_iou{g}{r}{s}"
                    self.sums[key] += float(iou[keep].sum())
                    self.counts[key] += int(keep.sum())

    def compute(self) -> dict[str, float]:
        """Mean IoU per key over the objects that had any mask pixel (in the region, for the overlap keys)."""
        return {k: self.sums[k] / self.counts[k] for k in self.KEYS if self.counts[k] > 0}

    def protocol(self) -> dict[str, Any]:
        """What stands behind the numbers, for results.json."""
        return {
            "binarisation": f"ownership: an object owns the pixels where its mask is the largest (ties: all) "
                            f"and >= {OWNER_FLOOR}; true masks > 0.5",
            "sources": "mask_iou*: adapted masks (LAMA output), *_raw: raw pasted masks, *_box: filled boxes",
            "groups": f"*_things: labels 1..{self.last_thing_label}, *_stuff: the others, no infix: all objects",
            "average": "mean of per-object IoU over non-padding objects with a non-empty union",
            "overlap_region": "pixels whose centre lies in two or more thing boxes",
            "objects": dict(self.counts),
        }


def summary_line(values: dict[str, float]) -> str | None:
    """One line saying what the mask IoU numbers mean (None when they were not measured)."""
    parts = []
    for label, suffix in (("things", "_things"), ("things where thing boxes overlap", "_things_overlap")):
        keys = [f"mask_iou{suffix}{s}" for s in SOURCES]
        if all(k in values for k in keys):
            adapted, raw, box = (values[k] for k in keys)
            parts.append(f"{label}: adapted {adapted:.3f} vs raw {raw:.3f} (filled boxes {box:.3f})")
    if not parts:
        return None
    return ("mask IoU, " + "; ".join(parts) + ". Adapted = the masks after LAMA's adaption (what the generator "
            "paints with), raw = before it (the same with model.lama=false); the filled box is the floor to beat.")
