"""LostGAN-V2 networks: parity with the authors' networks on their fixtures, full-size parameter counts
and key coverage, the converter's refusals, and the generator's contract (masks, gradients, 64 px)."""

import json

import pytest
import torch

from lama.layout import PAD_BOX
from lama.models import build_discriminator, build_generator
from lama.models.convert import ConversionError, convert_original_state_dict

TOL = 1e-4
RESOLUTIONS = (128, 256)
BUILDERS = {"generator": build_generator, "discriminator": build_discriminator}
ARCH = "lostgan_v2"


@pytest.fixture(scope="module")
def lostgan_dir(reference_dir):
    path = reference_dir / "lostgan_v2"
    if not path.is_dir():
        pytest.skip(f"LostGAN-V2 fixtures not found at {path}")
    return path


def load_fixture(lostgan_dir, network, resolution):
    return torch.load(lostgan_dir / f"lostgan_v2_{network}{resolution}_ch8_seed0.pt", weights_only=True)


def converted_network(fx, network, prefix=""):
    state = {prefix + k: v for k, v in fx["state_dict"].items()}
    net = BUILDERS[network](fx["resolution"], fx["num_classes"], ch=fx["ch"], arch=ARCH)
    net.load_state_dict(convert_original_state_dict(state, network, fx["resolution"], arch=ARCH), strict=True)
    return net.eval()


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_generator_matches_authors_outputs(lostgan_dir, resolution):
    fx = load_fixture(lostgan_dir, "generator", resolution)
    G = converted_network(fx, "generator", prefix="module.")  # as train.py saves it
    inp, out = fx["inputs"], fx["outputs"]
    with torch.no_grad():
        image, masks, learnt = G(inp["z_obj"], inp["bbox"], inp["labels"], z_im=inp["z_im"], return_masks=True)
    err = (image - out["image"]).abs().max().item()
    assert image.shape == out["image"].shape and err < TOL, f"image at {resolution} px differs by {err:.3g}"
    # the masks every picture and metric reads: (B, O, R, R) in [0, 1], zero on padding slots
    b, o = inp["labels"].shape
    assert masks.shape == learnt.shape == (b, o, resolution, resolution)
    assert masks.min() >= 0 and masks.max() <= 1 and learnt.min() >= 0 and learnt.max() <= 1
    pad = inp["labels"] == 0
    assert masks[pad].abs().max() == 0 and learnt[pad].abs().max() == 0
    # the stage refinement really changed the learnt masks
    assert (masks - learnt).abs().max() > 1e-2


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_discriminator_matches_authors_outputs(lostgan_dir, resolution):
    fx = load_fixture(lostgan_dir, "discriminator", resolution)
    D = converted_network(fx, "discriminator", prefix="module.obD.")
    inp, out = fx["inputs"], fx["outputs"]
    boxes_before = inp["bbox"].clone()
    with torch.no_grad():
        d_img, d_obj = D(inp["images"], inp["bbox"], inp["labels"])
    assert torch.equal(inp["bbox"], boxes_before), "the discriminator must not modify the boxes in place"
    assert d_img.shape == out["d_img"].shape and (d_img - out["d_img"]).abs().max().item() < TOL
    assert d_obj.shape == out["d_obj"].shape
    # the same order (large objects first, then small) as the authors'
    err = (d_obj - out["d_obj"]).abs().max().item()
    assert err < TOL, f"d_obj at {resolution} px differs by {err:.3g}"
    slots = fx["d_obj_slot"]
    assert not torch.equal(slots, slots.sort().values), "the fixture must exercise the large-first order"


@pytest.fixture(scope="module")
def full_size_shapes(lostgan_dir):
    return json.loads((lostgan_dir / "lostgan_v2_state_dict_shapes.json").read_text())


@pytest.mark.parametrize("network", sorted(BUILDERS))
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_full_size_parameter_counts_and_every_key_maps(full_size_shapes, network, resolution):
    entry = full_size_shapes[f"{network}{resolution}"]
    ours = BUILDERS[network](resolution, 184, ch=64, arch=ARCH)  # on CPU: spectral norm cannot init on meta
    assert sum(p.numel() for p in ours.parameters()) == entry["params"]
    authors = {k: torch.empty(shape, device="meta") for k, shape in entry["state_dict"].items()}
    converted = convert_original_state_dict(authors, network, resolution, arch=ARCH)
    assert len(converted) == len(authors) == len(ours.state_dict())
    assert {k: tuple(v.shape) for k, v in converted.items()} == {
        k: tuple(v.shape) for k, v in ours.state_dict().items()
    }
    prefix = "module." if network == "generator" else "module.obD."
    again = convert_original_state_dict({prefix + k: v for k, v in authors.items()}, network, resolution, ARCH)
    assert list(again) == list(converted)


def test_unknown_and_missing_keys_are_listed(lostgan_dir):
    state = dict(load_fixture(lostgan_dir, "generator", 128)["state_dict"])
    state["module.extra.weight"] = torch.zeros(3)
    del state["alpha3"], state["res2.conv_mask.1.running_var"]
    with pytest.raises(ConversionError) as err:
        convert_original_state_dict(state, "generator", 128, arch=ARCH)
    msg = str(err.value)
    assert "unknown keys" in msg and "module.extra.weight" in msg
    assert "missing keys" in msg and "class_gates.2" in msg and "res.1.conv_mask.1.running_var" in msg


def test_lama_weights_are_not_lostgan_weights(lostgan_dir, reference_dir):
    lama = torch.load(reference_dir / "original_generator128_ch8_seed0.pt", weights_only=True)["state_dict"]
    with pytest.raises(ConversionError, match="does not fit our lostgan_v2 generator"):
        convert_original_state_dict(lama, "generator", 128, arch=ARCH)
    lostgan = load_fixture(lostgan_dir, "generator", 128)["state_dict"]
    with pytest.raises(ConversionError, match="does not fit our lama generator"):
        convert_original_state_dict(lostgan, "generator", 128)


@pytest.mark.parametrize("network", sorted(BUILDERS))
def test_64px_is_refused(network):
    with pytest.raises(ValueError, match="64"):
        BUILDERS[network](64, 184, ch=8, arch=ARCH)
    with pytest.raises(ConversionError, match="resolution must be 128 or 256 for lostgan_v2"):
        convert_original_state_dict({}, network, 64, arch=ARCH)
    with pytest.raises(ValueError, match="arch must be one of"):
        BUILDERS[network](128, 184, ch=8, arch="lostgan")


def tiny_layout(resolution, classes=184):
    labels = torch.tensor([[5, 100, 0], [7, 7, 183]])
    boxes = torch.tensor(
        [[[0.1, 0.1, 0.5, 0.6], [0.4, 0.3, 0.5, 0.5], list(PAD_BOX)], [[0.0, 0.0, 1.0, 1.0], [0.2, 0.6, 0.3, 0.3],
                                                                       [0.5, 0.1, 0.2, 0.2]]]
    )
    return torch.rand(2, 3, resolution, resolution) * 2 - 1, boxes, labels


def test_every_parameter_gets_a_gradient_in_training():
    torch.manual_seed(0)
    G = build_generator(128, 184, ch=4, arch=ARCH).train()
    D = build_discriminator(128, 184, ch=4, arch=ARCH).train()
    real, boxes, labels = tiny_layout(128)
    fake = G(torch.randn(2, 3, 128), boxes, labels)
    d_img, d_obj = D(fake, boxes, labels)
    (d_img.sum() + d_obj.sum() + fake.square().mean()).backward()
    for net in (G, D):
        dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not dead, dead


def test_generator_checks_latents():
    G = build_generator(128, 184, ch=4, arch=ARCH).eval()
    _, boxes, labels = tiny_layout(128)
    with pytest.raises(ValueError, match=r"z_obj must be \(B, O, z_dim\)"):
        G(torch.randn(2, 3, 64), boxes, labels)
    with pytest.raises(ValueError, match="z_dim=128"):
        build_generator(128, 184, ch=4, z_dim=64, arch=ARCH)
