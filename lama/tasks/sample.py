"""`python run.py task=sample checkpoint=PATH`: sample the validation layouts (repeats, truncation, seed)
into images/ + manifest.jsonl, or with `layout=FILE` one user layout with its masks and overlay."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from lama.checkpoint import CheckpointError, load_generator
from lama.layout import LayoutError, draw_layout, object_color
from lama.metrics.images import write_image
from lama.metrics.manifest import INFO, MANIFEST, image_name, record_line, save_masks
from lama.sampling import sample_layouts
from lama.tasks import TaskError, require, task_device

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


def sample_validation(cfg: DictConfig, generator: torch.nn.Module, record: dict[str, Any], out_dir: Path,
                      save_mask_files: bool = False) -> Path:
    """Sample every validation layout metrics.repeats times into out_dir (images/, masks/, manifest.jsonl,
    info.json); returns out_dir."""
    m = cfg.metrics
    dataset, name = validation_data(cfg)
    count = dataset.num_images if m.num_layouts is None else min(int(m.num_layouts), dataset.num_images)
    layouts = [dataset.layout(i) for i in range(count)]
    ids = [dataset.image_id(i) for i in range(count)]
    labels = torch.stack([torch.as_tensor(lab, dtype=torch.int64) for lab, _ in layouts])
    boxes = torch.stack([torch.as_tensor(box, dtype=torch.float32) for _, box in layouts])
    if int(labels.max()) >= record["hparams"]["num_classes"]:
        raise TaskError(f"data {name} has labels up to {int(labels.max())} but the checkpoint knows "
                        f"{record['hparams']['num_classes']} classes")
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    if save_mask_files:
        (out_dir / "masks").mkdir(exist_ok=True)
    repeats, seed = int(m.repeats), int(cfg.seed)
    batches = sample_layouts(generator, ids, labels, boxes, repeats=repeats, truncation=m.truncation, seed=seed,
                             batch_size=int(m.batch_size), return_masks=save_mask_files)
    with (out_dir / MANIFEST).open("w") as manifest, tqdm(total=count * repeats, desc="sampling", unit="img") as bar:
        for batch in batches:
            for k, (image_id, rep) in enumerate(zip(batch.image_ids, batch.repeats)):
                stem = image_name(image_id, rep)
                write_image(out_dir / "images" / f"{stem}.png", batch.images[k])
                mask_file = None
                if save_mask_files:
                    mask_file = f"masks/{stem}.npz"
                    save_masks(out_dir / mask_file, batch.layout.labels[k], batch.masks[k], batch.raw_masks[k])
                manifest.write(record_line(f"images/{stem}.png", image_id, rep, batch.layout.labels[k],
                                           batch.layout.boxes[k], mask_file) + "\n")
            bar.update(len(batch.image_ids))
    info = {"checkpoint": str(cfg.checkpoint), "hparams": record["hparams"], "data": name, "split": "val",
            "resolution": record["hparams"]["resolution"], "num_layouts": count, "repeats": repeats,
            "truncation": m.truncation, "seed": seed, "batch_size": int(m.batch_size),
            "class_names": record.get("class_names")}
    (out_dir / INFO).write_text(json.dumps(info, indent=1))
    log.info("wrote %d samples of %d layouts to %s", count * repeats, count, out_dir)
    return out_dir


def mask_composite(masks: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(O, R, R) masks in [0, 1] -> (3, R, R) uint8 image, each object in its class colour weighted by its mask."""
    colors = torch.tensor([object_color(int(c)) for c in labels], dtype=torch.float32)  # (O, 3)
    weights = masks.clamp(0, 1)
    image = torch.einsum("ohw,oc->chw", weights, colors) / weights.sum(0).clamp(min=1)
    return image.round().clamp(0, 255).to(torch.uint8)


def sample_user_layout(cfg: DictConfig, generator: torch.nn.Module, record: dict[str, Any], out_dir: Path) -> Path:
    """Sample a layout file metrics.repeats times: image_<r>.png, masks_<r>.png, raw_masks_<r>.png,
    overlay_<r>.png (boxes drawn on the image) and layout.png."""
    from lama.layout_file import read_layout_file

    class_names = record.get("class_names")
    if not class_names:
        dataset, _ = validation_data(cfg)
        class_names = dataset.class_names
    try:
        layout = read_layout_file(cfg.layout, class_names)
    except LayoutError as err:
        raise TaskError(str(err)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    repeats = int(cfg.metrics.repeats)
    ids = [0]
    res = record["hparams"]["resolution"]
    blank = torch.full((3, res, res), 255, dtype=torch.uint8)
    write_image(out_dir / "layout.png", draw_layout(blank, layout.labels[0], layout.boxes[0], class_names))
    for r in tqdm(range(repeats), desc="sampling layout", unit="img"):
        batch = next(sample_layouts(generator, ids, layout.labels, layout.boxes, repeats=1, truncation=cfg.metrics.truncation,
                                    seed=int(cfg.seed) + r, batch_size=1, return_masks=True))
        image, labels = batch.images[0], layout.labels[0]
        write_image(out_dir / f"image_{r}.png", image)
        write_image(out_dir / f"masks_{r}.png", mask_composite(batch.masks[0], labels))
        write_image(out_dir / f"raw_masks_{r}.png", mask_composite(batch.raw_masks[0], labels))
        write_image(out_dir / f"overlay_{r}.png", draw_layout(image, labels, layout.boxes[0], class_names))
    log.info("wrote %d samples of %s to %s", repeats, cfg.layout, out_dir)
    return out_dir


def run(cfg: DictConfig) -> Path:
    """Sample a checkpoint's generator over the validation layouts or over a user layout file."""
    device = task_device(cfg, "metrics.device")
    generator, record = load_checkpoint_generator(cfg, device)
    layout = OmegaConf.select(cfg, "layout", default=None)
    if layout:
        out = sample_user_layout(cfg, generator, record, Path(cfg.metrics.samples_dir))
    else:
        out = sample_validation(cfg, generator, record, Path(cfg.metrics.samples_dir),
                                save_mask_files=bool(cfg.metrics.save_masks))
    print(f"samples: {out}")
    return out
