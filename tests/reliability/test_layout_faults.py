"""Bad layout files and generator outputs (issue 15.6): each is one LayoutError naming the file, the object
and the field; too many objects are refused (or dropped when asked); a non-finite image is never saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from lama.layout import LayoutError, draw_layout
from lama.layout_file import read_layout_file
from lama.sampling import NonFiniteOutputError, sample_layouts

NAMES = ["", "person", "dog", "sky"]


def _write(tmp_path: Path, text: str, name: str = "l.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # fully outside the image: torchvision's draw_bounding_boxes crashed on it
        ("objects:\n  - {class: dog, box: [1.2, 0.1, 0.2, 0.2]}\n", r"objects\[0\].box .* lies entirely outside"),
        ("image_size: [100, 100]\nobjects:\n  - {class: sky, box: [0, 0, 50, 50]}\n"
         "  - {class: dog, box: [-90, 10, 50, 50]}\n", r"objects\[1\].box .* lies entirely outside"),
        # huge finite box: exit 0 and a NaN image before
        ("image_size: [64, 64]\nobjects:\n  - {class: dog, box: [0, 0, 1.0e30, 10]}\n",
         r"objects\[0\].box .* more than one image size outside"),
        # infinite box: reported as "looks like pixels" before
        ("objects:\n  - {class: dog, box: [0, 0, .inf, 0.5]}\n", r"objects\[0\].box has a non-finite value"),
        ("objects:\n  - {class: dog, box: [0, 0, .nan, 0.5]}\n", r"objects\[0\].box has a non-finite value"),
        ("objects:\n  - {class: dog, box: [0, 0, true, 0.5]}\n", r"objects\[0\].box must be 4 numbers"),
        ("objects:\n  - {class: dog, box: [0.1, 0.1, 0, 0.5]}\n", r"objects\[0\].box .* width and height > 0"),
        ("objects:\n  - {class: dog, box: [0, 0, \"5e-1\", 0.5]}\n", r"objects\[0\].box must be 4 numbers"),
        ("image_size: [.inf, 64]\nobjects:\n  - {class: dog, box: [0, 0, 5, 5]}\n", r"image_size must be"),
        ("objects:\n  - {class: cat, box: [0, 0, 0.5, 0.5]}\n", r"unknown class name 'cat'"),
        ("objects: [\n", r"cannot be parsed"),
    ],
)
def test_bad_field_is_one_line_naming_object_and_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(LayoutError, match=message) as info:
        read_layout_file(path, NAMES)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_yaml_exponent_floats_are_numbers(tmp_path):
    """PyYAML (YAML 1.1) reads an unquoted `5e-1` as the string '5e-1'; layout files use YAML 1.2 floats."""
    layout = read_layout_file(_write(tmp_path, "objects:\n  - {class: dog, box: [0, 0, 5e-1, 2.5E-1]}\n"), NAMES)
    assert layout.boxes[0, 0].tolist() == [0.0, 0.0, 0.5, 0.25]


def test_non_utf8_file_is_one_line(tmp_path):
    path = tmp_path / "l.yaml"
    path.write_bytes("objects:\n  - {class: d\xf6g, box: [0, 0, 0.5, 0.5]}\n".encode("latin-1"))
    with pytest.raises(LayoutError, match="is not UTF-8 text"):
        read_layout_file(path, NAMES)


def _many(tmp_path: Path, count: int) -> Path:
    objects = [{"class": "dog", "box": [0.1, 0.1, 0.2, 0.2]}] * count
    return _write(tmp_path, json.dumps({"objects": objects}), "many.json")


def test_objects_beyond_the_slot_count_are_refused_or_dropped(tmp_path, caplog):
    path = _many(tmp_path, 20_000)
    with pytest.raises(LayoutError, match="20000 objects, but the model has 8 object slots.*layout_drop_extra=true"):
        read_layout_file(path, NAMES, max_objects=8)
    layout = read_layout_file(path, NAMES, max_objects=8, drop_extra=True)
    assert layout.labels.shape == (1, 8)
    assert "keeping the first 8" in caplog.text
    assert read_layout_file(_many(tmp_path, 8), NAMES, max_objects=8).labels.shape == (1, 8)


def test_class_beyond_the_models_classes_is_refused(tmp_path):
    """A checkpoint without class names is read with the dataset's names, which may know more classes."""
    path = _write(tmp_path, "objects:\n  - {class: person, box: [0, 0, 0.5, 0.5]}\n"
                            "  - {class: sky, box: [0, 0, 0.5, 0.5]}\n")
    with pytest.raises(LayoutError, match=r"objects\[1\].class 'sky' is label 3, but the model knows only 3 classes"):
        read_layout_file(path, NAMES, num_classes=3)
    assert read_layout_file(path, NAMES, num_classes=4).labels.tolist() == [[1, 3]]


def test_drawing_a_box_outside_the_image_skips_it():
    labels = torch.tensor([1, 2])
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5], [1.5, 1.5, 0.2, 0.2]])
    out = draw_layout(torch.zeros(3, 64, 64), labels, boxes, NAMES, min_size=256)
    assert out.shape == (3, 256, 256) and out.dtype == torch.uint8


class NaNGenerator(nn.Module):
    """A generator whose output is NaN, like one with NaN weights."""

    z_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.full((1,), float("nan")))

    def forward(self, z_obj, boxes, labels, z_im=None, return_masks=False):
        images = torch.zeros(labels.shape[0], 3, 8, 8) * self.w
        return (images, boxes, boxes) if return_masks else images


def test_non_finite_generator_output_is_an_error_not_an_image():
    labels = torch.tensor([[1, 0]])
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.5], [-0.6, -0.6, 0.5, 0.5]]])
    with pytest.raises(NonFiniteOutputError, match="non-finite pixels for image id 7"):
        next(sample_layouts(NaNGenerator(), [7], labels, boxes))
