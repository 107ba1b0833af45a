"""MaskMetrics: a Lightning callback that logs mask IoU (adapted / raw / filled boxes, things / stuff,
whole image / thing-box overlaps) and, less often, CAS on a fixed slice of the validation layouts every N
GAN iterations, so the curves land in every logger (CSV, TensorBoard, W&B) under `val/`, and in
trainer.callback_metrics, where a sweep's `optimized_metric` reads them (hparams_search=optuna_masks
maximises `val/mask_iou_things_gain`)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from lama.metrics.cas import CAS_CROP, classification_accuracy_score
from lama.metrics.images import MappedImages, ObjectCrops, object_entries, to_uint8
from lama.metrics.mask_iou import MaskIoU
from lama.sampling import sample_layouts
from lama.training.log_step import log_step

GAINS = ("things", "things_overlap")  # the groups whose gain over the filled-box floor is logged


def with_gains(values: dict[str, float]) -> dict[str, float]:
    """values plus mask_iou_<group>_gain = adapted minus filled-box IoU (what the masks learnt beyond
    drawing the boxes; > 0 means better than the floor) for the groups in GAINS that were measured."""
    out = dict(values)
    for group in GAINS:
        adapted, box = values.get(f"mask_iou_{group}"), values.get(f"mask_iou_{group}_box")
        if adapted is not None and box is not None:
            out[f"mask_iou_{group}_gain"] = adapted - box
    return out


class MaskMetrics(pl.Callback):
    """Every `every_n_iterations` GAN iterations (0 = never) generate one image per layout for the first
    `num_layouts` validation layouts (fixed latents from `seed`) and log `val/mask_iou*`; every
    `cas_every_n_iterations` (0 = never, a multiple of every_n_iterations) also `val/cas` (a small classifier
    trained for `cas_epochs` on the generated crops, tested on the real ones). Needs data.return_masks=true.
    Global rank 0 only."""

    def __init__(self, every_n_iterations: int = 250, cas_every_n_iterations: int = 500, num_layouts: int = 64,
                 batch_size: int = 32, seed: int = 0, truncation: float | None = None, cas_epochs: int = 3,
                 cas_arch: str = "resnet10") -> None:
        super().__init__()
        if every_n_iterations < 0 or cas_every_n_iterations < 0 or num_layouts < 1:
            raise ValueError(f"MaskMetrics needs every_n_iterations, cas_every_n_iterations >= 0 and num_layouts >= 1, "
                             f"got {every_n_iterations}, {cas_every_n_iterations}, {num_layouts}")
        self.every, self.cas_every = int(every_n_iterations), int(cas_every_n_iterations)
        self.num_layouts, self.batch_size, self.seed = int(num_layouts), int(batch_size), int(seed)
        self.truncation, self.cas_epochs, self.cas_arch = truncation, int(cas_epochs), str(cas_arch)
        self.last_iteration = -1  # D-only batches do not advance the iteration: log each one once
        self._real: tuple | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = int(pl_module.iteration)
        if self.every <= 0 or it % self.every or it == self.last_iteration or not trainer.is_global_zero:
            return
        self.last_iteration = it
        with_cas = self.cas_every > 0 and it % self.cas_every == 0
        metrics = {f"val/{k}": v for k, v in with_gains(self.compute(trainer, pl_module, with_cas)).items()}
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
        metrics["train/iteration"] = float(it)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=log_step(trainer))

    def _real_slice(self, dataset) -> tuple:
        """Layouts, true masks and real images of the first num_layouts validation items (read once)."""
        if self._real is None:
            count = min(self.num_layouts, len(dataset))
            items = [dataset[i] for i in range(count)]
            if "masks" not in items[0]:
                raise ValueError("MaskMetrics needs the true masks: set data.return_masks=true")
            self._real = tuple(torch.stack([item[k] for item in items]) for k in ("labels", "boxes", "masks", "image"))
        return self._real

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule, with_cas: bool) -> dict[str, float]:
        """Mask IoU (and CAS when asked) of the current sampling generator on the validation slice."""
        labels, boxes, true, real = self._real_slice(trainer.datamodule.val_dataset)
        generator = pl_module.sampling_generator
        was_training = generator.training
        generator.eval()
        meter, fakes = MaskIoU(), []
        try:  # sample_layouts generates under no_grad
            for batch in sample_layouts(generator, list(range(len(labels))), labels, boxes, truncation=self.truncation,
                                        seed=self.seed, batch_size=self.batch_size, return_masks=True):
                idx = torch.tensor(batch.image_ids)
                meter.update(batch.masks.cpu(), batch.raw_masks.cpu(), true[idx], labels[idx], boxes[idx])
                fakes.append(to_uint8(batch.images.cpu()))
        finally:
            generator.train(was_training)
        out = meter.compute()
        if with_cas:
            out["cas"] = self._cas(torch.cat(fakes), to_uint8(real), labels, boxes, generator.num_classes, pl_module.device)
        return out

    def _cas(self, fakes: torch.Tensor, real: torch.Tensor, labels: torch.Tensor, boxes: torch.Tensor,
             num_classes: int, device: torch.device) -> float:
        entries = object_entries(labels.tolist(), boxes.tolist())
        train = ObjectCrops(MappedImages(fakes.__getitem__, len(fakes)), entries, CAS_CROP, with_labels=True)
        test = ObjectCrops(MappedImages(real.__getitem__, len(real)), entries, CAS_CROP, with_labels=True)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return classification_accuracy_score(train, test, int(num_classes), epochs=self.cas_epochs,
                                                 batch_size=64, lr=0.1, arch=self.cas_arch, augment=True, seed=self.seed, device=device,
                                                 progress=False)
