"""LayoutDataModule from the data configs: synthetic generated on demand, loaders (the training one resumable),
samplers, class names; coco_stuff / vg configs compose and point at the prepare command."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import SequentialSampler

from lama.datamodules import LayoutDataModule, MissingDataError
from lama.datamodules.resumable import ResumableLoader
from lama.layout import Layout
from lama.tasks.prepare import run as prepare

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _cfg(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    OmegaConf.update(cfg, "paths.data_dir", str(tmp_path))
    OmegaConf.update(cfg, "paths.cache_dir", str(tmp_path / "cache"))  # task=prepare writes image caches there
    return cfg


def test_synthetic_generated_on_demand(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "data=synthetic", "resolution=32", "data.generate.num_train=24",
               "data.generate.num_val=8", "data.batch_size=4")  # fmt: skip
    dm = instantiate(cfg.data)
    assert isinstance(dm, LayoutDataModule) and dm.root == tmp_path / "synthetic_32px"
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_dataset) == 2 * len(dm.train_dataset.image_ids)  # flipped copies
    assert not dm.val_dataset.flip
    assert dm.num_classes == 184 and dm.class_names[1] == "circle"
    loader = dm.train_dataloader()
    assert isinstance(loader, ResumableLoader) and loader.drop_last  # shuffles and shards over ranks itself
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["labels"].shape == (4, 8)
    Layout(batch["labels"], batch["boxes"]).validate(num_classes=184)
    val = dm.val_dataloader()
    assert isinstance(val.sampler, SequentialSampler) and not val.drop_last
    dm.setup("test")
    assert dm.test_dataset.image_ids == dm.val_dataset.image_ids


def test_masks_and_workers(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "data=synthetic", "resolution=32", "data.generate.num_train=8", "data.generate.num_val=8",
               "data.return_masks=true", "data.num_workers=1", "data.persistent_workers=true")  # fmt: skip
    dm = instantiate(cfg.data)
    names = dm.class_names  # prepares and sets up validation on first use
    assert names[92] == "sky"
    batch = next(iter(dm.val_dataloader()))
    assert batch["masks"].shape[1:] == (8, 32, 32)
    assert torch.equal(batch["masks"].amax((2, 3)) > 0, batch["labels"] != 0)


def test_prepare_task_synthetic(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "task=prepare", "data=synthetic", "resolution=16", "data.generate.num_train=4",
               "data.generate.num_val=2")  # fmt: skip
    summary = prepare(cfg)
    assert summary["num_train"] == 4 and (tmp_path / "synthetic_16px/annotations/stuff_val2017.json").is_file()
    cache = Path(summary["image_caches"]["train"])
    assert cache.name == "train_16px" and cache.parent.parent == tmp_path / "cache/images"


@pytest.mark.parametrize("name,classes", [("coco_stuff", 184), ("vg", 179)])
def test_real_configs_point_to_prepare(tmp_path: Path, name: str, classes: int) -> None:
    cfg = _cfg(tmp_path, f"data={name}", "resolution=128")
    dm = instantiate(cfg.data)
    assert dm.num_classes == classes and dm.resolution == 128
    with pytest.raises(MissingDataError, match=f"task=prepare data={name}"):
        dm.setup("fit")
