"""One Inception network per evaluation (torch-fidelity's inception-v3-compat, the TF 2015-12-05 graph):
built once, it gives IS and FID from one pass over the generated images, the real images' FID statistics
(cached on disk), and SceneFID's two crop sets. Features, IS, FID statistics and the distance come from
torch-fidelity's own functions over the same batches as `fidelity_metrics`, so the numbers are the same;
what changes is that every pass is a timed stage with its own progress bar and the network loads once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch_fidelity.defaults import DEFAULTS
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.utils import cache_lookup_one_recompute_on_miss, create_feature_extractor

from lama.device import single_threaded
from lama.metrics.fidelity import FEATURE_EXTRACTOR, inception_weights, unfitting_weights
from lama.progress import stage_bar, timed_stage

IS_LAYER = "logits_unbiased"  # torch-fidelity's IS features (the 1008 logits without the bias)
FID_LAYER = "2048"  # pool3, the standard FID features


def loader_workers(enabled: bool) -> int:
    """DataLoader worker processes for image sets: up to 4, at most one per CPU (torch warns above that);
    0 = load in this process."""
    return min(4, os.cpu_count() or 1) if enabled else 0


def stats_file(cache_dir: str | Path, cache_name: str, fid_layer: str = FID_LAYER) -> Path:
    """Where the real FID statistics of `cache_name` are cached (torch-fidelity's own file name for them)."""
    return Path(cache_dir) / f"{cache_name}-{FEATURE_EXTRACTOR}-stat-fid-{fid_layer}.pt"


class Inception:
    """torch-fidelity's inception-v3-compat with the FID layer `fid_layer` (pool3 "2048"; a smaller one such
    as "64" only for quick checks) and, with `with_is`, the IS layer; on `device`, in batches of `batch_size`
    (torch-fidelity's default is 64), images loaded by `workers` processes (0: in this one)."""

    def __init__(self, weights_path: str | Path | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 64, workers: int = 0, fid_layer: str = FID_LAYER, with_is: bool = True):
        self.device, self.batch_size, self.workers = torch.device(device), int(batch_size), int(workers)
        self.fid_layer = str(fid_layer)
        self.layers = [self.fid_layer] + ([IS_LAYER] if with_is else [])
        path = inception_weights(weights_path)
        try:
            self.net = create_feature_extractor(FEATURE_EXTRACTOR, self.layers, cuda=False,
                                                feature_extractor_weights_path=path, verbose=False)
        except RuntimeError as err:
            raise unfitting_weights(err, weights_path) from None
        self.net.to(self.device)

    def _batches(self, images: Dataset) -> Iterator[torch.Tensor]:
        size = min(self.batch_size, len(images))  # as torch-fidelity: one batch when the set is smaller
        if self.workers:
            yield from DataLoader(images, batch_size=size, num_workers=self.workers,
                                  pin_memory=self.device.type == "cuda")
            return
        for start in range(0, len(images), size):
            # Crops and decodes are tiny ops that a second thread slows down on a busy CPU; same pixels.
            with single_threaded():
                batch = torch.stack([images[i] for i in range(start, min(start + size, len(images)))])
            yield batch

    @torch.no_grad()
    def features(self, images: Dataset, stage: str, progress: bool = True, unit: str = "img"
                 ) -> dict[str, torch.Tensor]:
        """{layer: (N, features)} float32 features of (3, H, W) uint8 images (the FID layer, e.g. "2048", and
        with_is IS_LAYER), as one timed stage with a progress bar."""
        if len(images) == 0:
            raise ValueError(f"{stage}: no images")
        out: dict[str, list[torch.Tensor]] = {layer: [] for layer in self.layers}
        with stage_bar(stage, len(images), unit, desc=f"{stage} (Inception)", disable=not progress) as bar:
            for batch in self._batches(images):
                feats = self.net.convert_features_tuple_to_dict(self.net(batch.to(self.device)))
                for key in out:
                    out[key].append(feats[key].cpu())
                bar.update(batch.shape[0])
        return {k: torch.cat(v) for k, v in out.items()}

    def real_statistics(self, images: Dataset, stage: str, cache_name: str | None, cache_dir: str | Path | None,
                        progress: bool = True, unit: str = "img") -> dict[str, np.ndarray]:
        """FID statistics {mu, sigma} of a real image set, read from / written to the cache when named."""
        def compute() -> dict[str, np.ndarray]:
            return fid_features_to_statistics(self.features(images, stage, progress, unit)[self.fid_layer])

        if cache_name is None or cache_dir is None:
            return compute()
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        return cache_lookup_one_recompute_on_miss(stats_file(cache_dir, cache_name, self.fid_layer).stem, compute,
                                                  cache=True, cache_root=str(cache_dir), verbose=False)

    def fid(self, fake: dict[str, torch.Tensor], real_stats: dict[str, Any], stage: str = "fid/distance") -> float:
        """FID between the fakes' features (from features()) and real statistics {mu, sigma}; a timed stage
        (torch-fidelity takes the eigenvalues of a 2048 x 2048 product: seconds on a CPU)."""
        with timed_stage(stage, items=1):
            fake_stats = fid_features_to_statistics(fake[self.fid_layer])
            return float(fid_statistics_to_metric(fake_stats, real_stats, False)["frechet_inception_distance"])


def inception_score(features: dict[str, torch.Tensor], splits: int) -> dict[str, float]:
    """{is_mean, is_std} from IS_LAYER features, as torch-fidelity computes them (its shuffle and seed)."""
    out = isc_features_to_metric(features[IS_LAYER], splits, DEFAULTS["samples_shuffle"], DEFAULTS["rng_seed"])
    return {"is_mean": float(out["inception_score_mean"]), "is_std": float(out["inception_score_std"])}

