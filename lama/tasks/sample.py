"""`python run.py task=sample checkpoint=PATH`: sample the validation layouts (repeats, truncation, seed)
into images/ + manifest.jsonl, or with `layout=FILE` one user layout with its masks and overlay."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from lama.layout import LayoutError, draw_layout
from lama.sampling import sample_layouts
from lama.sampling.images import color_masks, write_image
from lama.tasks import TaskError, task_device
from lama.tasks.inputs import load_checkpoint_generator, repeats, sample_validation, validation_data

log = logging.getLogger(__name__)
# layout.png and overlay_<r>.png are drawn at least this large, so class names stay legible at 64 px.
OVERLAY_SIZE = 256


def sample_user_layout(cfg: DictConfig, generator: torch.nn.Module, record: dict[str, Any], out_dir: Path) -> Path:
    """Sample a layout file metrics.repeats times: image_<r>.png, masks_<r>.png, raw_masks_<r>.png,
    overlay_<r>.png (boxes drawn on the image) and layout.png."""
    from lama.layout_file import read_layout_file

    class_names = record.get("class_names")
    if not class_names:
        dataset, _ = validation_data(cfg)
        class_names = dataset.class_names
    try:
        layout = read_layout_file(
            cfg.layout, class_names, max_objects=OmegaConf.select(cfg, "data.dataset.max_objects", default=None),
            drop_extra=bool(OmegaConf.select(cfg, "layout_drop_extra", default=False)),
            num_classes=record["hparams"]["num_classes"])
    except LayoutError as err:
        raise TaskError(str(err)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    count = repeats(cfg)
    ids = [0]
    res = record["hparams"]["resolution"]
    blank = torch.full((3, res, res), 255, dtype=torch.uint8)
    write_image(out_dir / "layout.png", draw_layout(blank, layout.labels[0], layout.boxes[0], class_names,
                                                     min_size=OVERLAY_SIZE))
    for r in tqdm(range(count), desc="sampling layout", unit="img"):
        batch = next(sample_layouts(generator, ids, layout.labels, layout.boxes, repeats=1, truncation=cfg.metrics.truncation,
                                    seed=int(cfg.seed) + r, batch_size=1, return_masks=True))
        image, labels = batch.images[0], layout.labels[0]
        write_image(out_dir / f"image_{r}.png", image)
        write_image(out_dir / f"masks_{r}.png", color_masks(batch.masks[0], labels))
        write_image(out_dir / f"raw_masks_{r}.png", color_masks(batch.raw_masks[0], labels))
        write_image(out_dir / f"overlay_{r}.png", draw_layout(image, labels, layout.boxes[0], class_names,
                                                              min_size=OVERLAY_SIZE))
    log.info("wrote %d samples of %s to %s", count, cfg.layout, out_dir)
    return out_dir


def run(cfg: DictConfig) -> Path:
    """Sample a checkpoint's generator over the validation layouts or over a user layout file."""
    device = task_device(cfg, "metrics.device")
    generator, record = load_checkpoint_generator(cfg, device)
    layout = OmegaConf.select(cfg, "layout", default=None)
    if layout:
        out = sample_user_layout(cfg, generator, record, Path(cfg.metrics.samples_dir))
    else:
        out = sample_validation(cfg, generator, record, Path(cfg.metrics.samples_dir), repeats(cfg),
                                save_mask_files=bool(cfg.metrics.save_masks))
    print(f"samples: {out}")
    return out
