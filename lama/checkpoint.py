"""Generator checkpoints that sampling and evaluation read.

One record, `{"format", "hparams", "state_dict", "class_names"}`, holding only tensors and plain
Python values so it loads with `torch.load(weights_only=True)`. It is either a file of its own
(written by `task=convert` or `save_generator`) or stored under the key `lama_generator` inside
a Lightning training checkpoint (the EMA generator when EMA is on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "lama-generator-v1"
LIGHTNING_KEY = "lama_generator"
# build_generator arguments recorded per architecture (records written before `arch` existed are LAMA's)
HPARAM_KEYS = {
    "lama": ("arch", "resolution", "num_classes", "ch", "z_dim", "lama"),
    "lostgan_v2": ("arch", "resolution", "num_classes", "ch", "z_dim"),
}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and what is wrong."""


def generator_record(
    state_dict: dict[str, torch.Tensor], hparams: dict[str, Any], class_names: list[str] | None = None
) -> dict[str, Any]:
    """Build the record for a generator's state dict and its build_generator arguments."""
    hparams = {"arch": "lama", **hparams}
    if hparams["arch"] not in HPARAM_KEYS:
        raise CheckpointError(f"generator arch must be one of {sorted(HPARAM_KEYS)}, got {hparams['arch']!r}")
    keys = HPARAM_KEYS[hparams["arch"]]
    missing = [k for k in keys if k not in hparams]
    if missing:
        raise CheckpointError(f"generator hparams lack {missing}")
    kinds = {"arch": str, "lama": bool}
    return {
        "format": FORMAT,
        "hparams": {k: kinds.get(k, int)(hparams[k]) for k in keys},
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "class_names": list(class_names) if class_names is not None else None,
    }


def save_generator(path: str | Path, generator: nn.Module, hparams: dict[str, Any], class_names=None) -> Path:
    """Write a stand-alone generator checkpoint atomically; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(generator_record(generator.state_dict(), hparams, class_names), tmp)
    tmp.replace(path)
    return path


def read_generator_record(path: str | Path) -> dict[str, Any]:
    """Load the generator record from a stand-alone file or a Lightning checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise CheckpointError(f"checkpoint {path} cannot be read with weights_only=True: {err}") from None
    record = obj.get(LIGHTNING_KEY, obj) if isinstance(obj, dict) else None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a lama generator checkpoint (no '{FORMAT}' record); "
            "an authors' checkpoint must first go through `python run.py task=convert checkpoint=...`"
        )
    record["hparams"] = {"arch": "lama", **record["hparams"]}
    return record


def check_arch_matches(record: dict[str, Any], arch: str, where: str | Path) -> None:
    """Refuse a generator record of another architecture than `arch` (model=lama vs model=lostgan_v2)."""
    found = record["hparams"].get("arch", "lama")
    if found != arch:
        raise CheckpointError(
            f"{where} holds a {found} generator, but the model is {arch}: "
            f"use model={found} with this checkpoint (or another checkpoint)"
        )


def load_generator(
    path: str | Path, resolution: int | None = None, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the generator a checkpoint describes, load its weights strictly, return (G in eval mode, record).
    With `resolution` given, a checkpoint for another resolution is refused."""
    from lama.models import build_generator

    record = read_generator_record(path)
    hp = record["hparams"]
    if resolution is not None and int(resolution) != hp["resolution"]:
        raise CheckpointError(
            f"{path} holds a {hp['resolution']} px generator, but resolution={resolution} was asked for"
        )
    generator = build_generator(**hp)
    try:
        generator.load_state_dict(record["state_dict"], strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit build_generator({hp}): {err}") from None
    return generator.to(map_location).eval(), record
