"""Timing LamaGAN's own training step (one D and one G update per batch) through a Lightning Trainer,
batch by batch, on fixed random batches of the training data's shape."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from torch import nn

from lama.perf.timing import synchronize
from lama.training.fast import is_compiled

# Lightning announces its accelerator and tips at every Trainer; the benchmark builds dozens of them.
QUIET_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lama.training.module")


class PathTooSlow(RuntimeError):
    """A training step ran past its time limit; `seconds` is how long it had run when stopped."""

    def __init__(self, seconds: float, limit_s: float) -> None:
        super().__init__(f"stopped after {seconds:.1f} s (limit {limit_s:.1f} s)")
        self.seconds = seconds


class StepTimer(pl.Callback):
    """Wall seconds of every training batch, queued GPU work included. With `limit_s`, a batch that has
    run longer is stopped at the next module call of G or D with PathTooSlow."""

    def __init__(self, device: torch.device, limit_s: float | None = None) -> None:
        self.device, self.limit_s = device, limit_s
        self.seconds: list[float] = []
        self._start = 0.0
        self._hooks: list = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.limit_s is not None:
            # not inside a torch.compile'd net: a hook calling time.perf_counter breaks its graph at every module
            # (and removing the hooks later forces a recompile), so the timings would not be the compiled ones
            nets: list[nn.Module] = [net for net in (pl_module.G, pl_module.D) if not is_compiled(net)]
            self._hooks = [m.register_forward_pre_hook(self._check) for net in nets for m in net.modules()]

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _check(self, *_args) -> None:
        elapsed = time.perf_counter() - self._start
        if elapsed > self.limit_s:
            raise PathTooSlow(elapsed, self.limit_s)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        synchronize(self.device)
        self.seconds.append(time.perf_counter() - self._start)


def random_layouts(batch: int, slots: int, num_classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """COCO-like layouts: 3..slots objects per image, boxes (x0, y0, w, h) as fractions, padded slots
    with label 0 and the padding box. Returns labels (B, O) int64 and boxes (B, O, 4) float32."""
    from lama.layout import PAD_BOX, PAD_LABEL

    gen = torch.Generator().manual_seed(seed)
    labels = torch.full((batch, slots), PAD_LABEL, dtype=torch.int64)
    boxes = torch.tensor(PAD_BOX, dtype=torch.float32).repeat(batch, slots, 1)
    for b in range(batch):
        count = int(torch.randint(min(3, slots), slots + 1, (1,), generator=gen))
        labels[b, :count] = torch.randint(1, num_classes, (count,), generator=gen)
        wh = 0.1 + 0.6 * torch.rand(count, 2, generator=gen)
        xy = torch.rand(count, 2, generator=gen) * (1 - wh)
        boxes[b, :count] = torch.cat([xy, wh], dim=1)
    return labels, boxes


def random_batch(batch: int, resolution: int, slots: int, num_classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A training batch as the data module yields it: images (B, 3, R, R) in [-1, 1], labels, boxes."""
    labels, boxes = random_layouts(batch, slots, num_classes, seed)
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, resolution, resolution, generator=gen) * 2 - 1
    return {"image": images, "labels": labels, "boxes": boxes}


class Repeat:
    """The same batch `count` times, as a training loader."""

    def __init__(self, batch: dict[str, torch.Tensor], count: int) -> None:
        self.batch, self.count = batch, count

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return (self.batch for _ in range(self.count))

    def __len__(self) -> int:
        return self.count


def train_steps(
    module: pl.LightningModule, batch: dict[str, torch.Tensor], steps: int, device: torch.device,
    limit_s: float | None = None,
) -> list[float]:  # fmt: skip
    """Run `steps` training batches of `module` on `device` in a fresh Trainer (no logger, checkpoint or
    progress bar); seconds per batch. Raises PathTooSlow when a batch runs past `limit_s`."""
    timer = StepTimer(device, limit_s)
    devices = [device.index or 0] if device.type == "cuda" else 1
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # The module prints where a training run starts and stops; these are timing runs whose iteration counter
    # carries over from one Trainer to the next (it would say "nothing to train"), so that line is dropped.
    try:
        trainer = pl.Trainer(
            accelerator=device.type, devices=devices, max_epochs=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[timer],
        )  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.fit(module, train_dataloaders=Repeat(batch, steps))
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    return timer.seconds
