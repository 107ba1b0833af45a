"""A training data loader that resumes mid-epoch exactly.

Lightning restarts a plain DataLoader from the start of the epoch after a mid-epoch checkpoint, and
its shuffling depends on the global RNG. This wrapper makes the order a function of (seed, epoch),
shards it over the ranks itself (so it also replaces Lightning's DistributedSampler), and is
`_Stateful`: its state is the epoch and the number of batches already trained on, which Lightning
stores in the checkpoint and hands back before iteration starts. It assumes the dataset returns the
same item for the same index (ours do: flips are separate indices)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ResumableLoader:
    """Wrap a DataLoader: same dataset, batch size, collate function and workers; order from (seed, epoch)."""

    def __init__(self, loader: DataLoader, seed: int, clock: Callable[[], tuple[int, int]]) -> None:
        if loader.batch_size is None:
            raise ValueError("ResumableLoader needs a DataLoader built with batch_size (not a batch_sampler)")
        self.loader = loader
        self.dataset = loader.dataset
        self.batch_size = int(loader.batch_size)
        self.drop_last = bool(loader.drop_last)
        self.collate_fn = loader.collate_fn
        self.seed = int(seed)
        # (current epoch, batches of it trained on): read from the training module, because the
        # trainer's fetcher prefetches ahead of training and the epoch is restored before iteration
        self.clock = clock
        self._skip: tuple[int, int] | None = None  # (epoch, batches to skip) after a restore

    def _per_rank(self) -> int:
        _, world = _rank_and_world()
        return math.ceil(len(self.dataset) / world)

    def __len__(self) -> int:
        n = self._per_rank()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _indices(self, epoch: int) -> list[int]:
        rank, world = _rank_and_world()
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(len(self.dataset), generator=g).tolist()
        total = self._per_rank() * world
        order += order[: total - len(order)]  # pad so every rank gets as many items (as DistributedSampler)
        return order[rank:total:world]

    def __iter__(self) -> Iterator[Any]:
        # a generator: nothing runs until the first batch is asked for, after state/epoch are set
        epoch = self.clock()[0]
        skip = self._skip[1] if self._skip is not None and self._skip[0] == epoch else 0
        self._skip = None
        indices = self._indices(epoch)
        batches = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        batches = batches[skip:]
        if not batches:
            return
        inner = DataLoader(
            self.dataset,
            batch_sampler=batches,
            collate_fn=self.collate_fn,
            num_workers=self.loader.num_workers,
            pin_memory=self.loader.pin_memory,
            worker_init_fn=self.loader.worker_init_fn,
            generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch + 1),
            multiprocessing_context=self.loader.multiprocessing_context,
            timeout=self.loader.timeout,
        )
        yield from inner

    def state_dict(self) -> dict[str, int]:
        """Epoch and batches trained on in it (Lightning saves this with the loops)."""
        epoch, done = self.clock()
        return {"epoch": int(epoch), "batches_done": int(done)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Skip the batches already trained on, if training continues in that same epoch."""
        self._skip = (int(state["epoch"]), int(state["batches_done"]))


class ResumableDataModule(pl.LightningDataModule):
    """Wrap a LightningDataModule so its training loader is a ResumableLoader; everything else
    (prepare_data on one process per node, setup, class names) is delegated."""

    def __init__(self, datamodule: pl.LightningDataModule, seed: int, clock: Callable[[], tuple[int, int]]) -> None:
        super().__init__()
        self.datamodule = datamodule
        self.seed = int(seed)
        self.clock = clock

    def prepare_data(self) -> None:
        self.datamodule.prepare_data()

    def setup(self, stage: str) -> None:
        self.datamodule.setup(stage)

    def train_dataloader(self) -> ResumableLoader:
        return ResumableLoader(self.datamodule.train_dataloader(), self.seed, self.clock)

    @property
    def class_names(self) -> list[str] | None:
        """The wrapped datamodule's class names (None when it has none)."""
        return getattr(self.datamodule, "class_names", None)

    @property
    def val_dataset(self):
        """The wrapped datamodule's validation dataset (val/fid and sample callbacks read it)."""
        return getattr(self.datamodule, "val_dataset", None)
