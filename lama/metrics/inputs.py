"""EvalInputs: everything a metric reads (the generated samples, the real split, the metric settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from lama.metrics.images import ImageFiles, TensorList
from lama.metrics.real import RealLayouts
from lama.progress import stage_bar
from lama.sampling.folder import SampleRecord


@dataclass
class EvalInputs:
    """Everything a metric reads: the generated samples, the real split and the metric settings."""

    records: list[SampleRecord]
    real: RealLayouts
    dataset: str
    split: str
    resolution: int
    num_classes: int
    settings: dict[str, Any]
    device: Any = "cpu"
    cache_dir: str | None = None
    progress: bool = True
    measured_repeats: int | None = None  # IS/FID/SceneFID/CAS use repeats 0..N-1 only (None = every sample)
    requested: tuple[str, ...] = ()  # the metrics of this evaluation (IS and FID share one Inception pass)
    _cache: dict[str, Any] = field(default_factory=dict)

    def opt(self, key: str) -> Any:
        """A metric setting by dotted key (e.g. 'cas.epochs'), as configs/metrics/default.yaml sets it (the one
        place defaults live); a key it lacks is a KeyError naming it."""
        node: Any = self.settings
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"metrics.{key} is not set")
            node = node[part]
        return node

    @property
    def repeats(self) -> int:
        """Samples per layout: the number of distinct repeat indices in the sample folder."""
        return len({r.repeat for r in self.records})

    @property
    def measured(self) -> list[SampleRecord]:
        """The samples the image-set metrics use: repeats below measured_repeats (the papers' count per layout)."""
        if self.measured_repeats is None:
            return list(self.records)
        return [r for r in self.records if r.repeat < self.measured_repeats]

    @property
    def measured_repeats_found(self) -> int:
        """Samples per layout in `measured` (fewer than measured_repeats when the folder has fewer)."""
        return len({r.repeat for r in self.measured})

    @property
    def real_ids(self) -> list[int]:
        """The distinct layout ids of the samples, in first-seen order (the real set, one image each)."""
        return list(dict.fromkeys(r.image_id for r in self.records))

    def fakes(self) -> ImageFiles:
        """The measured generated images, (3, R, R) uint8, in manifest order."""
        return ImageFiles([r.file for r in self.measured])

    def real_images(self) -> Dataset:
        """The real image of each distinct layout id, (3, R, R) uint8, in real_ids order: decoded (and resized)
        once per evaluation, on first use, then held in memory for FID, SceneFID and CAS."""
        if "real_images" not in self._cache:
            from lama.metrics.inception import loader_workers

            source = self.real.images(self.real_ids)
            workers = loader_workers(self.opt("loader_workers")) if len(source) > 64 else 0
            loader = DataLoader(source, batch_size=32, num_workers=workers, collate_fn=list)
            images: list[torch.Tensor] = []
            with stage_bar("real/decode", len(source), "img", desc="real images", disable=not self.progress) as bar:
                for batch in loader:
                    images.extend(batch)
                    bar.update(len(batch))
            self._cache["real_images"] = TensorList(images)
        return self._cache["real_images"]

    def real_layouts(self) -> tuple[list[list[int]], list[list[list[float]]]]:
        """Labels and boxes (fractions) of the real images, as stored in the dataset."""
        labels, boxes = [], []
        for image_id in self.real_ids:
            lab, box = self.real.layout(image_id)
            labels.append(lab.tolist())
            boxes.append(box.tolist())
        return labels, boxes
