"""Shared fixtures: paths to ../shared (skipped with a reason when absent) and tiny settings."""

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
REALDATA = SHARED / "realdata"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(
            f"authors' reference fixtures not found at {REFERENCE} (only CI and developers have ../shared)"
        )
    return REFERENCE


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(
            f"genuine COCO/VG sample files not found at {REALDATA} (only CI and developers have ../shared)"
        )
    return REALDATA


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread per test: the tensors are tiny, and on a 2-core machine torch's thread pool
    (OpenMP spinning) makes them several times slower, not faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
