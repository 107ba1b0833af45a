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


# Both settings below are session-wide so that module- and session-scoped fixtures (which run before any
# function-scoped fixture) train under the same conditions as the tests that compare against them: a run
# with 2 threads and its resume with 1 differ in float rounding, and failed CI that way.
@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One intra-op thread: the tensors are tiny, and on a 2-core machine torch's thread pool
    (OpenMP spinning) makes them several times slower, not faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_thread_again(one_thread):
    """A test that sets its own thread count (task=bench does) leaves one thread to the next."""
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def no_native_bf16():
    """model.fast.enabled=auto picks bf16 where the CPU has it natively; tests see no native bf16 on every
    machine, so that they train the same float32 path on all CPUs (fast-path tests patch this themselves)."""
    from unittest import mock

    from lama.training import fast

    with mock.patch.object(fast, "native_bf16", return_value=False):
        yield
