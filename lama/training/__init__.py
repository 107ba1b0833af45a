"""GAN training: the LightningModule, its losses, optimiser groups, EMA, resumable data and callbacks."""

from lama.training.callbacks import PeriodicCheckpoint, SampleGrid
from lama.training.module import LamaGAN, NonFiniteLossError
from lama.training.resumable import ResumableDataModule, ResumableLoader

__all__ = ["LamaGAN", "NonFiniteLossError", "PeriodicCheckpoint", "ResumableDataModule", "ResumableLoader", "SampleGrid"]
