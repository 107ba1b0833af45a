"""The generator's contract: shapes and ranges, noise switch, padding invariance, clear input errors."""

import pytest
import torch

from lama.checkpoint import load_generator, save_generator
from lama.layout import PAD_BOX, LayoutError
from lama.models import build_generator

Z = 16  # small latent: (16 + 128 + 2) // 4 = 36 is a multiple of 4, so the adapter's GroupNorm fits


def layout():
    labels = torch.tensor([[3, 5, 0], [7, 0, 0]])
    boxes = torch.tensor(
        [
            [[0.1, 0.1, 0.5, 0.6], [0.3, 0.0, 0.7, 1.0], list(PAD_BOX)],
            [[0.0, 0.5, 0.2, 0.2], list(PAD_BOX), list(PAD_BOX)],
        ]
    )
    return labels, boxes


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    G = build_generator(64, 10, ch=4, z_dim=Z)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("alpha"):
                p.fill_(0.5)  # open every gate so that noise, norms and adapter all act
    return G


def test_outputs_shapes_and_ranges(G):
    labels, boxes = layout()
    G.train()
    images, masks, raw = G(torch.randn(2, 3, Z), boxes, labels, return_masks=True)
    assert images.shape == (2, 3, 64, 64) and masks.shape == raw.shape == (2, 3, 64, 64)
    assert images.abs().max() <= 1 and raw.min() >= 0 and raw.max() <= 1 and masks.max() <= 2
    assert raw[0, 2].abs().max() == 0 and raw[1, 1:].abs().max() == 0  # padding slots
    assert (G.resolution, G.num_classes, G.z_dim) == (64, 10, Z)
    images.mean().backward()
    assert G.style_mapping[0].parametrizations.weight.original.grad is not None


def test_noise_switch(G):
    labels, boxes = layout()
    G.eval()
    z, z_im = torch.randn(2, 3, Z), torch.randn(2, Z)
    with torch.no_grad():
        G.noise_enabled = True
        noisy = [G(z, boxes, labels, z_im=z_im) for _ in range(2)]
        G.noise_enabled = False
        quiet = [G(z, boxes, labels, z_im=z_im) for _ in range(2)]
    G.noise_enabled = True
    assert not torch.allclose(noisy[0], noisy[1])  # fresh noise at every call, also in eval mode
    assert torch.equal(quiet[0], quiet[1])
    assert not build_generator(64, 10, ch=4, z_dim=Z, noise=False).noise_enabled


def test_padding_slots_do_not_change_the_image(G):
    labels, boxes = layout()
    G.eval()
    G.noise_enabled = False
    z, z_im = torch.randn(2, 3, Z), torch.randn(2, Z)
    z2 = z.clone()
    z2[labels == 0] = torch.randn(int((labels == 0).sum()), Z)
    with torch.no_grad():
        a, b = G(z, boxes, labels, z_im=z_im), G(z2, boxes, labels, z_im=z_im)
    G.noise_enabled = True
    assert torch.allclose(a, b, atol=1e-6)


def test_lama_false_is_the_ablation():
    torch.manual_seed(0)
    G = build_generator(64, 10, ch=4, z_dim=Z, lama=False).eval()
    assert not any("adapter" in n for n in G.state_dict())
    labels, boxes = layout()
    with torch.no_grad():
        _, masks, raw = G(torch.randn(2, 3, Z), boxes, labels, return_masks=True)
    assert torch.equal(masks, raw)


def test_checkpoint_round_trip(G, tmp_path):
    hparams = {"resolution": 64, "num_classes": 10, "ch": 4, "z_dim": Z, "lama": True}
    path = save_generator(tmp_path / "g.pt", G, hparams)
    loaded, record = load_generator(path)
    labels, boxes = layout()
    z, z_im = torch.randn(2, 3, Z), torch.randn(2, Z)
    G.eval()
    G.noise_enabled = loaded.noise_enabled = False
    with torch.no_grad():
        assert torch.equal(G(z, boxes, labels, z_im=z_im), loaded(z, boxes, labels, z_im=z_im))
    G.noise_enabled = True
    # hparams without arch are LAMA's, and without mask_ch the authors' 128-channel mask net
    assert record["hparams"] == {"arch": "lama", "mask_ch": 128, **hparams}


def test_narrow_mask_net_round_trip(tmp_path):
    """model.mask_ch builds a narrower mask network, recorded so that sampling rebuilds the same one."""
    torch.manual_seed(0)
    hparams = {"resolution": 64, "num_classes": 10, "ch": 4, "z_dim": Z, "lama": True, "mask_ch": 16}
    G = build_generator(**hparams).eval()
    assert G.mask_regress.fc.weight.shape[0] == 16 * 4 * 4
    assert G.mask_regress.conv1.conv[2].weight.shape == (16, 16, 3, 3)
    loaded, record = load_generator(save_generator(tmp_path / "g.pt", G, hparams))
    assert record["hparams"]["mask_ch"] == 16
    labels, boxes = layout()
    z, z_im = torch.randn(2, 3, Z), torch.randn(2, Z)
    G.noise_enabled = loaded.noise_enabled = False
    with torch.no_grad():
        assert torch.equal(G(z, boxes, labels, z_im=z_im), loaded(z, boxes, labels, z_im=z_im))


@pytest.mark.parametrize(
    "change,error,match",
    [
        (lambda z, b, lab, zi: (z, b, lab.float(), zi), LayoutError, "int64"),
        (lambda z, b, lab, zi: (z, b[..., :3], lab, zi), LayoutError, r"boxes must be \(B, O, 4\)"),
        (lambda z, b, lab, zi: (z, b.long(), lab, zi), LayoutError, "floating point"),
        (lambda z, b, lab, zi: (z, b, lab[0], zi), LayoutError, r"labels must be \(B, O\)"),
        (lambda z, b, lab, zi: (z[..., :8], b, lab, zi), ValueError, "z_obj must be"),
        (lambda z, b, lab, zi: (z, b, lab, zi[:1]), ValueError, "z_im must be"),
    ],
)
def test_bad_inputs_fail_before_any_computation(G, change, error, match):
    labels, boxes = layout()
    args = change(torch.randn(2, 3, Z), boxes, labels, torch.randn(2, Z))
    G.train()
    before = G.final[0].running_mean.clone(), G.mask_regress.fc.parametrizations.weight[0]._u.clone()
    with pytest.raises(error, match=match):
        G(*args)
    # In train mode any forward would move BatchNorm statistics and spectral-norm vectors.
    assert torch.equal(before[0], G.final[0].running_mean)
    assert torch.equal(before[1], G.mask_regress.fc.parametrizations.weight[0]._u)


def test_bad_construction():
    with pytest.raises(ValueError, match="resolution must be one of"):
        build_generator(96, 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        build_generator(64, 10, ch=6)
