"""`python run.py task=convert checkpoint=PATH resolution=128 data=coco_stuff`: turn an authors' released
LAMA generator checkpoint into a generator checkpoint of ours that task=sample / task=evaluate accept."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from lama.checkpoint import CheckpointError, load_generator, save_generator
from lama.models import build_generator
from lama.models.convert import (
    ConversionError,
    convert_original_state_dict,
    extract_generator_state_dict,
    infer_hparams,
    load_state_dict_checked,
)
from lama.tasks import TaskError, require

log = logging.getLogger(__name__)
RESOLUTIONS = (64, 128, 256)


def read_original_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The generator state dict (authors' names) inside an authors' checkpoint file."""
    if not path.is_file():
        raise TaskError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise TaskError(
            f"{path} cannot be read with torch.load(weights_only=True) ({type(err).__name__}: {err}); "
            "save just its generator state dict with torch.save(state_dict, path) and convert that"
        ) from None
    try:
        return extract_generator_state_dict(obj)
    except ConversionError as err:
        raise TaskError(f"{path}: {err}") from None


def _fitting_resolution(state: dict, num_classes: int, tried: int) -> int | None:
    """Another resolution the weights fit, to suggest when the requested one does not."""
    for resolution in RESOLUTIONS:
        if resolution == tried:
            continue
        try:
            convert_original_state_dict(state, "generator", resolution, num_classes=num_classes)
        except ConversionError:
            continue
        return resolution
    return None


def _label_rows(state: dict) -> int | None:
    """Rows of the authors' label embedding (the class count the weights were trained with)."""
    for key, value in state.items():
        if key.endswith("label_embedding.weight") and value.dim() == 2:
            return int(value.shape[0])
    return None


def convert_checkpoint(src: Path, dst: Path, resolution: int, num_classes: int) -> tuple[Path, dict]:
    """Convert the authors' generator checkpoint `src` into our record at `dst`; returns (dst, hparams)."""
    state = read_original_checkpoint(src)
    try:
        converted = convert_original_state_dict(state, "generator", resolution, num_classes=num_classes)
    except ConversionError as err:
        other = _fitting_resolution(state, num_classes, resolution)
        hint = f"; it fits a {other} px generator: add resolution={other}" if other else ""
        rows = _label_rows(state)
        if rows is not None and rows != num_classes:
            hint += f"; its label embedding has {rows} rows (data=coco_stuff has 184, data=vg 179)"
        raise TaskError(
            f"{src} is not a {resolution} px generator for {num_classes} classes{hint}. Details: {err}"
        ) from None
    inferred = infer_hparams(converted, "generator")
    hparams = {
        "resolution": resolution,
        "num_classes": num_classes,
        "ch": inferred["ch"],
        "z_dim": inferred["z_dim"],
        "lama": inferred["lama"],
    }
    generator = load_state_dict_checked(build_generator(**hparams), converted, "the generator")
    save_generator(dst, generator, hparams, class_names=None)
    try:  # read it back exactly as sampling and evaluation will
        load_generator(dst, resolution=resolution)
    except CheckpointError as err:
        raise TaskError(f"the converted checkpoint {dst} does not load back: {err}") from None
    return dst, hparams


def run(cfg: DictConfig) -> Path:
    """Convert cfg.checkpoint for cfg.resolution and cfg.data.num_classes; write it to `out` (if set) or
    generator.pt in the run directory; print and return the path."""
    src = Path(str(require(cfg, "checkpoint", "(the authors' released generator, e.g. G_200.pth)")))
    resolution = int(require(cfg, "resolution"))
    if resolution not in RESOLUTIONS:
        raise TaskError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    num_classes = require(
        cfg, "data.num_classes", "(data=coco_stuff for COCO-Stuff, data=vg for Visual Genome)"
    )
    out = OmegaConf.select(cfg, "out", default=None)
    dst = Path(str(out)) if out else Path(str(cfg.paths.run_dir)) / "generator.pt"
    dst, hparams = convert_checkpoint(src, dst, resolution, int(num_classes))
    log.info("converted %s with %s", src, hparams)
    print(f"converted generator written to {dst}")
    return dst
