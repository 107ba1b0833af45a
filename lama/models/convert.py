"""Convert the authors' released state dicts (LAMA's and LostGAN-V2's naming, old-style spectral norm) into
state dicts that our networks load with strict=True. Pure key and shape mapping: reading and writing
checkpoint files is lama.checkpoint's and lama.tasks.convert's job."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

import torch
from torch import nn

from lama.models.arch import check_arch

NETWORKS = ("generator", "discriminator")
RESOLUTIONS = {"lama": (64, 128, 256), "lostgan_v2": (128, 256)}
# DDP saves the generator under `module.`; the CombineDiscriminator wrapper keeps its network under `obD.`.
PREFIXES = ("module.", "obD.")
# Old-style spectral norm (weight_orig, weight_u, weight_v) -> torch.nn.utils.parametrizations names.
SN_SUFFIXES = {
    ".weight_orig": ".parametrizations.weight.original",
    ".weight_u": ".parametrizations.weight.0._u",
    ".weight_v": ".parametrizations.weight.0._v",
}
# The LAMA adapter's parameters live in the authors' mask network; ours groups them in a sub-module.
ADAPTER_RE = re.compile(r"^mask_regress\.(mask_adjust_alpha|query_affine|key_affine|query_local)\b")


class ConversionError(ValueError):
    """A state dict that does not fit the requested network; the message names the keys and shapes."""


def strip_prefixes(key: str) -> str:
    """Drop any leading `module.` / `obD.` wrappers from one parameter name."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _rename_sn(key: str) -> str:
    for old, new in SN_SUFFIXES.items():
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


def _rename_generator_block(key: str, resolution: int) -> str:
    """The authors number the blocks res2..res5 (64 px), res1..res5 (128 px) or res.i.model (256 px);
    ours are res.0, res.1, ... at every resolution."""
    if resolution == 256:
        return re.sub(r"^res\.(\d+)\.model\.", r"res.\1.", key)
    first = {64: 2, 128: 1}[resolution]
    return re.sub(r"^res(\d+)\.", lambda m: f"res.{int(m.group(1)) - first}.", key)


def _rename_lostgan_v2(key: str, network: str) -> str:
    """LostGAN-V2: blocks res1..resN -> res.0.., gates alpha1..alphaK -> class_gates.0..; the image head
    l7 (128 px) / l8 (256 px) -> l_im."""
    if network == "generator":
        key = re.sub(r"^res(\d+)\.", lambda m: f"res.{int(m.group(1)) - 1}.", key)
        return re.sub(r"^alpha(\d+)$", lambda m: f"class_gates.{int(m.group(1)) - 1}", key)
    return re.sub(r"^l[78]\.", "l_im.", key)


def rename_key(key: str, network: str, resolution: int, arch: str = "lama") -> str:
    """One authors' parameter name -> ours."""
    key = _rename_sn(strip_prefixes(key))
    if arch == "lostgan_v2":
        return _rename_lostgan_v2(key, network)
    if network == "generator":
        key = _rename_generator_block(key, resolution)
        key = ADAPTER_RE.sub(r"mask_regress.adapter.\1", key)
    return key


def infer_hparams(state_dict: Mapping[str, torch.Tensor], network: str, arch: str = "lama") -> dict:
    """Builder arguments (ch, num_classes, and for the generator z_dim, and lama for LAMA) read off
    converted weights."""
    probes = {
        "generator": {
            "ch": ("final.0.weight", 0),
            "num_classes": ("label_embedding.weight", 0),
            "z_dim": ("fc.parametrizations.weight.original", 1),
        },
        "discriminator": {
            "ch": ("block1.conv1.parametrizations.weight.original", 0),
            "num_classes": ("l_y.parametrizations.weight.original", 0),
        },
    }[network]
    absent = [key for key, _ in probes.values() if key not in state_dict]
    if absent:
        raise ConversionError(f"not a {network} state dict of the authors' release: it lacks {absent}")
    hparams = {name: int(state_dict[key].shape[dim]) for name, (key, dim) in probes.items()}
    if network == "generator" and arch == "lama":
        hparams["lama"] = any(k.startswith("mask_regress.adapter.") for k in state_dict)
    return hparams


def build_network(network: str, resolution: int, arch: str = "lama", **hparams) -> nn.Module:
    """Our generator or discriminator from its builder arguments."""
    from lama.models import build_discriminator, build_generator

    if network == "generator":
        return build_generator(resolution, arch=arch, **hparams)
    return build_discriminator(resolution, arch=arch, **hparams)


@functools.lru_cache(maxsize=16)
def target_shapes(network: str, resolution: int, arch: str, hparams: tuple) -> dict[str, torch.Size]:
    """Name -> shape of our network's state dict, in its order (built once per set of arguments)."""
    net = build_network(network, resolution, arch, **dict(hparams))
    return {k: v.shape for k, v in net.state_dict().items()}


def check_state_dict_fits(
    target: Mapping[str, torch.Tensor | torch.Size],
    state_dict: Mapping[str, torch.Tensor],
    what: str,
    names=None,
) -> None:
    """Raise ConversionError naming the first key whose shape differs (with both shapes), then the keys
    missing from and unknown to `target`. `names` maps our keys back to the names the user gave."""
    names = names or {}
    problems = []
    mismatched = [
        k for k in state_dict if k in target and tuple(state_dict[k].shape) != tuple(_shape(target[k]))
    ]
    if mismatched:
        k = mismatched[0]
        problems.append(
            f"first mismatching key {names.get(k, k)!r} has shape {tuple(state_dict[k].shape)} in the state dict "
            f"but {tuple(_shape(target[k]))} in the network ({len(mismatched)} mismatching in all)"
        )
    missing = [k for k in target if k not in state_dict]
    if missing:
        problems.append(f"missing keys: {key_listing(missing)}")
    unknown = [names.get(k, k) for k in state_dict if k not in target]
    if unknown:
        problems.append(f"unknown keys: {key_listing(unknown)}")
    if problems:
        raise ConversionError(f"state dict does not fit {what}: " + "; ".join(problems))


def key_listing(keys: list[str], limit: int = 12) -> str:
    """At most `limit` keys, quoted, then how many there are in all."""
    shown = ", ".join(repr(k) for k in keys[:limit])
    return f"[{shown}]" if len(keys) <= limit else f"[{shown}, ...] ({len(keys)} in all)"


def _shape(value) -> torch.Size:
    return value.shape if isinstance(value, torch.Tensor) else torch.Size(value)


def convert_original_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    network: str,
    resolution: int,
    arch: str = "lama",
    *,
    ch: int | None = None,
    num_classes: int | None = None,
) -> dict[str, torch.Tensor]:
    """The authors' `network` ("generator" or "discriminator") weights of `arch` ("lama" or "lostgan_v2"),
    with or without `module.` / `obD.` prefixes, -> a state dict our network of the same arch, resolution,
    width and class count loads strictly. Width and class count are read off the weights unless `ch` /
    `num_classes` demand specific values."""
    if network not in NETWORKS:
        raise ConversionError(f"network must be one of {NETWORKS}, got {network!r}")
    try:
        check_arch(arch)
    except ValueError as err:
        raise ConversionError(str(err)) from None
    sizes = RESOLUTIONS[arch]
    if int(resolution) not in sizes:
        raise ConversionError(
            f"resolution must be {', '.join(map(str, sizes[:-1]))} or {sizes[-1]} for {arch}, got {resolution}"
        )
    resolution = int(resolution)
    converted: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"entry {key!r} is a {type(value).__name__}, not a tensor")
        new = rename_key(key, network, resolution, arch)
        if new in converted:
            raise ConversionError(f"keys {names[new]!r} and {key!r} both map to {new!r}")
        converted[new], names[new] = value, key
    hparams = infer_hparams(converted, network, arch)
    if ch is not None:
        hparams["ch"] = int(ch)
    if num_classes is not None:
        hparams["num_classes"] = int(num_classes)
    target = target_shapes(network, resolution, arch, tuple(sorted(hparams.items())))
    what = f"our {arch} {network} at {resolution} px with {hparams}"
    check_state_dict_fits(target, converted, what, names)
    return {k: converted[k] for k in target}


def load_state_dict_checked(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str = ""
) -> nn.Module:
    """module.load_state_dict(strict=True) after a check whose error names the first mismatching key and
    both shapes, and lists missing / unknown keys. Returns `module`."""
    check_state_dict_fits(module.state_dict(), state_dict, what or type(module).__name__)
    module.load_state_dict(state_dict, strict=True)
    return module
