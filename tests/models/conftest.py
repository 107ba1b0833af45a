"""Model tests run single-threaded: their tensors are tiny, and on a shared 2-core machine torch's
thread pool makes them several times slower, not faster."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
