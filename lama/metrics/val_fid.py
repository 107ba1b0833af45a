"""ValFID: a Lightning callback logging `val/fid` (torchmetrics FID, real features kept between epochs)
on a fixed subset of the validation layouts every N training epochs."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import nn

from lama.metrics.fidelity import inception_weights
from lama.metrics.weights import WeightsUnavailable
from lama.sampling import sample_layouts
from lama.sampling.images import to_uint8


class ValFID(pl.Callback):
    """Every `every_n_epochs` epochs (0 = never) generate one image per layout for the first `num_images`
    validation layouts (fixed latents from `seed`, truncation as in evaluation) and log FID against the
    same real images as `val/fid`. Runs on global rank 0 only."""

    def __init__(self, every_n_epochs: int = 0, num_images: int = 500, batch_size: int = 50,
                 truncation: float | None = 2.0, seed: int = 0, inception_weights: str | None = None,
                 feature: int = 2048) -> None:
        super().__init__()
        if every_n_epochs < 0 or num_images < 2:
            raise ValueError(f"ValFID needs every_n_epochs >= 0 and num_images >= 2, got {every_n_epochs}, {num_images}")
        self.every_n_epochs, self.num_images, self.batch_size = int(every_n_epochs), int(num_images), int(batch_size)
        self.truncation, self.seed = truncation, int(seed)
        self.weights = str(Path(inception_weights).expanduser()) if inception_weights else None
        self.feature = int(feature)  # Inception layer: 2048 (pool3, the standard); 64/192/768 for quick checks
        self.metric = None
        self.real_done = False
        self.disabled = self.every_n_epochs == 0

    def _build(self, device: torch.device) -> bool:
        from torchmetrics.image.fid import FrechetInceptionDistance

        try:
            path = inception_weights(self.weights)  # downloads the default weights when needed
        except WeightsUnavailable as err:
            rank_zero_warn(f"val/fid is switched off: {err}")
            self.disabled = True
            return False
        self.metric = FrechetInceptionDistance(feature=self.feature, reset_real_features=False, normalize=False,
                                               feature_extractor_weights_path=path).to(device)
        return True

    @staticmethod
    def _generator(pl_module: pl.LightningModule) -> nn.Module:
        for name in ("sampling_generator", "G", "generator"):
            generator = getattr(pl_module, name, None)
            if isinstance(generator, nn.Module):
                return generator
        raise AttributeError(f"{type(pl_module).__name__} has no sampling_generator / G / generator for val/fid")

    def _layouts(self, trainer: pl.Trainer):
        dataset = trainer.datamodule.val_dataset
        count = min(self.num_images, dataset.num_images)
        layouts = [dataset.layout(i) for i in range(count)]
        labels = torch.stack([torch.as_tensor(lab, dtype=torch.int64) for lab, _ in layouts])
        boxes = torch.stack([torch.as_tensor(box, dtype=torch.float32) for _, box in layouts])
        return dataset, count, labels, boxes

    @torch.no_grad()
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.disabled or (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        if trainer.is_global_zero:
            value = self.compute(trainer, pl_module)
            if value is not None:
                pl_module.log("val/fid", value, rank_zero_only=True)

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> float | None:
        """FID of the current generator on the subset (also usable outside the epoch hook)."""
        device = pl_module.device
        if self.metric is None and not self._build(device):
            return None
        dataset, count, labels, boxes = self._layouts(trainer)
        if not self.real_done:
            for start in range(0, count, self.batch_size):
                real = torch.stack([dataset[i]["image"] for i in range(start, min(start + self.batch_size, count))])
                self.metric.update(to_uint8(real).to(device), real=True)
            self.real_done = True
        generator = self._generator(pl_module)
        was_training = generator.training
        generator.eval()
        try:
            for batch in sample_layouts(generator, list(range(count)), labels, boxes, repeats=1,
                                        truncation=self.truncation, seed=self.seed, batch_size=self.batch_size):
                self.metric.update(to_uint8(batch.images).to(device), real=False)
        finally:
            generator.train(was_training)
        value = float(self.metric.compute())
        self.metric.reset()  # keeps the real features (reset_real_features=False)
        return value


__all__ = ["ValFID"]
