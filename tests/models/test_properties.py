"""Property tests: any valid layout gives finite outputs of the right shapes, in train and eval mode,
with adapted masks in [0, 2] and raw masks in [0, 1]."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lama.layout import PAD_BOX, PAD_LABEL, validate_layout
from lama.models import build_discriminator, build_generator

NUM_CLASSES, Z, CH = 10, 16, 4

coordinate = st.one_of(st.just(0.0), st.floats(0.0, 0.999))  # 0.0: touching the left / top edge


@st.composite
def box(draw):
    x0, y0 = draw(coordinate), draw(coordinate)
    # 1 - x0: touching the right / bottom edge; 1e-3: a box smaller than a pixel.
    w = draw(st.one_of(st.just(1.0 - x0), st.just(1e-3), st.floats(1e-3, 1.0 - x0)))
    h = draw(st.one_of(st.just(1.0 - y0), st.just(1e-3), st.floats(1e-3, 1.0 - y0)))
    return [x0, y0, max(w, 1e-3), max(h, 1e-3)]


@st.composite
def layouts(draw, max_images=2, max_slots=4):
    """(labels, boxes): 1..O real objects per image (possibly overlapping) in random slots, rest padding."""
    b, o = draw(st.integers(1, max_images)), draw(st.integers(1, max_slots))
    labels = torch.full((b, o), PAD_LABEL, dtype=torch.int64)
    boxes = torch.tensor(PAD_BOX).repeat(b, o, 1)
    for i in range(b):
        slots = draw(st.lists(st.integers(0, o - 1), min_size=1, max_size=o, unique=True))
        for s in slots:
            labels[i, s] = draw(st.integers(1, NUM_CLASSES - 1))
            boxes[i, s] = torch.tensor(draw(box()))
    return labels, boxes


@pytest.fixture(scope="module", params=[64, 128, 256])
def networks(request):
    torch.manual_seed(0)
    G = build_generator(request.param, NUM_CLASSES, ch=CH, z_dim=Z)
    D = build_discriminator(request.param, NUM_CLASSES, ch=CH)
    with torch.no_grad():
        for net in (G, D):
            for name, p in net.named_parameters():
                if name.endswith("alpha"):
                    p.fill_(0.7)  # every gate open, adapter included
    return request.param, G, D


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=layouts())
def test_any_valid_layout_gives_finite_bounded_outputs(networks, layout):
    resolution, G, D = networks
    labels, boxes = layout
    validate_layout(labels, boxes, NUM_CLASSES)
    b, o = labels.shape
    for train in (True, False):
        G.train(train)
        D.train(train)
        with torch.no_grad():
            images, masks, raw = G(torch.randn(b, o, Z), boxes, labels, return_masks=True)
            d_img, d_obj = D(images, boxes, labels)
        assert images.shape == (b, 3, resolution, resolution)
        assert masks.shape == raw.shape == (b, o, resolution, resolution)
        assert torch.isfinite(images).all() and images.abs().max() <= 1
        assert torch.isfinite(masks).all() and masks.min() >= 0 and masks.max() <= 2
        assert raw.min() >= 0 and raw.max() <= 1
        assert (raw[labels == PAD_LABEL] == 0).all()
        assert d_img.shape == (b, 1) and d_obj.shape == (int((labels != PAD_LABEL).sum()), 1)
        assert torch.isfinite(d_img).all() and torch.isfinite(d_obj).all()
