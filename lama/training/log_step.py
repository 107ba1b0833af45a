"""The x-axis every logged row of a training run shares."""

from __future__ import annotations

import pytorch_lightning as pl


def log_step(trainer: pl.Trainer) -> int:
    """The step Lightning gives the current batch's `self.log` rows: batches that stepped (one per GAN
    iteration, D-only batches included), not `trainer.global_step`, which counts optimiser steps (two per
    iteration). Rows a callback logs itself must use it, or their curves sit at twice the iteration beside the
    training curves and a resumed run's CSV log takes them for rows written after its checkpoint."""
    return int(trainer.fit_loop.epoch_loop._batches_that_stepped)
