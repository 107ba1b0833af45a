"""The mask network pieces: pasting masks into boxes and the LAMA adapter."""

import math

import pytest
import torch

from lama.layout import PAD_BOX
from lama.models.masks import LamaAdapter, MaskNet, paste_masks


def paste_by_hand(mask: torch.Tensor, box, size: int) -> torch.Tensor:
    """Bilinear sampling written out per pixel: canvas pixel i sits at i / (size - 1), box coordinate
    t = (X - x0) / w, mask coordinate u = t * (m - 1); samples outside the mask read 0."""
    m = mask.shape[-1]
    x0, y0, w, h = box
    out = torch.zeros(size, size, dtype=torch.float64)

    def read(r, c):
        return float(mask[r, c]) if 0 <= r < m and 0 <= c < m else 0.0

    for i in range(size):
        for j in range(size):
            u = (j / (size - 1) - x0) / w * (m - 1)
            v = (i / (size - 1) - y0) / h * (m - 1)
            c0, r0 = math.floor(u), math.floor(v)
            fu, fv = u - c0, v - r0
            out[i, j] = (
                read(r0, c0) * (1 - fu) * (1 - fv)
                + read(r0, c0 + 1) * fu * (1 - fv)
                + read(r0 + 1, c0) * (1 - fu) * fv
                + read(r0 + 1, c0 + 1) * fu * fv
            )
    return out


@pytest.mark.parametrize("box", [(0.25, 0.25, 0.5, 0.5), (0.1, 0.4, 0.37, 0.9), (-0.2, 0.0, 1.3, 0.21)])
def test_paste_matches_per_pixel_bilinear_sampling(box):
    torch.manual_seed(0)
    mask = torch.rand(6, 6)
    pasted = paste_masks(mask.view(1, 1, 6, 6), torch.tensor([[box]]), 17)
    expected = paste_by_hand(mask, box, 17)
    assert pasted.shape == (1, 1, 17, 17)
    assert torch.allclose(pasted[0, 0].double(), expected, atol=1e-5)


def test_padding_box_pastes_nothing():
    pasted = paste_masks(torch.ones(2, 3, 32, 32), torch.tensor([[PAD_BOX] * 3] * 2), 64)
    assert pasted.abs().max() == 0


def test_adapter_starts_as_identity_and_bounds_the_scale():
    torch.manual_seed(0)
    adapter = LamaAdapter(64).eval()
    features, raw = torch.randn(2, 3, 64), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(adapter(features, raw), raw)  # beta = 0: tanh(0) + 1 = 1
        adapter.mask_adjust_alpha.fill_(1.0)
        for block in adapter.query_local:
            block.alpha.fill_(0.5)
        adapted = adapter(features, raw)
    assert not torch.allclose(adapted, raw)
    assert (adapted >= 0).all() and (adapted <= 2 * raw + 1e-6).all()


def test_mask_net_without_lama_returns_raw_masks_twice():
    net = MaskNet(20, 64, lama=False).eval()
    assert net.adapter is None
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.5], list(PAD_BOX)]])
    with torch.no_grad():
        masks, raw = net(torch.randn(1, 2, 20), boxes)
    assert masks is raw and raw.shape == (1, 2, 64, 64)
    assert raw[0, 1].abs().max() == 0 and raw[0, 0].max() > 0
