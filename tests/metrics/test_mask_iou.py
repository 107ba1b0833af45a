"""Mask IoU against hand-computable cases: ownership binarisation, thing-box overlaps, the box floor."""

import pytest
import torch

from lama.metrics.mask_iou import MaskIoU, owned, summary_line, thing_overlap_region

THING, THING2, STUFF = 3, 4, 92


def _canvas(*rects, size=8):
    """(O, size, size) masks, each 1 inside a pixel rectangle (x0, y0, x1, y1)."""
    out = torch.zeros(len(rects), size, size)
    for k, (x0, y0, x1, y1) in enumerate(rects):
        out[k, y0:y1, x0:x1] = 1
    return out


def _score(masks, raw, true, labels, boxes):
    meter = MaskIoU()
    meter.update(masks[None], raw[None], true[None], torch.tensor([labels]), torch.tensor([boxes]))
    return meter.compute()


# Two things on an 8x8 stuff image: boxes [0,4)^2 and [2,6)^2 px, they overlap on [2,4)^2; the second one is
# in front, so the first one's visible mask is its box minus the overlap (12 px).
BOXES = [[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]]
LABELS = [THING, THING2, STUFF]
TRUE = _canvas((0, 0, 4, 4), (2, 2, 6, 6), (0, 0, 8, 8))
TRUE[0, 2:4, 2:4] = 0
TRUE[2] = 1 - TRUE[0] - TRUE[1]


def test_overlap_region_counts_thing_boxes_only():
    region = thing_overlap_region(torch.tensor([BOXES]), torch.tensor([[True, True, False]]), 8, 8)
    expected = torch.zeros(1, 8, 8, dtype=torch.bool)
    expected[0, 2:4, 2:4] = True
    assert torch.equal(region, expected)  # the full-image stuff box does not make everything an overlap


def test_exact_masks_score_one_everywhere_and_the_box_floor_is_hand_computed():
    out = _score(TRUE * 0.8, TRUE * 0.8, TRUE, LABELS, BOXES)
    for key in ("mask_iou", "mask_iou_things", "mask_iou_stuff", "mask_iou_overlap", "mask_iou_things_overlap_raw"):
        assert out[key] == pytest.approx(1.0)
    # Filled boxes: thing 0 owns its 16 px box, true 12 -> 12/16; thing 1 exact -> 1; the stuff box owns the
    # whole image, true 64 - 28 = 36 px -> 36/64.
    assert out["mask_iou_things_box"] == pytest.approx((12 / 16 + 1) / 2)
    assert out["mask_iou_stuff_box"] == pytest.approx(36 / 64)
    # Inside the 4 px overlap thing 0's true mask is empty and its box covers it: IoU 0; thing 1: 4/4.
    assert out["mask_iou_things_overlap_box"] == pytest.approx(0.5)


def test_adapted_masks_in_zero_two_are_judged_like_raw_ones():
    # A uniform soft raw mask (0.4 in all boxes): thresholding at 0.5 would give nothing, and the adapted x2
    # (0.8) would look better only by being scaled. Ownership gives both the same partition.
    soft = _canvas((0, 0, 4, 4), (2, 2, 6, 6), (0, 0, 8, 8)) * 0.4
    soft[1, 2:4, 2:4] = 0.45  # the front object wins its overlap
    soft[2, :6, :6] = torch.where(soft[0, :6, :6] + soft[1, :6, :6] > 0, 0.1, 0.4)
    out = _score(soft * 2, soft, TRUE, LABELS, BOXES)
    for key in ("mask_iou", "mask_iou_overlap", "mask_iou_stuff"):
        assert out[key] == pytest.approx(out[key + "_raw"])
    assert out["mask_iou"] == pytest.approx(1.0)


def test_the_overlap_pixel_goes_to_the_larger_mask():
    masks = torch.tensor([[[[0.3, 0.9]], [[0.6, 0.2]]]])  # (1, 2, 1, 2)
    assert owned(masks, torch.tensor([[True, True]])).tolist() == [[[[False, True]], [[True, False]]]]
    # a padding slot competes with nobody; below the floor (outside every box) nobody owns the pixel
    masks = torch.tensor([[[[0.3, 0.0]], [[0.9, 0.0]]]])
    assert owned(masks, torch.tensor([[True, False]])).tolist() == [[[[True, False]], [[False, False]]]]


def test_padding_is_ignored_and_a_lone_thing_has_no_overlap():
    boxes = [[0.0, 0.0, 1.0, 1.0], [-0.6, -0.6, 0.5, 0.5]]
    true = _canvas((0, 0, 8, 4), (0, 0, 0, 0))
    pred = _canvas((0, 4, 8, 8), (0, 0, 0, 0))
    meter = MaskIoU()
    meter.update(pred[None], true[None], true[None], torch.tensor([[5, 0]]), torch.tensor([boxes]))
    out = meter.compute()
    assert out["mask_iou"] == 0.0 and out["mask_iou_raw"] == 1.0 and out["mask_iou_box"] == pytest.approx(0.5)
    assert "mask_iou_overlap" not in out and "mask_iou_stuff" not in out  # absent, not zero
    assert meter.protocol()["objects"]["mask_iou"] == 1


def test_summary_line_says_adapted_vs_raw_and_the_floor():
    line = summary_line(_score(TRUE * 0.8, TRUE * 0.4, TRUE, LABELS, BOXES))
    assert "things: adapted 1.000 vs raw 1.000 (filled boxes 0.875)" in line and "after LAMA" in line
    assert summary_line({"cas": 0.5}) is None
