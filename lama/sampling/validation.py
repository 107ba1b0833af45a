"""Sample the validation layouts of a layout dataset into a sample folder (the papers' evaluation input)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lama.sampling.folder import write_sample_folder
from lama.sampling.generate import sample_layouts

# Samples per validation layout behind the papers' IS / FID / SceneFID (PROTOCOL.md): 5 per COCO-Stuff
# layout, 1 per Visual Genome layout; other data (the synthetic scenes) as COCO-Stuff.
PAPER_REPEATS = {"coco_stuff": 5, "vg": 1}
DEFAULT_REPEATS = 5


def samples_per_layout(setting: int | str, dataset: str) -> int:
    """metrics.repeats as a number: `auto` = the papers' count for this dataset, else the positive integer given."""
    if setting == "auto":
        return PAPER_REPEATS.get(dataset, DEFAULT_REPEATS)
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise ValueError(f"metrics.repeats must be auto or a positive integer, got {setting!r}")
    return setting


def dataset_layouts(dataset: Any, count: int) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Image ids, labels (N, O) int64 and boxes (N, O, 4) fractions of the first `count` layouts of a
    layout dataset (its layout(i) and image_id(i))."""
    layouts = [dataset.layout(i) for i in range(count)]
    ids = [int(dataset.image_id(i)) for i in range(count)]
    labels = torch.stack([torch.as_tensor(lab, dtype=torch.int64) for lab, _ in layouts])
    boxes = torch.stack([torch.as_tensor(box, dtype=torch.float32) for _, box in layouts])
    return ids, labels, boxes


def sample_dataset(generator: nn.Module, dataset: Any, out_dir: Path, *, num_layouts: int | None, repeats: int,
                   truncation: float | None, seed: int, batch_size: int, num_classes: int,
                   with_masks: bool = False, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sample the first `num_layouts` (None = all) layouts of `dataset` `repeats` times each into the sample
    folder out_dir; returns its info.json content (`info` plus the sampling settings). Labels at or above
    the generator's `num_classes` raise ValueError."""
    count = dataset.num_images if num_layouts is None else min(int(num_layouts), dataset.num_images)
    ids, labels, boxes = dataset_layouts(dataset, count)
    if int(labels.max()) >= num_classes:
        raise ValueError(f"the layouts have labels up to {int(labels.max())} but the generator knows {num_classes} classes")
    batches = sample_layouts(generator, ids, labels, boxes, repeats=repeats, truncation=truncation, seed=seed,
                             batch_size=batch_size, return_masks=with_masks)
    info = {**(info or {}), "num_layouts": count, "repeats": int(repeats), "truncation": truncation,
            "seed": int(seed), "batch_size": int(batch_size)}
    write_sample_folder(out_dir, batches, info, total=count * repeats, with_masks=with_masks)
    return info
