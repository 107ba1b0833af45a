"""Fixtures for the data tests: one small synthetic dataset per session, and a writable copy
helper for the genuine sample files."""

import shutil
from pathlib import Path

import pytest

from lama.datamodules.synthetic import generate
from lama.datamodules.vg_prep import VGPrepConfig, preprocess


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "scenes"
    return generate(root, num_train=48, num_val=16, resolution=32, seed=3, progress=False)


@pytest.fixture
def prepared_vg(synthetic_root: Path, tmp_path: Path) -> Path:
    """A writable copy of the synthetic VG files, preprocessed into {split}.h5 with thresholds low enough for
    its few images."""
    vg = tmp_path / "vg"
    shutil.copytree(synthetic_root / "vg", vg)
    low = VGPrepConfig(min_image_size=16, min_object_instances=5, min_attribute_instances=5, min_object_size=3,
                       min_relationship_instances=3, expected_num_objects=None)  # fmt: skip
    preprocess(vg, splits_json=vg / "vg_splits.json", config=low, progress=False)
    return vg
