"""Object crops and image conversions used by SceneFID and CAS."""

import torch
import torch.nn.functional as F

from lama.metrics.images import (
    ImageFiles,
    ObjectCrops,
    box_to_pixel_window,
    crop_resize,
    object_entries,
)
from lama.metrics.scene_fid import scene_crops
from lama.sampling.images import to_uint8, to_unit_range, write_image


def test_uint8_round_trip():
    x = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_unit_range(x)), x)


def test_pixel_window_covers_the_box_and_stays_inside():
    assert box_to_pixel_window([0.25, 0.5, 0.5, 0.25], 64, 64) == (16, 32, 48, 48)
    assert box_to_pixel_window([0.26, 0.0, 0.1, 0.1], 10, 10) == (2, 0, 4, 1)  # floor / ceil
    assert box_to_pixel_window([-0.2, 0.9, 2.0, 0.5], 10, 10) == (0, 9, 10, 10)  # clipped, >= 1 px


def test_crop_resize_is_a_bicubic_resize_of_the_window():
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    crop = crop_resize(image, [0.25, 0.25, 0.5, 0.25], 24)
    window = image[:, 8:16, 8:24].float()[None]
    expected = F.interpolate(window, size=(24, 24), mode="bicubic", antialias=True).clamp(0, 255).round()
    assert crop.dtype == torch.uint8 and torch.equal(crop, expected[0].to(torch.uint8))


def test_every_non_padding_object_is_cropped(tmp_path):
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    for k in range(2):
        write_image(tmp_path / f"{k}.png", images[k])
    files = ImageFiles([tmp_path / "0.png", tmp_path / "1.png"])
    assert torch.equal(files[1], images[1])
    labels = [[5, 0, 7], [0, 0, 9]]
    boxes = [[[0, 0, 0.5, 0.5], [-0.6, -0.6, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]], [[-0.6, -0.6, 0.5, 0.5]] * 2 + [[0, 0, 1, 1]]]
    assert [e[:2] for e in object_entries(labels, boxes)] == [(0, 5), (0, 7), (1, 9)]
    crops = scene_crops(files, labels, boxes, size=8)
    assert len(crops) == 3 and crops[2].shape == (3, 8, 8)
    assert torch.equal(crops[0], crop_resize(images[0], [0, 0, 0.5, 0.5], 8))
    labelled = ObjectCrops(files, object_entries(labels, boxes), 4, with_labels=True)
    assert labelled[2][1] == 9 and labelled.labels().tolist() == [5, 7, 9]
