"""The discriminator's contract: object order and the small/large rule, empty layouts, input errors."""

import pytest
import torch

from lama.layout import PAD_BOX, LayoutError
from lama.models import build_discriminator


def make_d(resolution):
    torch.manual_seed(0)
    D = build_discriminator(resolution, 10, ch=4).eval()
    with torch.no_grad():
        for name, p in D.named_parameters():
            if name.endswith("alpha"):
                p.fill_(0.5)  # open every residual branch
    return D


def scores_alone(D, image, boxes, labels):
    """Each object's score from a layout holding only that object (no state couples objects in eval)."""
    out = []
    for box, label in zip(boxes, labels):
        with torch.no_grad():
            out.append(D(image[None], box.view(1, 1, 4), label.view(1, 1))[1])
    return torch.cat(out)


@pytest.mark.parametrize(
    "resolution,small,large",
    [
        # At 128 px an object is small when narrower AND shorter than 64 px: exactly 64 px is large.
        (128, [0.1, 0.1, 0.3, 0.3], [0.2, 0.2, 0.5, 0.5]),
        # At 256 px "at most 128 px" is small: exactly 128 px is small.
        (256, [0.2, 0.2, 0.5, 0.5], [0.1, 0.1, 0.6, 0.3]),
    ],
)
def test_large_objects_come_first(resolution, small, large):
    D = make_d(resolution)
    image = torch.rand(3, resolution, resolution) * 2 - 1
    labels = torch.tensor([[2, 4, 0]])
    boxes = torch.tensor([[small, large, list(PAD_BOX)]])
    with torch.no_grad():
        d_img, d_obj = D(image[None], boxes, labels)
    assert d_img.shape == (1, 1) and d_obj.shape == (2, 1)
    alone = scores_alone(D, image, boxes[0, :2], labels[0, :2])
    assert torch.allclose(d_obj, alone.flip(0), atol=1e-5)
    assert not torch.allclose(d_obj, alone, atol=1e-5)


def test_64px_keeps_slot_order_and_batches_images():
    D = make_d(64)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    labels = torch.tensor([[1, 0, 3], [0, 5, 0]])
    boxes = torch.tensor(
        [[[0.0, 0.0, 1.0, 1.0], PAD_BOX, [0.5, 0.5, 0.1, 0.1]], [PAD_BOX, [0.2, 0.3, 0.4, 0.2], PAD_BOX]]
    )
    with torch.no_grad():
        _, d_obj = D(images, boxes, labels)
    expected = torch.cat(
        [
            scores_alone(D, images[0], boxes[0, [0, 2]], labels[0, [0, 2]]),
            scores_alone(D, images[1], boxes[1, 1:2], labels[1, 1:2]),
        ]
    )
    assert torch.allclose(d_obj, expected, atol=1e-5)


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_layout_without_objects(resolution):
    D = make_d(resolution)
    with torch.no_grad():
        d_img, d_obj = D(
            torch.zeros(2, 3, resolution, resolution),
            torch.tensor([[PAD_BOX] * 2] * 2),
            torch.zeros(2, 2, dtype=torch.long),
        )
    assert d_img.shape == (2, 1) and d_obj.shape == (0, 1)


def test_bad_inputs():
    D = make_d(64)
    labels, boxes = torch.tensor([[1]]), torch.tensor([[[0.1, 0.1, 0.5, 0.5]]])
    with pytest.raises(ValueError, match=r"images must be \(B, 3, 64, 64\)"):
        D(torch.zeros(1, 3, 128, 128), boxes, labels)
    with pytest.raises(ValueError, match=r"images must be"):
        D(torch.zeros(2, 3, 64, 64), boxes, labels)
    with pytest.raises(LayoutError, match="int64"):
        D(torch.zeros(1, 3, 64, 64), boxes, labels.int())
    with pytest.raises(ValueError, match="resolution must be one of"):
        build_discriminator(32, 10)


def test_downsampling_shortcut_is_the_authors_conv_then_pool():
    """The block pools before its 1x1 shortcut conv; the function and its gradients are the authors'
    pool(conv1x1(x)) up to float rounding."""
    import torch.nn.functional as F

    from lama.models.blocks import lrelu
    from lama.models.discriminator import DBlock

    torch.manual_seed(0)
    block = DBlock(6, 10, down=True).eval()  # eval: fixed spectral-norm vectors for both computations
    with torch.no_grad():
        block.alpha.fill_(0.7)
    x = torch.randn(2, 6, 8, 8, dtype=torch.float64, requires_grad=True)
    block.double()
    ours = block(x)
    h = block.conv2(lrelu(block.conv1(lrelu(x))))
    theirs = block.alpha.clamp(-1, 1) * F.avg_pool2d(h, 2) + F.avg_pool2d(block.c_sc(x), 2)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    weight = block.c_sc.parametrizations.weight.original
    g_ours = torch.autograd.grad(ours.sin().sum(), (x, weight))
    g_theirs = torch.autograd.grad(theirs.sin().sum(), (x, weight))
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert (ours - (block.alpha * F.avg_pool2d(h, 2))).abs().max() > 1e-3  # the shortcut is not zero
