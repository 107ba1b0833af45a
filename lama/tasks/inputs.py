"""What task=sample and task=evaluate read: the generator of cfg.checkpoint and the validation split of
cfg.data, and the validation sample folder made from them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lama.checkpoint import CheckpointError, load_generator
from lama.sampling.validation import sample_dataset, samples_per_layout
from lama.tasks import TaskError, require

log = logging.getLogger(__name__)


def load_checkpoint_generator(cfg: DictConfig, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator of cfg.checkpoint on `device`; a resolution other than cfg.resolution is a user error."""
    path = require(cfg, "checkpoint", "(a generator.pt or Lightning .ckpt of ours)")
    try:
        generator, record = load_generator(path, map_location=device)
    except CheckpointError as err:
        raise TaskError(str(err)) from None
    res = record["hparams"]["resolution"]
    if int(cfg.resolution) != res:
        raise TaskError(f"{path} holds a {res} px generator: add resolution={res} to the command")
    return generator, record


def validation_data(cfg: DictConfig, return_masks: bool = False):
    """The validation layout dataset (unflipped) of cfg.data, and the datamodule's dataset name."""
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data, return_masks=return_masks)
    datamodule.prepare_data()
    datamodule.setup("validate")
    return datamodule.val_dataset, datamodule.name


def data_name(cfg: DictConfig) -> str:
    """The dataset name of cfg.data (its data module's `name`), without building anything."""
    from hydra.utils import get_class

    return str(get_class(cfg.data._target_).name)


def repeats(cfg: DictConfig) -> int:
    """metrics.repeats for cfg.data as a number (`auto`: 5 per COCO-Stuff layout, 1 per VG layout)."""
    try:
        return samples_per_layout(OmegaConf.select(cfg, "metrics.repeats"), data_name(cfg))
    except ValueError as err:
        raise TaskError(str(err)) from None


def sample_validation(cfg: DictConfig, generator: torch.nn.Module, record: dict[str, Any], out_dir: Path,
                      count: int, save_mask_files: bool = False, data: tuple[Any, str] | None = None) -> Path:
    """Sample the validation layouts of cfg.data `count` times each (metrics.num_layouts, truncation,
    batch_size, seed) into the sample folder out_dir (lama.sampling.folder); returns out_dir. `data`: the
    (dataset, name) of validation_data(cfg) when the caller has built it already."""
    m = cfg.metrics
    dataset, name = data if data is not None else validation_data(cfg)
    hparams = record["hparams"]
    info = {"checkpoint": str(cfg.checkpoint), "hparams": hparams, "data": name, "split": "val",
            "resolution": hparams["resolution"], "class_names": record.get("class_names")}
    try:
        info = sample_dataset(generator, dataset, out_dir, num_layouts=m.num_layouts, repeats=count,
                              truncation=m.truncation, seed=int(cfg.seed), batch_size=int(m.batch_size),
                              num_classes=int(hparams["num_classes"]), with_masks=save_mask_files, info=info)
    except ValueError as err:
        raise TaskError(f"data {name}: {err} (checkpoint {cfg.checkpoint})") from None
    log.info("wrote %d samples of %d layouts to %s", info["num_layouts"] * info["repeats"], info["num_layouts"], out_dir)
    return out_dir
