"""One LightningDataModule for every layout dataset, chosen by the `data` config group
(`coco_stuff`, `vg`, `synthetic`): train/val/test datasets, loaders with per-process batch size,
workers, pinned memory, persistent workers; Lightning injects DistributedSampler under DDP."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from lama.datamodules.base import LayoutDataset
from lama.datamodules.common import DataError

# Which file split serves each stage. COCO-Stuff has no annotated test split: the papers
# evaluate on val2017, so test = val (never flipped).
SPLITS = {
    "coco_stuff": {"train": "train", "val": "val", "test": "val"},
    "synthetic": {"train": "train", "val": "val", "test": "val"},
    "vg": {"train": "train", "val": "val", "test": "test"},
}


def _plain(node: Any) -> dict:
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return dict(node)


class LayoutDataModule(pl.LightningDataModule):
    """Layout datasets for training and evaluation; `batch_size` is per process (per GPU)."""

    def __init__(
        self,
        name: str,
        root: str | Path,
        num_classes: int,
        resolution: int,
        batch_size: int = 16,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        flip: bool = True,
        drop_last: bool = True,
        return_masks: bool = False,
        dataset: Mapping | None = None,
        generate: Mapping | None = None,
        download: Mapping | None = None,
        prep: Mapping | None = None,
        image_cache: str | Path | None = "auto",
        image_cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        if name not in SPLITS:
            raise DataError(f"unknown dataset name {name!r}; choose one of {', '.join(SPLITS)}")
        self.name = name
        self.root = Path(root)
        self.num_classes = int(num_classes)
        self.resolution = int(resolution)
        self.batch_size = int(batch_size)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.flip = bool(flip)
        self.drop_last = bool(drop_last)
        self.return_masks = bool(return_masks)
        self.dataset_kwargs = _plain(dataset)
        # Read by prepare_data (synthetic) and by task=prepare (download / prep).
        self.generate_kwargs = _plain(generate)
        self.download = _plain(download)
        self.prep = _plain(prep)
        # image_cache: "auto" = the cache under image_cache_dir when task=prepare wrote one, else decode;
        # None = always decode; a directory = the caches there (one per split), which must exist.
        self.image_cache = None if image_cache in (None, "null", "none", "") else str(image_cache)
        self.image_cache_dir = Path(image_cache_dir) if image_cache_dir else self.root / ".image_cache"
        self.train_dataset: LayoutDataset | None = None
        self.val_dataset: LayoutDataset | None = None
        self.test_dataset: LayoutDataset | None = None

    # -- datasets ---------------------------------------------------------------------------------
    def cache_path(self, split: str) -> Path | None:
        """Directory of the image cache of a file split (where task=prepare writes it); None when off."""
        from lama.datamodules.cache import cache_name

        if self.image_cache is None:
            return None
        base = self.image_cache_dir if self.image_cache == "auto" else Path(self.image_cache)
        return base / cache_name(split, self.resolution, bool(self.dataset_kwargs.get("jpeg_draft", False)))

    def _attach_cache(self, dataset: LayoutDataset, split: str) -> None:
        path = self.cache_path(split)
        if path is None:
            return
        if self.image_cache != "auto":
            dataset.use_image_cache(path)  # an explicit directory must hold a valid cache
            return
        from lama.datamodules.cache import INDEX, ImageCache

        if not (path / INDEX).is_file():
            return  # auto: no cache written yet, decode
        source = ImageCache(path).image_dir
        if source is not None and Path(source) != Path(dataset.image_dir).resolve():
            warnings.warn(
                f"image cache {path} was written from {source}, not from {dataset.image_dir}; decoding "
                f"instead (rerun `{dataset.prepare_cmd}` to cache this dataset)",
                stacklevel=3,
            )
            return
        dataset.use_image_cache(path)

    def make_dataset(
        self, stage: str, flip: bool = False, use_cache: bool = True, check_classes: bool = True
    ) -> LayoutDataset:
        """The dataset serving `stage` (train | val | test), built from this module's settings, reading
        through the image cache when one is configured (use_cache=False: always decode)."""
        split = SPLITS[self.name][stage]
        common = {"root": self.root, "split": split, "resolution": self.resolution, "flip": flip}
        if self.name == "vg":
            from lama.datamodules.visual_genome import VisualGenome

            dataset = VisualGenome(**common, return_masks=self.return_masks, **self.dataset_kwargs)
        else:
            from lama.datamodules.coco_stuff import CocoStuff

            dataset = CocoStuff(**common, return_masks=self.return_masks, **self.dataset_kwargs)
        if check_classes and dataset.num_classes != self.num_classes:
            raise DataError(
                f"data.num_classes={self.num_classes} but the {self.name} {split} files define "
                f"{dataset.num_classes} classes; fix configs/data/{self.name}.yaml"
            )
        if use_cache:
            self._attach_cache(dataset, split)
        return dataset

    def prepare_data(self) -> None:
        """Synthetic data is generated here when missing (once per node); real data must exist."""
        if self.name == "synthetic":
            from lama.datamodules.synthetic import generate, is_generated

            if not is_generated(self.root):
                kwargs = {"num_train": 2000, "num_val": 500, "seed": 0, **self.generate_kwargs}
                generate(self.root, resolution=self.resolution, **kwargs)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self.train_dataset = self.train_dataset or self.make_dataset("train", flip=self.flip)
        if stage in (None, "fit", "validate", "predict"):
            self.val_dataset = self.val_dataset or self.make_dataset("val")
        if stage in (None, "test") and self.test_dataset is None:
            same = SPLITS[self.name]["test"] == SPLITS[self.name]["val"] and self.val_dataset is not None
            self.test_dataset = self.val_dataset if same else self.make_dataset("test")

    @property
    def class_names(self) -> list[str]:
        """Class name per label ('' for unused ids); loads the validation set if nothing is set up."""
        for dataset in (self.train_dataset, self.val_dataset, self.test_dataset):
            if dataset is not None:
                return dataset.class_names
        self.prepare_data()
        self.setup("validate")
        return self.val_dataset.class_names

    # -- loaders ----------------------------------------------------------------------------------
    def _loader(self, dataset: LayoutDataset | None, stage: str, train: bool) -> DataLoader:
        if dataset is None:
            raise DataError(f"{stage} dataset is not set up; call datamodule.setup() first")
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.val_batch_size,
            shuffle=train,
            drop_last=self.drop_last if train else False,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, "train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, "val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_dataset, "test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, "predict", train=False)
