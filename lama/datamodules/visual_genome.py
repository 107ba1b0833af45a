"""Visual Genome layouts from the sg2im-style HDF5 files (LostGAN's loader, made deterministic):
up to 10 objects -- objects in relationships first, then the others, each in file order -- then one
`__image__` slot covering the whole image (label 0, box (0, 0, 1, 1)), then padding (label 0,
box (-0.6, -0.6, 0.5, 0.5)); 11 slots, 179 classes on the full dataset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
import torch

from lama.datamodules.base import LayoutDataset
from lama.datamodules.common import DataError, load_image, load_json, require_path
from lama.datamodules.datamodule import LayoutDataModule, plain
from lama.datamodules.download import fetch_archives
from lama.datamodules.vg_prep import PREPARE_CMD, VGPrepConfig, preprocess
from lama.layout import pad_objects

SPLITS = ("train", "val", "test")
IMAGE_BOX = (0.0, 0.0, 1.0, 1.0)


def select_objects(num_objects: int, subjects: list[int], objects: list[int], max_objects: int) -> list[int]:
    """LostGAN's choice of object indices: those in relationships first (ascending), then the
    others; more than max_objects-1 related objects are cut to max_objects (LostGAN samples them
    at random), otherwise orphans fill up to max_objects-1."""
    related = sorted(set(subjects) | set(objects))
    orphans = [k for k in range(num_objects) if k not in set(related)]
    if len(related) > max_objects - 1:
        return related[:max_objects]
    return related + orphans[: max_objects - 1 - len(related)]


class VisualGenome(LayoutDataset):
    """VG layouts: items with image (3,R,R) in [-1,1], labels (11,), boxes (11,4) as fractions of
    the image size, image_id. `root` holds {split}.h5, vocab.json and the image folders
    (VG_100K/, VG_100K_2/); `image_dir` overrides where the images are; `image_cache` (a directory
    written by lama.datamodules.cache, see `task=prepare`) serves the resized images instead."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        resolution: int,
        flip: bool = False,
        return_masks: bool = False,
        max_objects: int = 10,
        max_bad_images: int = 100,
        image_dir: str | Path | None = None,
        jpeg_draft: bool = False,
        image_cache: str | Path | None = None,
    ) -> None:
        super().__init__(resolution, flip, return_masks, max_bad_images)
        if split not in SPLITS:
            raise DataError(f"unknown Visual Genome split {split!r}; choose one of {', '.join(SPLITS)}")
        if return_masks:
            raise DataError("Visual Genome has no instance masks; use return_masks=false with data=vg")
        self.prepare_cmd = PREPARE_CMD
        self.root = require_path(Path(root), PREPARE_CMD, "Visual Genome directory")
        self.split = split
        self.image_dir = Path(image_dir) if image_dir else self.root
        self.max_objects = int(max_objects)
        self.num_slots = self.max_objects + 1
        self.jpeg_draft = bool(jpeg_draft)
        vocab = load_json(self.root / "vocab.json", PREPARE_CMD)
        if not isinstance(vocab, dict) or "object_idx_to_name" not in vocab:
            raise DataError(f"{self.root / 'vocab.json'} lacks 'object_idx_to_name'; rerun `{PREPARE_CMD}`")
        self.class_names = list(vocab["object_idx_to_name"])
        if self.class_names[:1] != ["__image__"]:
            raise DataError(f"{self.root / 'vocab.json'}: object 0 must be '__image__', got {self.class_names[:1]}")
        self._read_h5(require_path(self.root / f"{split}.h5", PREPARE_CMD))
        self.use_image_cache(image_cache)

    def _read_h5(self, path: Path) -> None:
        needed = ("image_ids", "image_paths", "object_names", "object_boxes", "objects_per_image",
                  "relationship_subjects", "relationship_objects", "relationships_per_image",
                  "image_widths", "image_heights")  # fmt: skip
        try:
            with h5py.File(path, "r") as f:
                missing = [k for k in needed if k not in f]
                if missing:
                    raise DataError(f"{path} lacks dataset(s) {', '.join(missing)}; rerun `{PREPARE_CMD}`")
                data = {k: f[k][()] for k in needed}
        except OSError as err:
            raise DataError(f"cannot read {path}: {err}; rerun `{PREPARE_CMD}`") from None
        self.image_ids = [int(i) for i in data["image_ids"]]
        self.image_paths = [p.decode() if isinstance(p, bytes) else str(p) for p in data["image_paths"]]
        self.num_images = len(self.image_ids)
        if self.num_images == 0:
            raise DataError(f"{path} holds no images; check the preprocessing thresholds")
        self._layouts = [self._build_layout(data, i) for i in range(self.num_images)]

    def _build_layout(self, data: dict[str, np.ndarray], i: int) -> tuple[torch.Tensor, torch.Tensor]:
        num_rel = int(data["relationships_per_image"][i])
        chosen = select_objects(
            int(data["objects_per_image"][i]),
            data["relationship_subjects"][i, :num_rel].tolist(),
            data["relationship_objects"][i, :num_rel].tolist(),
            self.max_objects,
        )
        width, height = float(data["image_widths"][i]), float(data["image_heights"][i])
        labels = [int(data["object_names"][i, k]) for k in chosen] + [0]
        boxes = [[x / width, y / height, w / width, h / height] for x, y, w, h in data["object_boxes"][i, chosen].tolist()]
        boxes.append(list(IMAGE_BOX))
        return pad_objects(labels, boxes, self.num_slots)

    def image_id(self, i: int) -> int:
        return self.image_ids[i]

    def image_name(self, i: int) -> str:
        return self.image_paths[i]

    def read_image(self, i: int) -> np.ndarray:
        image, _ = load_image(self.image_path(i), self.resolution, draft=self.jpeg_draft)
        return image

    def layout(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels, boxes = self._layouts[i]
        return labels.clone(), boxes.clone()


class VisualGenomeDataModule(LayoutDataModule):
    """Visual Genome v1.4 (`data=vg`): prepare() downloads the raw files (`download`) and runs sg2im's
    preprocessing with the `prep` thresholds into {train,val,test}.h5 + vocab.json, then the image caches."""

    name = "vg"
    splits = {"train": "train", "val": "val", "test": "test"}

    def __init__(
        self, *args: object, download: Mapping | None = None, prep: Mapping | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.download = plain(download)
        self.prep = plain(prep)

    def build_dataset(self, split: str, flip: bool) -> VisualGenome:
        return VisualGenome(self.root, split, self.resolution, flip=flip, return_masks=self.return_masks,
                            **self.dataset_kwargs)  # fmt: skip

    def prepare_files(self) -> dict:
        """Fetch the raw files into root, then preprocess them there."""
        fetch_archives(self.download, self.root)
        prep = dict(self.prep)
        splits_json = prep.pop("splits_json", None)
        try:
            config = VGPrepConfig(**prep)
        except TypeError as err:
            raise DataError(f"bad data.prep key: {err}") from None
        summary = preprocess(self.root, self.root, splits_json=splits_json, config=config)
        print(f"Visual Genome: {summary['num_objects']} object classes (incl. __image__), "
              f"images per split {summary['images']}")  # fmt: skip
        return {"root": str(self.root), **summary}
