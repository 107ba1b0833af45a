"""SceneFID: FID between object crops of real and generated images (every non-padding box, 224 px bicubic)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from lama.metrics.errors import CannotRun
from lama.metrics.fidelity import fidelity_protocol
from lama.metrics.images import CROP_RESIZE, CROP_WINDOW, ObjectCrops, object_entries
from lama.metrics.inception import Inception
from lama.metrics.inception import loader_workers as workers

CROP_SIZE = 224


def scene_crops(
    images: Dataset, labels: Sequence[Sequence[int]], boxes: Sequence[Sequence[Sequence[float]]],
    size: int = CROP_SIZE,
) -> ObjectCrops:
    """Every non-padding object of image i (its layout labels[i], boxes[i] in fractions) as a
    size x size uint8 bicubic crop."""
    return ObjectCrops(images, object_entries(labels, boxes), size)


def scene_fid(
    fake_crops: Dataset,
    real_crops: Dataset,
    *,
    weights_path: str | Path | None = None,
    real_cache_name: str | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    loader_workers: bool = True,
    fid_features: str = "2048",
    verbose: bool = True,
    inception: Inception | None = None,
) -> float:
    """FID between two crop sets (uint8 (3, 224, 224) datasets), Inception features as for FID; the real
    set's statistics cached under real_cache_name. `inception`: an evaluation's network (else one is built)."""
    if len(fake_crops) < 2 or len(real_crops) < 2:
        raise CannotRun(f"SceneFID needs at least 2 crops per set, got {len(fake_crops)} and {len(real_crops)}")
    if inception is None:
        inception = Inception(weights_path, device, batch_size, workers(loader_workers), fid_layer=fid_features,
                              with_is=False)
    fake = inception.features(fake_crops, "scene_fid/fake", verbose, unit="crop")
    real = inception.real_statistics(real_crops, "scene_fid/real", real_cache_name, cache_dir, verbose, unit="crop")
    return inception.fid(fake, real, stage="scene_fid/distance")


def scene_fid_protocol(weights_path: str | Path | None, num_fake: int, num_real: int) -> dict[str, Any]:
    """What stands behind a SceneFID number, for results.json."""
    protocol = fidelity_protocol(weights_path)
    protocol.update(crop=f"every non-padding box, {CROP_SIZE}x{CROP_SIZE}", crop_window=CROP_WINDOW,
                    crop_resize=CROP_RESIZE, num_fake_crops=num_fake, num_real_crops=num_real)
    return protocol
