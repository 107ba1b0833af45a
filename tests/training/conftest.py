"""Helpers for the training tests: tiny synthetic data, tiny networks, configs composed like run.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def tiny_overrides(data_dir: Path, resolution: int = 64, batches: int = 4, epochs: int = 1) -> list[str]:
    """Overrides that make any preset train in seconds on the CPU on a few synthetic scenes."""
    return [
        "data=synthetic",
        "trainer=cpu",
        "logger=csv",
        f"resolution={resolution}",
        f"paths.data_dir={data_dir}",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.generate.num_train=8",
        "data.generate.num_val=4",
        "model.ch=4",
        "model.d_only_iters=1",
        f"trainer.max_epochs={epochs}",
        f"trainer.limit_train_batches={batches}",
        "trainer.log_every_n_steps=1",
        "callbacks.progress_bar.refresh_rate=0",
        "trainer.enable_model_summary=false",
        "callbacks.sample_grid.every_n_iterations=2",
        "callbacks.sample_grid.num_layouts=2",
        "callbacks.checkpoint.every_n_iterations=2",
    ]


def compose_cfg(overrides: list[str], run_dir: Path) -> DictConfig:
    """The config run.py would see, with the run directory pointed at `run_dir`."""
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.run_dir = str(run_dir)
    return cfg


def run_py(args: list[str], out_dir: Path, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the entry point in a subprocess with outputs under out_dir."""
    full_env = {**os.environ, "LAMA_OUTPUT_DIR": str(out_dir), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def tiny_batch(batch: int = 4, objects: int = 3, resolution: int = 64, num_classes: int = 10, seed: int = 0) -> dict:
    """A deterministic layout batch: images in [-1, 1], labels 1.., boxes inside the image."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(batch, objects, 2, generator=g) * 0.5
    wh = 0.25 + torch.rand(batch, objects, 2, generator=g) * 0.25
    return {
        "image": torch.rand(batch, 3, resolution, resolution, generator=g) * 2 - 1,
        "labels": torch.randint(1, num_classes, (batch, objects), generator=g),
        "boxes": torch.cat([xy, wh], dim=-1),
    }


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A data dir shared by the tests (each resolution's scenes are generated on first use)."""
    return tmp_path_factory.mktemp("lama_data")

