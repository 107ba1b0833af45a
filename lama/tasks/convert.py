"""`python run.py task=convert checkpoint=PATH resolution=128 data=coco_stuff [model=lostgan_v2]`: turn an
authors' released LAMA (or LostGAN-V2) generator checkpoint into a generator checkpoint of ours that
task=sample / task=evaluate accept."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from lama.checkpoint import (
    FORMAT,
    LIGHTNING_KEY,
    CheckpointError,
    load_checkpoint_file,
    load_generator,
    save_generator,
)
from lama.models import build_generator
from lama.models.convert import (
    RESOLUTIONS,
    ConversionError,
    convert_original_state_dict,
    infer_hparams,
    key_listing,
    load_state_dict_checked,
)
from lama.tasks import TaskError, require

log = logging.getLogger(__name__)
# Where the authors' and common training scripts keep the generator inside a checkpoint dict.
GENERATOR_ENTRIES = ("netG", "generator", "G", "net_G", "model", "state_dict", "model_state_dict")


def _is_tensor_dict(obj) -> bool:
    return (
        isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def extract_generator_state_dict(obj) -> dict[str, torch.Tensor]:
    """The generator's weights from a loaded checkpoint: a raw state dict, or a dict holding it under
    one of GENERATOR_ENTRIES (e.g. {'netG': ..., 'netD': ..., 'epoch': ...})."""
    if _is_tensor_dict(obj):
        return dict(obj)
    if not isinstance(obj, Mapping):
        raise ConversionError(f"expected a state dict or a dict of them, got {type(obj).__name__}")
    if obj.get("format") == FORMAT or LIGHTNING_KEY in obj:
        raise ConversionError("this is already a checkpoint of ours; sample or evaluate it directly")
    for key in GENERATOR_ENTRIES:
        if _is_tensor_dict(obj.get(key)):
            return dict(obj[key])
    raise ConversionError(
        f"no generator state dict found: top-level keys are {key_listing([str(k) for k in obj])}; "
        f"expected a raw state dict or one of {list(GENERATOR_ENTRIES)}"
    )


def read_original_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The generator state dict (authors' names) inside an authors' checkpoint file."""
    try:
        obj = load_checkpoint_file(path)
    except CheckpointError as err:  # missing, empty, truncated, not a checkpoint, or a pickle of code
        raise TaskError(str(err)) from None
    try:
        return extract_generator_state_dict(obj)
    except ConversionError as err:
        raise TaskError(f"{path}: {err}") from None


def _first_fit(state: dict, num_classes: int, candidates: list[tuple[str, int]]) -> tuple[str, int] | None:
    """The first (arch, resolution) of `candidates` the weights convert to, to suggest when the requested
    one does not."""
    for arch, resolution in candidates:
        try:
            convert_original_state_dict(state, "generator", resolution, arch, num_classes=num_classes)
        except ConversionError:
            continue
        return arch, resolution
    return None


def _label_rows(state: dict) -> int | None:
    """Rows of the authors' label embedding (the class count the weights were trained with)."""
    for key, value in state.items():
        if key.endswith("label_embedding.weight") and value.dim() == 2:
            return int(value.shape[0])
    return None


def convert_checkpoint(
    src: Path, dst: Path, resolution: int, num_classes: int, arch: str = "lama"
) -> tuple[Path, dict]:
    """Convert the authors' `arch` generator checkpoint `src` into our record at `dst`; returns (dst, hparams)."""
    state = read_original_checkpoint(src)
    try:
        converted = convert_original_state_dict(state, "generator", resolution, arch, num_classes=num_classes)
    except ConversionError as err:
        # another resolution of this model first, then the other model at any resolution
        candidates = [(arch, r) for r in RESOLUTIONS[arch] if r != resolution]
        candidates += [(a, r) for a, sizes in RESOLUTIONS.items() if a != arch for r in sizes]
        fit = _first_fit(state, num_classes, candidates)
        hint = ("" if fit is None else f"; it fits a {fit[1]} px generator: add resolution={fit[1]}" if fit[0] == arch
                else f"; it is a {fit[0]} generator: add model={fit[0]}")
        rows = _label_rows(state)
        if rows is not None and rows != num_classes:
            hint += f"; its label embedding has {rows} rows (data=coco_stuff has 184, data=vg 179)"
        raise TaskError(
            f"{src} is not a {resolution} px generator for {num_classes} classes (model={arch}){hint}. "
            f"Details: {err}"
        ) from None
    inferred = infer_hparams(converted, "generator", arch)
    hparams = {"arch": arch, "resolution": resolution, "num_classes": num_classes, **inferred}
    generator = load_state_dict_checked(build_generator(**hparams), converted, "the generator")
    save_generator(dst, generator, hparams, class_names=None)
    try:  # read it back exactly as sampling and evaluation will
        load_generator(dst, resolution=resolution)
    except CheckpointError as err:
        raise TaskError(f"the converted checkpoint {dst} does not load back: {err}") from None
    return dst, hparams


def run(cfg: DictConfig) -> Path:
    """Convert cfg.checkpoint for cfg.model.arch, cfg.resolution and cfg.data.num_classes; write it to `out`
    (if set) or generator.pt in the run directory; print and return the path."""
    src = Path(str(require(cfg, "checkpoint", "(the authors' released generator, e.g. G_200.pth)")))
    arch = str(OmegaConf.select(cfg, "model.arch", default="lama"))
    if arch not in RESOLUTIONS:
        raise TaskError(f"model.arch={arch!r}: choose model=lama or model=lostgan_v2")
    resolution = int(require(cfg, "resolution"))
    if resolution not in RESOLUTIONS[arch]:
        raise TaskError(f"resolution must be one of {RESOLUTIONS[arch]} for model={arch}, got {resolution}")
    num_classes = require(
        cfg, "data.num_classes", "(data=coco_stuff for COCO-Stuff, data=vg for Visual Genome)"
    )
    out = OmegaConf.select(cfg, "out", default=None)
    dst = Path(str(out)) if out else Path(str(cfg.paths.run_dir)) / "generator.pt"
    dst, hparams = convert_checkpoint(src, dst, resolution, int(num_classes), arch)
    log.info("converted %s with %s", src, hparams)
    print(f"converted generator written to {dst}")
    return dst
