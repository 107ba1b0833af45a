"""`python run.py task=prepare data=synthetic|coco_stuff|vg`: the data config's data module prepares
its dataset (generate, or download, verify, extract and preprocess), then caches every split's images
resized to the training resolution (LayoutDataModule.prepare)."""

from __future__ import annotations

from omegaconf import DictConfig

from lama.datamodules.common import DataError
from lama.datamodules.datamodule import LayoutDataModule
from lama.tasks import TaskError


def run(cfg: DictConfig) -> dict:
    """Prepare the dataset of cfg.data under cfg.data.root; returns a summary."""
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    if not isinstance(datamodule, LayoutDataModule):
        raise TaskError(f"task=prepare needs a layout data module, data._target_ is {cfg.data.get('_target_')}")
    try:
        return datamodule.prepare()
    except DataError as err:
        raise TaskError(str(err)) from None
