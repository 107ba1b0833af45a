"""Where a training run stops, counted in GAN iterations (one D step, plus one G step after the
warm-up), and the line that says where it starts and where it will stop."""

from __future__ import annotations

import math

import pytorch_lightning as pl


def final_iteration(trainer: pl.Trainer, max_iterations: int | None) -> tuple[int | None, str]:
    """The iteration training stops at and the setting that decides it ((None, ...) without a limit).
    trainer.max_steps (optimiser steps) is not converted: it may stop earlier."""
    ends: list[tuple[int, str]] = []
    if max_iterations is not None and max_iterations >= 0:
        ends.append((int(max_iterations), f"trainer.max_iterations={max_iterations}"))
    batches = trainer.num_training_batches
    if trainer.max_epochs is not None and trainer.max_epochs >= 0 and math.isfinite(batches):
        ends.append((trainer.max_epochs * int(batches), f"trainer.max_epochs={trainer.max_epochs} x {int(batches)} batches"))
    if not ends:
        return None, "no iteration or epoch limit"
    return min(ends)


def span_line(trainer: pl.Trainer, iteration: int, max_iterations: int | None) -> str:
    """`training from iteration 0 (epoch 0) to iteration 660 (trainer.max_epochs=2 x 330 batches)`, or
    `resuming at ...`, or that nothing is left to train."""
    end, why = final_iteration(trainer, max_iterations)
    start = f"iteration {iteration} (epoch {trainer.current_epoch})"
    steps = f"; trainer.max_steps={trainer.max_steps} optimiser steps may stop it earlier" if trainer.max_steps > 0 else ""
    if end is not None and iteration >= end:
        return (f"already at {start}, where training stops ({why}): nothing to train; raise "
                "trainer.max_iterations or trainer.max_epochs to continue")  # fmt: skip
    until = f"to iteration {end} ({why})" if end is not None else f"until stopped ({why})"
    return f"{'resuming at' if iteration else 'training from'} {start} {until}{steps}"
