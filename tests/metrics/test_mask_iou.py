"""Mask IoU against hand-computable cases."""

import pytest
import torch

from lama.metrics.mask_iou import MaskIoU, box_overlap_region


def _canvas(*rects, size=8):
    """(O, size, size) masks, each 1 inside a pixel rectangle (x0, y0, x1, y1)."""
    out = torch.zeros(len(rects), size, size)
    for k, (x0, y0, x1, y1) in enumerate(rects):
        out[k, y0:y1, x0:x1] = 1
    return out


def test_box_overlap_region_is_where_two_boxes_meet():
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5], [-0.6, -0.6, 0.5, 0.5]]])
    labels = torch.tensor([[1, 2, 0]])
    region = box_overlap_region(boxes, labels, 8, 8)
    expected = torch.zeros(1, 8, 8, dtype=torch.bool)
    expected[0, 2:4, 2:4] = True
    assert torch.equal(region, expected)


def test_iou_over_the_image_and_inside_the_overlap():
    # Two objects on an 8x8 image; boxes = [0,4)x[0,4) and [2,6)x[2,6) px, overlap [2,4)x[2,4).
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]]])
    labels = torch.tensor([[3, 4]])
    true = _canvas((0, 0, 4, 4), (2, 2, 6, 6))[None]
    # Object 0 predicted on [0,4)x[0,2) (8 px, all inside its 16 px mask): IoU 8/16.
    # Object 1 predicted exactly: IoU 1. Raw masks: object 0 exact, object 1 empty (IoU 0).
    masks = _canvas((0, 0, 4, 2), (2, 2, 6, 6))[None] * 0.9
    raw = _canvas((0, 0, 4, 4), (0, 0, 0, 0))[None]
    meter = MaskIoU()
    meter.update(masks, raw, true, labels, boxes)
    out = meter.compute()
    assert out["mask_iou"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["mask_iou_raw"] == pytest.approx((1.0 + 0.0) / 2)
    # In the overlap (4 px, both true masks cover it): object 0 predicts none of it (0/4), object 1 all (4/4).
    assert out["mask_iou_overlap"] == pytest.approx(0.5)
    assert out["mask_iou_overlap_raw"] == pytest.approx(0.5)  # object 0: 4/4, object 1: 0/4


def test_padding_is_ignored_and_threshold_is_half():
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [-0.6, -0.6, 0.5, 0.5]]])
    labels = torch.tensor([[5, 0]])
    true = _canvas((0, 0, 8, 4), (0, 0, 0, 0))[None]
    pred = true * 0.4 + _canvas((0, 0, 0, 0), (0, 0, 8, 8))[None]  # below threshold; padding slot full
    meter = MaskIoU()
    meter.update(pred, true.clone(), true, labels, boxes)
    out = meter.compute()
    assert out["mask_iou"] == 0.0 and out["mask_iou_raw"] == 1.0
    assert "mask_iou_overlap" not in out  # a single box has no overlap region: absent, not zero
    assert meter.protocol()["objects"]["mask_iou"] == 1
