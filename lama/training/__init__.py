"""GAN training: the LightningModule, its losses, optimiser groups, EMA and callbacks."""

from lama.training.callbacks import IterationProgressBar, PeriodicCheckpoint, SampleGrid
from lama.training.module import LamaGAN, NonFiniteLossError

__all__ = ["IterationProgressBar", "LamaGAN", "NonFiniteLossError", "PeriodicCheckpoint", "SampleGrid"]
