"""Fixtures for the data tests: one small synthetic dataset per session, and a writable copy
helper for the genuine sample files."""

from pathlib import Path

import pytest

from lama.datamodules.synthetic import generate


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "scenes"
    return generate(root, num_train=48, num_val=16, resolution=32, seed=3, progress=False)
