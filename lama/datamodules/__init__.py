"""Layout datasets (COCO-Stuff 2017, Visual Genome, synthetic scenes) behind one LightningDataModule."""

from lama.datamodules.coco_stuff import CocoStuff
from lama.datamodules.common import DataError, MissingDataError
from lama.datamodules.datamodule import LayoutDataModule

__all__ = ["CocoStuff", "DataError", "LayoutDataModule", "MissingDataError", "VisualGenome"]


def __getattr__(name: str) -> object:
    # Imported lazily: h5py is only needed for Visual Genome.
    if name == "VisualGenome":
        from lama.datamodules.visual_genome import VisualGenome

        return VisualGenome
    raise AttributeError(name)
