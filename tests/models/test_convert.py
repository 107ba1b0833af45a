"""The converter of the authors' state dicts: naming, prefixes, full-size key coverage, clear refusals."""

import json
import re

import pytest
import torch

from lama.models import build_discriminator, build_generator
from lama.models.convert import ConversionError, convert_original_state_dict, load_state_dict_checked

RESOLUTIONS = (64, 128, 256)
BUILDERS = {"generator": build_generator, "discriminator": build_discriminator}


@pytest.fixture(scope="module")
def full_size_shapes(reference_dir):
    return json.loads((reference_dir / "original_state_dict_shapes.json").read_text())


def fixture_state(reference_dir, network, resolution=64):
    path = reference_dir / f"original_{network}{resolution}_ch8_seed0.pt"
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("network", sorted(BUILDERS))
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_full_size_parameter_counts_and_every_key_maps(full_size_shapes, network, resolution):
    entry = full_size_shapes[f"{network}{resolution}"]
    ours = BUILDERS[network](resolution, 184, ch=64)  # on CPU: faster to build than on meta
    assert sum(p.numel() for p in ours.parameters()) == entry["params"]
    authors = {k: torch.empty(shape, device="meta") for k, shape in entry["state_dict"].items()}
    converted = convert_original_state_dict(authors, network, resolution)
    # Every authors' key maps to exactly one of ours and every one of ours is covered, with equal shapes.
    assert len(converted) == len(authors) == len(ours.state_dict())
    assert {k: tuple(v.shape) for k, v in converted.items()} == {
        k: tuple(v.shape) for k, v in ours.state_dict().items()
    }
    # A DDP / CombineDiscriminator checkpoint carries the same names under a prefix.
    prefix = "module." if network == "generator" else "obD."
    again = convert_original_state_dict({prefix + k: v for k, v in authors.items()}, network, resolution)
    assert list(again) == list(converted)


@pytest.mark.parametrize(
    "network,prefix", [("generator", "module."), ("discriminator", "obD."), ("discriminator", "module.obD.")]
)
def test_prefixed_keys_convert_to_the_same_tensors(reference_dir, network, prefix):
    state = fixture_state(reference_dir, network)
    plain = convert_original_state_dict(state, network, 64)
    wrapped = convert_original_state_dict({prefix + k: v for k, v in state.items()}, network, 64)
    assert list(plain) == list(wrapped)
    assert all(torch.equal(plain[k], wrapped[k]) for k in plain)


def test_old_style_spectral_norm_maps_to_parametrizations(reference_dir):
    state = fixture_state(reference_dir, "generator")
    converted = convert_original_state_dict(state, "generator", 64)
    assert not any(re.search(r"weight_(orig|u|v)$", k) for k in converted)
    assert torch.equal(converted["fc.parametrizations.weight.original"], state["fc.weight_orig"])
    assert torch.equal(converted["fc.parametrizations.weight.0._u"], state["fc.weight_u"])
    assert torch.equal(converted["fc.parametrizations.weight.0._v"], state["fc.weight_v"])
    assert torch.equal(converted["res.0.b1.rho"], state["res2.b1.rho"])
    assert torch.equal(
        converted["mask_regress.adapter.mask_adjust_alpha"], state["mask_regress.mask_adjust_alpha"]
    )


def test_unknown_and_missing_keys_are_listed(reference_dir):
    state = dict(fixture_state(reference_dir, "generator"))
    state["module.extra.weight"] = torch.zeros(3)
    del state["res3.conv2.weight_u"]
    with pytest.raises(ConversionError) as err:
        convert_original_state_dict(state, "generator", 64)
    msg = str(err.value)
    assert "unknown keys" in msg and "module.extra.weight" in msg
    assert "missing keys" in msg and "res.1.conv2.parametrizations.weight.0._u" in msg


def test_generator_without_adapter_keys_converts_to_the_ablation(reference_dir):
    state = {
        k: v
        for k, v in fixture_state(reference_dir, "generator").items()
        if "query" not in k and "key_affine" not in k and "mask_adjust" not in k
    }
    converted = convert_original_state_dict(state, "generator", 64)
    G = build_generator(64, 184, ch=8, lama=False)
    G.load_state_dict(converted, strict=True)
    with pytest.raises(ConversionError, match="missing keys"):
        load_state_dict_checked(build_generator(64, 184, ch=8, lama=True), converted)


@pytest.mark.parametrize(
    "network,resolution,kwargs,key,theirs,ours",
    [
        ("generator", 128, {}, "label_embedding.weight", (184, 128), (184, 160)),
        ("generator", 64, {"ch": 16}, "fc.bias", (2048,), (4096,)),
        ("generator", 64, {"num_classes": 179}, "label_embedding.weight", (184, 128), (179, 128)),
        ("discriminator", 128, {}, "block5.conv1.bias", (128,), (64,)),
        ("discriminator", 64, {"num_classes": 179}, "l_y.weight_orig", (184, 64), (179, 64)),
    ],
)
def test_mismatch_names_first_key_and_both_shapes(
    reference_dir, network, resolution, kwargs, key, theirs, ours
):
    state = fixture_state(reference_dir, network, 64)
    with pytest.raises(ConversionError) as err:
        convert_original_state_dict(state, network, resolution, **kwargs)
    msg = str(err.value)
    assert f"first mismatching key {key!r}" in msg
    assert str(theirs) in msg and str(ours) in msg


def test_loading_into_another_width_names_key_and_shapes(reference_dir):
    converted = convert_original_state_dict(
        fixture_state(reference_dir, "discriminator"), "discriminator", 64
    )
    with pytest.raises(ConversionError) as err:
        load_state_dict_checked(build_discriminator(64, 184, ch=16), converted)
    msg = str(err.value)
    assert "first mismatching key 'block1.conv1.bias'" in msg and "(8,)" in msg and "(16,)" in msg


@pytest.mark.parametrize(
    "args,match",
    [
        (("painter", 64), "network must be one of"),
        (("generator", 96), "resolution must be 64, 128 or 256"),
    ],
)
def test_bad_arguments(args, match):
    with pytest.raises(ConversionError, match=match):
        convert_original_state_dict({}, *args)


def test_not_a_network_state_dict():
    with pytest.raises(ConversionError, match="lacks"):
        convert_original_state_dict({"optimizer.step": torch.zeros(())}, "generator", 64)
    with pytest.raises(ConversionError, match="not a tensor"):
        convert_original_state_dict({"fc.weight_orig": [1, 2]}, "generator", 64)
