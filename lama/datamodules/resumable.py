"""The training loader: resumes mid-epoch exactly, with an order that is a function of (seed, epoch).

Lightning restarts a plain DataLoader from the start of the epoch after a mid-epoch checkpoint, and
its shuffling depends on the global RNG. This loader shards the order over the ranks itself (so it
also replaces Lightning's DistributedSampler) and is `_Stateful`: its state is the epoch and the
number of batches of it already trained on, which Lightning stores with the loops in every checkpoint
and hands back before iteration starts. It assumes the dataset returns the same item for the same
index (ours do: flips are separate indices)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

# (epoch, batches of it trained on) as the training loop counts them; the loader cannot count itself,
# because the trainer's fetcher asks for batches ahead of training
Position = Callable[[], tuple[int, int]]


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _EpochBatches:
    """A batch sampler whose batches are set before each epoch (so one DataLoader, and its persistent
    workers, serves every epoch)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class ResumableLoader:
    """Batches of `dataset` in the order of (seed, epoch), sharded over ranks, resuming where `position`
    says training stopped; the worker options are those of torch's DataLoader."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        position: Position,
        drop_last: bool = True,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.position = position
        self._skip: tuple[int, int] | None = None  # (epoch, batches to skip) after a restore
        self._epoch_batches = _EpochBatches()
        workers = {"persistent_workers": persistent_workers, "prefetch_factor": prefetch_factor}
        self.loader = DataLoader(
            dataset,
            batch_sampler=self._epoch_batches,
            collate_fn=collate_fn,
            num_workers=num_workers,
            pin_memory=pin_memory,
            generator=torch.Generator(),
            **(workers if num_workers > 0 else {}),  # torch refuses both without workers
        )

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

    def batches(self, epoch: int) -> Sequence[list[int]]:
        """The index batches of `epoch` on this rank, in training order."""
        indices = self._indices(epoch)
        batches = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[Any]:
        # a generator: nothing runs until the first batch is asked for, after state and epoch are restored
        epoch = self.position()[0]
        skip = self._skip[1] if self._skip is not None and self._skip[0] == epoch else 0
        self._skip = None
        self._epoch_batches.batches = list(self.batches(epoch)[skip:])
        if not self._epoch_batches.batches:
            return
        self.loader.generator.manual_seed(self.seed * 100_003 + epoch + 1)  # worker seeds follow the epoch
        yield from self.loader

    def state_dict(self) -> dict[str, int]:
        """Epoch and batches trained on in it (Lightning saves this with the loops)."""
        epoch, done = self.position()
        return {"epoch": int(epoch), "batches_done": int(done)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Skip the batches already trained on, if training continues in that same epoch."""
        self._skip = (int(state["epoch"]), int(state["batches_done"]))
