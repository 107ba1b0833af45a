"""One line on the networks at the start of a fit, instead of Lightning's model summary table (whose
FLOPs column reads 0 for a GAN: Lightning counts FLOPs only for a module with an example input)."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.model_summary import get_human_readable_count

log = logging.getLogger(__name__)


def network_summary(module: pl.LightningModule) -> str:
    """`networks: G Generator 1.8 M, D Discriminator 375 K parameters (2.1 M trainable, 8.5 MB float32)`."""
    parts, trainable, size = [], 0, 0
    for name, child in module.named_children():
        params = list(child.parameters())
        if not params:
            continue
        parts.append(f"{name} {type(child).__name__} {get_human_readable_count(sum(p.numel() for p in params))}")
        trainable += sum(p.numel() for p in params if p.requires_grad)
        size += sum(p.numel() * p.element_size() for p in params)
    return (f"networks: {', '.join(parts)} parameters "
            f"({get_human_readable_count(trainable)} trainable, {size / 1e6:.1f} MB)")  # fmt: skip


class NetworkSummary(pl.Callback):
    """Logs network_summary() once when fitting starts (rank 0)."""

    @rank_zero_only
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log.info(network_summary(pl_module))
