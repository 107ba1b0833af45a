"""Parity with the authors' networks: their weights, converted, reproduce their outputs on fixed inputs."""

import pytest
import torch

from lama.models import build_discriminator, build_generator
from lama.models.convert import convert_original_state_dict

TOL = 1e-4
RESOLUTIONS = (64, 128, 256)


def load_fixture(reference_dir, network, resolution):
    return torch.load(reference_dir / f"original_{network}{resolution}_ch8_seed0.pt", weights_only=True)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_generator_matches_authors_outputs(reference_dir, resolution):
    fx = load_fixture(reference_dir, "generator", resolution)
    assert fx["resolution"] == resolution
    state = convert_original_state_dict(fx["state_dict"], "generator", resolution)
    G = build_generator(resolution, fx["num_classes"], ch=fx["ch"], z_dim=fx["z_dim"], lama=True)
    G.load_state_dict(state, strict=True)
    G.eval()
    inp, out = fx["inputs"], fx["outputs"]
    with torch.no_grad():
        image, mask, raw = G(inp["z_obj"], inp["bbox"], inp["labels"], z_im=inp["z_im"], return_masks=True)
    for name, ours in (("image", image), ("mask", mask), ("raw_mask", raw)):
        assert ours.shape == out[name].shape, name
        err = (ours - out[name]).abs().max().item()
        assert err < TOL, f"{name} at {resolution} px differs by {err:.3g}"
    # The gates were set away from 0 in the fixture, so the adapter really changed the masks.
    assert (out["mask"] - out["raw_mask"]).abs().max() > 1e-2


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_discriminator_matches_authors_outputs(reference_dir, resolution):
    fx = load_fixture(reference_dir, "discriminator", resolution)
    state = convert_original_state_dict(fx["state_dict"], "discriminator", resolution)
    D = build_discriminator(resolution, fx["num_classes"], ch=fx["ch"])
    D.load_state_dict(state, strict=True)
    D.eval()
    inp, out = fx["inputs"], fx["outputs"]
    boxes_before = inp["bbox"].clone()
    with torch.no_grad():
        d_img, d_obj = D(inp["images"], inp["bbox"], inp["labels"])
    assert torch.equal(inp["bbox"], boxes_before), "the discriminator must not modify the boxes in place"
    assert d_img.shape == out["d_img"].shape
    assert (d_img - out["d_img"]).abs().max().item() < TOL
    assert d_obj.shape == out["d_obj"].shape == (int((inp["labels"] != 0).sum()), 1)
    sorted_err = (d_obj.flatten().sort().values - out["d_obj"].flatten().sort().values).abs().max().item()
    assert sorted_err < TOL, f"d_obj at {resolution} px differs by {sorted_err:.3g}"
    # Not only the same set: the same order (large objects first, then small) as the authors.
    assert (d_obj - out["d_obj"]).abs().max().item() < TOL


def test_noise_strengths_in_fixtures_make_noise_vanish(reference_dir):
    """Guards the premise of the parity tests: with the fixture weights, noise on or off agree."""
    fx = load_fixture(reference_dir, "generator", 64)
    G = build_generator(64, fx["num_classes"], ch=fx["ch"])
    G.load_state_dict(convert_original_state_dict(fx["state_dict"], "generator", 64))
    G.eval()
    inp = fx["inputs"]
    with torch.no_grad():
        on = G(inp["z_obj"], inp["bbox"], inp["labels"], z_im=inp["z_im"])
        G.noise_enabled = False
        off = G(inp["z_obj"], inp["bbox"], inp["labels"], z_im=inp["z_im"])
    assert (on - off).abs().max().item() < 1e-6
