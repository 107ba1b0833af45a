"""Training callbacks counted in GAN iterations: periodic sample grids, atomic checkpoints, the progress bar."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only
from torchvision.io import write_png

from lama.training.grid import sample_grid
from lama.training.log_step import log_step
from lama.training.span import final_iteration


class SampleGrid(pl.Callback):
    """Every `every_n_iterations` GAN iterations (and at the end), render a grid for the first
    `num_layouts` layouts of the first training batch with fixed latents: PNG under `dirpath`
    (samples/iter_XXXXXXX.png and samples/latest.png) and an image in the TensorBoard/W&B logger."""

    def __init__(
        self, dirpath: str, every_n_iterations: int = 500, num_layouts: int = 8, seed: int | None = 0
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every = int(every_n_iterations)
        self.num_layouts = int(num_layouts)
        self.seed = int(seed or 0)
        self.batch: dict[str, torch.Tensor] | None = None
        self.last_path: Path | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.batch is None:
            self.batch = {k: batch[k][: self.num_layouts].detach().cpu() for k in ("image", "labels", "boxes")}
        if self.every > 0 and pl_module.iteration % self.every == 0:
            self.render(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.batch is not None:
            self.render(trainer, pl_module)

    @torch.no_grad()
    def render(self, trainer: pl.Trainer, pl_module) -> Path | None:
        """Draw the grid now; returns the PNG path on rank 0."""
        if trainer.global_rank != 0 or self.batch is None:
            return None
        gen = pl_module.sampling_generator
        was_training = gen.training
        gen.eval()
        device = pl_module.device
        labels, boxes = self.batch["labels"].to(device), self.batch["boxes"].to(device)
        # fixed latents and a forked RNG: the grid neither changes nor perturbs the training streams
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            z = torch.randn(labels.shape[0], labels.shape[1], gen.z_dim, device=device)
            fake, masks, raw = gen(z, boxes, labels, return_masks=True)
        gen.train(was_training)
        grid = sample_grid(self.batch["image"], fake, masks, raw, labels, boxes, pl_module.class_names)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"iter_{pl_module.iteration:07d}.png"
        write_png(grid, str(path))
        write_png(grid, str(self.dirpath / "latest.png"))
        self.last_path = path
        self._log_image(trainer, grid)
        return path

    @staticmethod
    def _log_image(trainer: pl.Trainer, grid: torch.Tensor) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("samples/grid", [grid.permute(1, 2, 0).numpy()], step=log_step(trainer))
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples/grid", grid, global_step=log_step(trainer))


def _epoch_ends_here(trainer: pl.Trainer) -> bool:
    """Whether the batch just trained is the epoch's last (or, at an epoch end, whether it ran in full)."""
    progress = trainer.fit_loop.epoch_loop.batch_progress
    return progress.is_last_batch or progress.current.ready >= trainer.num_training_batches


def _stops_after_this_batch(trainer: pl.Trainer) -> bool:
    """Whether training ends after the current batch (max_iterations, max_steps or a callback's stop)."""
    return trainer.should_stop or 0 < trainer.max_steps <= trainer.global_step


class PeriodicCheckpoint(pl.Callback):
    """Write `last.ckpt` every `every_n_iterations` GAN iterations, when training stops, and at every
    epoch end, and `epoch_XXXX.ckpt` every `every_n_epochs` epochs, each atomically (temp file, then
    rename) so a crash never leaves a truncated checkpoint behind.

    Every checkpoint is of one of two kinds, both of which Lightning resumes exactly, also in a chain
    of resumes: after a batch that is not the epoch's last, or after a complete epoch. A save after an
    epoch's last batch is left to the epoch-end save that follows with the same state (Lightning resumes
    the former into an epoch whose later checkpoints replay it), and a stop in mid-epoch is saved
    after its batch, never as an epoch end (which would resume as a finished epoch)."""

    def __init__(self, dirpath: str, every_n_iterations: int = 1000, every_n_epochs: int = 5) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_iterations = int(every_n_iterations)
        self.every_n_epochs = int(every_n_epochs)

    def save(self, trainer: pl.Trainer, name: str) -> Path:
        """Save a full training checkpoint as dirpath/name (all ranks take part, rank 0 writes)."""
        path = self.dirpath / name
        tmp = path.with_name(path.name + ".tmp")
        try:
            if trainer.global_rank == 0:  # Lightning's writer swallows PermissionError: probe the place first
                self.dirpath.mkdir(parents=True, exist_ok=True)
                tmp.open("wb").close()
            trainer.save_checkpoint(tmp, weights_only=False)  # the full state: resume needs it
        except BaseException as err:  # the previous file is kept; no partial or probe file is left behind
            tmp.unlink(missing_ok=True)
            if isinstance(err, OSError):  # full disk, read-only dir: one line naming the path
                raise OSError(err.errno, f"{err.strerror or err} (the previous {name} is kept)", str(path)) from None
            raise
        self._publish(tmp, path)
        trainer.strategy.barrier("lama_checkpoint")
        return path

    @rank_zero_only
    def _publish(self, tmp: Path, path: Path) -> None:
        os.replace(tmp, path)
        for stale in self.dirpath.glob("*.ckpt.tmp"):  # left by a write that was killed or failed
            stale.unlink(missing_ok=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if _epoch_ends_here(trainer):
            return
        due = self.every_n_iterations > 0 and pl_module.iteration % self.every_n_iterations == 0
        if due or _stops_after_this_batch(trainer):
            self.save(trainer, "last.ckpt")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not _epoch_ends_here(trainer):
            return  # stopped in mid-epoch: saved after its last batch
        self.save(trainer, "last.ckpt")
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs > 0 and epoch % self.every_n_epochs == 0:
            self.save(trainer, f"epoch_{epoch:04d}.ckpt")


class IterationProgressBar(TQDMProgressBar):
    """Lightning's bar, counting GAN iterations over the whole run instead of batches per epoch: its total
    is the iteration training stops at, so a resumed run starts at its iteration with total and ETA."""

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        bar = self.train_progress_bar
        end = final_iteration(trainer, pl_module.max_iterations)[0]
        bar.reset(total=end)
        bar.initial = bar.n = pl_module.iteration  # tqdm's rate (and ETA) counts from `initial`
        bar.set_description(f"Epoch {trainer.current_epoch}")

    def on_train_epoch_start(self, trainer, *_) -> None:
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        if self._should_update(pl_module.iteration, bar.total) and not bar.disable:
            bar.n = pl_module.iteration
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # refreshes the bar

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))
