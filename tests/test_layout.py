"""The layout batch type: validation errors, padding, flip, construction from names and pixel
boxes, collation, pixel conversion and drawing."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lama.layout import (
    PAD_BOX,
    PAD_LABEL,
    Layout,
    LayoutError,
    boxes_to_pixels_xyxy,
    collate_layouts,
    draw_layout,
    flip_boxes,
    layout_from_objects,
    object_color,
    pad_objects,
    validate_layout,
)

NAMES = ["", "person", "dog", "", "sky"]


def _layout() -> Layout:
    labels = torch.tensor([[1, 2, 0], [4, 0, 0]])
    boxes = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.25, 0.5], PAD_BOX],
                          [[0.0, 0.0, 1.0, 0.5], PAD_BOX, PAD_BOX]])  # fmt: skip
    return Layout(labels, boxes)


def test_pad_objects_fills_slots() -> None:
    labels, boxes = pad_objects([5, 7], [[0.1, 0.1, 0.2, 0.2], [0.0, 0.5, 1.0, 0.5]], 4)
    assert labels.tolist() == [5, 7, PAD_LABEL, PAD_LABEL] and labels.dtype == torch.int64
    assert boxes.dtype == torch.float32 and boxes.shape == (4, 4)
    assert boxes[2:].tolist() == [list(map(float, torch.tensor(PAD_BOX).tolist()))] * 2
    with pytest.raises(LayoutError, match="3 objects do not fit in 2 slots"):
        pad_objects([1, 2, 3], [[0, 0, 1, 1]] * 3, 2)
    with pytest.raises(LayoutError, match="2 labels but 1 boxes"):
        pad_objects([1, 2], [[0, 0, 1, 1]], 4)


def test_padding_box_lies_outside_the_image() -> None:
    x0, y0, w, h = PAD_BOX
    assert x0 + w < 0 and y0 + h < 0


@pytest.mark.parametrize(
    "label,box,message",
    [
        (1, [0.1, float("nan"), 0.2, 0.2], "non-finite box at image 0, slot 1"),
        (1, [0.1, 0.1, 0.0, 0.2], "w or h <= 0 at image 0, slot 1"),
        (1, [0.1, 0.1, 0.2, -0.1], "w or h <= 0"),
        (-3, [0.1, 0.1, 0.2, 0.2], "negative label"),
        (9, [0.1, 0.1, 0.2, 0.2], r"label >= num_classes \(5\) at image 0, slot 1: label 9"),
    ],
)
def test_validation_names_slot_and_value(label: int, box: list, message: str) -> None:
    labels = torch.tensor([[1, label]])
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0], box]])
    with pytest.raises(LayoutError, match=message):
        validate_layout(labels, boxes, num_classes=5)


def test_validation_accepts_padding_and_checks_shapes() -> None:
    _layout().validate(num_classes=5)
    with pytest.raises(LayoutError, match="int64"):
        Layout(torch.tensor([[1, 2]], dtype=torch.int32), torch.zeros(1, 2, 4))
    with pytest.raises(LayoutError, match=r"boxes must be \(B, O, 4\)"):
        Layout(torch.tensor([[1, 2]]), torch.zeros(1, 3, 4))
    with pytest.raises(LayoutError, match="floating point"):
        Layout(torch.tensor([[1, 2]]), torch.zeros(1, 2, 4, dtype=torch.int64))


def test_flip_mirrors_real_boxes_only() -> None:
    layout = _layout()
    flipped = layout.flip()
    assert torch.allclose(flipped.boxes[0, 0], torch.tensor([0.6, 0.2, 0.3, 0.4]))
    assert torch.allclose(flipped.boxes[0, 1], torch.tensor([0.25, 0.5, 0.25, 0.5]))
    assert torch.equal(flipped.boxes[0, 2], layout.boxes[0, 2])  # padding keeps its box
    assert torch.allclose(flipped.flip().boxes, layout.boxes)
    assert torch.equal(flip_boxes(layout.boxes[0], layout.labels[0]), flipped.boxes[0])


def test_from_batch_and_item() -> None:
    layout = _layout()
    batch = Layout.from_batch({"labels": layout.labels, "boxes": layout.boxes, "image": torch.zeros(2, 3, 4, 4)})
    assert torch.equal(batch.boxes, layout.boxes)
    item = Layout.from_batch({"labels": layout.labels[1], "boxes": layout.boxes[1]})
    assert item.labels.shape == (1, 3) and torch.equal(item.boxes[0], layout.boxes[1])


def test_num_objects_and_to() -> None:
    layout = _layout()
    assert layout.num_objects.tolist() == [2, 1]
    assert layout.to("cpu").labels.device.type == "cpu"


def test_layout_from_pixel_and_fraction_boxes() -> None:
    pixels = layout_from_objects([("dog", (64, 32, 128, 96)), ("sky", (0, 0, 256, 100))], NAMES, 4, (256, 128))
    assert pixels.labels.tolist() == [[2, 4, 0, 0]]
    assert torch.allclose(pixels.boxes[0, :2], torch.tensor([[0.25, 0.25, 0.5, 0.75], [0.0, 0.0, 1.0, 100 / 128]]))
    fractions = layout_from_objects([("person", (0.1, 0.2, 0.3, 0.4))], {1: "person"}, 2)
    assert fractions.labels.tolist() == [[1, 0]] and torch.allclose(fractions.boxes[0, 0], torch.tensor([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(LayoutError, match="unknown class name 'cat'"):
        layout_from_objects([("cat", (0, 0, 1, 1))], NAMES, 2)
    with pytest.raises(LayoutError, match="4 numbers"):
        layout_from_objects([("dog", (0, 0, 1))], NAMES, 2)
    with pytest.raises(LayoutError, match="w or h <= 0"):
        layout_from_objects([("dog", (10, 10, 0, 5))], NAMES, 2, (100, 100))


def test_collate() -> None:
    layout = _layout()
    both = collate_layouts([layout, layout])
    assert both.labels.shape == (4, 3) and torch.equal(both.boxes[2:], layout.boxes)
    with pytest.raises(LayoutError, match="different slot counts"):
        collate_layouts([layout, Layout(torch.zeros(1, 8, dtype=torch.int64), torch.zeros(1, 8, 4))])


def test_boxes_to_pixels() -> None:
    xyxy = boxes_to_pixels_xyxy(torch.tensor([0.25, 0.5, 0.5, 0.25]), 64, 32)
    assert xyxy.tolist() == [16.0, 16.0, 48.0, 24.0]


def test_draw_layout_marks_box_edges() -> None:
    image = torch.full((3, 32, 32), -1.0)
    out = draw_layout(image, torch.tensor([2, 0]), torch.tensor([[0.25, 0.25, 0.5, 0.5], PAD_BOX]), NAMES)
    assert out.dtype == torch.uint8 and out.shape == (3, 32, 32)
    colour = torch.tensor(object_color(2), dtype=torch.uint8)
    assert torch.equal(out[:, 8, 12], colour)  # top edge of the box
    assert torch.equal(out[:, 20, 2], torch.zeros(3, dtype=torch.uint8))  # outside stays black
    empty = draw_layout(image, torch.tensor([0]), torch.tensor([PAD_BOX]))
    assert (empty == 0).all()


def test_object_colour_is_stable_and_distinct() -> None:
    assert object_color(5) == object_color(5)
    assert len({object_color(i) for i in range(1, 50)}) > 45


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[int], list[list[float]], int]:
    n = draw(st.integers(0, 8))
    unit = st.floats(0.0, 1.0, allow_nan=False, width=32)
    size = st.floats(0.015625, 1.0, allow_nan=False, width=32)  # 1/64: exact in float32
    labels = draw(st.lists(st.integers(1, 183), min_size=n, max_size=n))
    boxes = [[draw(unit), draw(unit), draw(size), draw(size)] for _ in range(n)]
    return labels, boxes, draw(st.integers(n, 12))


@given(layouts())
@settings(max_examples=60, deadline=None)
def test_property_pad_validate_flip(case: tuple[list[int], list[list[float]], int]) -> None:
    labels, boxes, slots = case
    lab, box = pad_objects(labels, boxes, slots)
    layout = Layout(lab[None], box[None]).validate(num_classes=184)
    assert int(layout.num_objects[0]) == len(labels)
    twice = layout.flip().flip()
    torch.testing.assert_close(twice.boxes, layout.boxes, atol=1e-6, rtol=0)
    flipped = layout.flip().boxes[0, : len(labels)]
    # the mirrored box keeps its size and stays as far from the right edge as it was from the left
    torch.testing.assert_close(1 - flipped[:, 0] - flipped[:, 2], box[: len(labels), 0], atol=1e-6, rtol=0)
