"""The resumable training loader: order from (seed, epoch), mid-epoch skip, sharding, worker options."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from lama.datamodules import resumable
from lama.datamodules.resumable import ResumableLoader
from lama.datamodules.synthetic import SyntheticDataModule


class Items(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def _loader(n=10, batch=3, drop_last=True, position=(0, 0), **workers):
    state = {"position": position}
    loader = ResumableLoader(Items(n), batch, seed=7, position=lambda: state["position"], drop_last=drop_last,
                             **workers)  # fmt: skip
    return loader, state


def test_order_depends_on_seed_and_epoch_only():
    loader, state = _loader()
    first = [b.tolist() for b in loader]
    torch.manual_seed(123)  # the global RNG plays no part
    assert [b.tolist() for b in loader] == first
    assert len(first) == len(loader) == 3 and all(len(b) == 3 for b in first)
    state["position"] = (1, 0)
    assert [b.tolist() for b in loader] != first
    flat = sorted(i for b in first for i in b)
    assert len(set(flat)) == 9 and set(flat) <= set(range(10))


def test_skips_the_batches_already_trained_on():
    loader, state = _loader(n=12, batch=2)
    full = [b.tolist() for b in loader]
    state["position"] = (0, 4)
    saved = loader.state_dict()
    assert saved == {"epoch": 0, "batches_done": 4}
    fresh, fresh_state = _loader(n=12, batch=2)
    fresh.load_state_dict(saved)
    assert [b.tolist() for b in fresh] == full[4:]
    assert [b.tolist() for b in fresh] == full  # the skip applies to the restored epoch only
    fresh.load_state_dict({"epoch": 0, "batches_done": 3})
    fresh_state["position"] = (1, 0)  # training moved on to the next epoch (saved at an epoch end): nothing skipped
    assert len(list(fresh)) == 6


def test_shards_over_ranks(monkeypatch):
    batches = {}
    for rank in (0, 1):
        monkeypatch.setattr(resumable, "_rank_and_world", lambda r=rank: (r, 2))
        loader, _ = _loader(n=11, batch=2, drop_last=False)
        batches[rank] = [i for b in loader for i in b.tolist()]
        assert len(loader) == 3
    assert len(batches[0]) == len(batches[1]) == 6
    assert set(batches[0]) | set(batches[1]) == set(range(11))


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_worker_options_reach_the_data_loader_and_workers_persist_across_epochs():
    loader, state = _loader(n=8, batch=2, num_workers=1, persistent_workers=True, prefetch_factor=3, pin_memory=True)
    assert loader.loader.persistent_workers and loader.loader.prefetch_factor == 3 and loader.loader.pin_memory
    epoch0 = [b.tolist() for b in loader]
    workers = loader.loader._iterator
    state["position"] = (1, 0)
    epoch1 = [b.tolist() for b in loader]
    assert loader.loader._iterator is workers  # the same worker processes served the second epoch
    plain, plain_state = _loader(n=8, batch=2)
    assert [b.tolist() for b in plain] == epoch0
    plain_state["position"] = (1, 0)
    assert [b.tolist() for b in plain] == epoch1  # workers change nothing in the order


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
@pytest.mark.parametrize("workers", [0, 1])
def test_datamodule_hands_its_worker_settings_to_the_training_loader(tmp_path, workers):
    dm = SyntheticDataModule(tmp_path, 184, 32, num_workers=workers, pin_memory=True,
                          persistent_workers=True, prefetch_factor=4, seed=3)  # fmt: skip
    dm.train_dataset = Items(6)
    loader = dm.train_dataloader()
    assert isinstance(loader, ResumableLoader) and loader.seed == 3 and loader.loader.pin_memory
    assert loader.loader.persistent_workers is bool(workers)
    assert loader.loader.prefetch_factor == (4 if workers else None)
    assert loader.state_dict() == {"epoch": 0, "batches_done": 0}  # outside a fit
