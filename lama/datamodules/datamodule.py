"""The LightningDataModule every layout dataset shares: train/val/test datasets, loaders with per-process
batch size, workers, pinned memory, persistent workers, and the image cache. The training loader is
resumable: it shards over the ranks itself and restores its position (epoch, batches trained on) from
every checkpoint. Each dataset subclasses it (SyntheticDataModule, CocoStuffDataModule,
VisualGenomeDataModule, picked by the data config's `_target_`) with the files it reads and its prepare()."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from lama.datamodules.base import LayoutDataset
from lama.datamodules.common import DataError
from lama.datamodules.resumable import ResumableLoader


def plain(node: Any) -> dict:
    """A config node (DictConfig, mapping or None) as a plain dict."""
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return dict(node)


class LayoutDataModule(pl.LightningDataModule):
    """Layout datasets for training and evaluation; `batch_size` is per process (per GPU). Subclasses set
    `name` and `splits` and implement build_dataset (one file split) and prepare_files (task=prepare)."""

    name: ClassVar[str] = ""
    # Which file split serves each stage. COCO-Stuff has no annotated test split: the papers evaluate
    # on val2017, so test = val (never flipped).
    splits: ClassVar[Mapping[str, str]] = {"train": "train", "val": "val", "test": "val"}

    def __init__(
        self,
        root: str | Path,
        num_classes: int,
        resolution: int,
        batch_size: int = 16,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
        seed: int = 0,
        flip: bool = True,
        drop_last: bool = True,
        return_masks: bool = False,
        dataset: Mapping | None = None,
        image_cache: str | Path | None = "auto",
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.num_classes = int(num_classes)
        self.resolution = int(resolution)
        self.batch_size = int(batch_size)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.prefetch_factor = int(prefetch_factor) if prefetch_factor and self.num_workers > 0 else None
        self.seed = int(seed)  # the training order is a function of (seed, epoch)
        self.flip = bool(flip)
        self.drop_last = bool(drop_last)
        self.return_masks = bool(return_masks)
        self.dataset_kwargs = plain(dataset)
        # image_cache: "auto" = the cache under cache_dir when task=prepare wrote one, else decode;
        # None = always decode; a directory = the caches there (one per split), which must exist.
        self.image_cache = None if image_cache in (None, "null", "none", "") else str(image_cache)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.train_dataset: LayoutDataset | None = None
        self.val_dataset: LayoutDataset | None = None
        self.test_dataset: LayoutDataset | None = None

    # -- what each dataset implements -------------------------------------------------------------
    def build_dataset(self, split: str, flip: bool) -> LayoutDataset:  # pragma: no cover - abstract
        """The dataset of one file split, without an image cache attached."""
        raise NotImplementedError

    def prepare_files(self) -> dict:  # pragma: no cover - abstract
        """Download or generate, then preprocess, what build_dataset reads; returns a summary."""
        raise NotImplementedError

    @property
    def prepare_cmd(self) -> str:
        """The command that prepares this dataset (named in every missing-file or stale-cache hint)."""
        return f"python run.py task=prepare data={self.name}"

    # -- prepare ----------------------------------------------------------------------------------
    def prepare(self) -> dict:
        """task=prepare: the dataset's files, then the image cache of every split; returns a summary."""
        summary = self.prepare_files()
        summary["image_caches"] = self.write_image_caches()
        return summary

    def write_image_caches(self) -> dict[str, str]:
        """Write the image cache of every split the module serves (nothing when image_cache is null);
        returns {split: cache directory}."""
        from lama.datamodules.cache import write_image_cache

        written: dict[str, str] = {}
        if self.image_cache is None or self.cache_path("train") is None:
            print("data.image_cache=null: no image cache written (the loaders decode every image)")
            return written
        for split in dict.fromkeys(self.splits.values()):  # test = val for COCO-Stuff and synthetic
            dataset = self.build_dataset(split, flip=False)
            out = self.cache_path(split)
            write_image_cache(dataset.image_dir, dataset.image_names(), out, self.resolution, draft=dataset.jpeg_draft)
            print(f"image cache of {split} ({dataset.num_images} images at {self.resolution} px): {out}")
            written[split] = str(out)
        return written

    # -- datasets ---------------------------------------------------------------------------------
    def root_cache_dir(self, kind: str) -> Path | None:
        """This dataset's own folder of caches of `kind` (images, layouts) under cache_dir, keyed by the
        resolved data root so two roots of the same dataset never share a cache; None without cache_dir."""
        if self.cache_dir is None:
            return None
        resolved = str(self.root.resolve())
        key = hashlib.sha1(resolved.encode()).hexdigest()[:10]
        return self.cache_dir / kind / f"{self.name}-{self.root.name}-{key}"

    def cache_path(self, split: str) -> Path | None:
        """Directory of the image cache of a file split (where task=prepare writes it); None when off."""
        from lama.datamodules.cache import cache_name

        if self.image_cache is None:
            return None
        base = self.root_cache_dir("images") if self.image_cache == "auto" else Path(self.image_cache)
        if base is None:
            return None
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
                f"instead (rerun `{self.prepare_cmd}` to cache this dataset)",
                stacklevel=3,
            )
            return
        dataset.use_image_cache(path)

    def make_dataset(self, stage: str, flip: bool = False) -> LayoutDataset:
        """The dataset serving `stage` (train | val | test), built from this module's settings, reading
        through the image cache when one is configured."""
        split = self.splits[stage]
        dataset = self.build_dataset(split, flip)
        if dataset.num_classes != self.num_classes:
            raise DataError(
                f"data.num_classes={self.num_classes} but the {self.name} {split} files define "
                f"{dataset.num_classes} classes; fix configs/data/{self.name}.yaml"
            )
        self._attach_cache(dataset, split)
        return dataset

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self.train_dataset = self.train_dataset or self.make_dataset("train", flip=self.flip)
        if stage in (None, "fit", "validate", "predict"):
            self.val_dataset = self.val_dataset or self.make_dataset("val")
        if stage in (None, "test") and self.test_dataset is None:
            same = self.splits["test"] == self.splits["val"] and self.val_dataset is not None
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
    def _loader(self, dataset: LayoutDataset | None, stage: str) -> DataLoader:
        if dataset is None:
            raise DataError(f"{stage} dataset is not set up; call datamodule.setup() first")
        workers = {"persistent_workers": self.persistent_workers, "prefetch_factor": self.prefetch_factor}
        return DataLoader(
            dataset,
            batch_size=self.val_batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            **(workers if self.num_workers > 0 else {}),
        )

    def _trained_position(self) -> tuple[int, int]:
        """(epoch, batches of it trained on), as the fit loop counts them (0, 0 outside a fit)."""
        trainer = self.trainer
        if trainer is None:
            return 0, 0
        return trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def train_dataloader(self) -> ResumableLoader:
        """Shuffled training batches in an order fixed by (seed, epoch), resumable mid-epoch."""
        if self.train_dataset is None:
            raise DataError("train dataset is not set up; call datamodule.setup() first")
        return ResumableLoader(
            self.train_dataset,
            self.batch_size,
            seed=self.seed,
            position=self._trained_position,
            drop_last=self.drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            prefetch_factor=self.prefetch_factor,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, "val")

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_dataset, "test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, "predict")
