"""The run directory a training writes into: which checkpoint it continues from, and its lock
(one training per directory)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LAST = Path("checkpoints") / "last.ckpt"
LOCK = ".lock"  # holds the PID of the training that writes into the directory


class RunDirError(RuntimeError):
    """A run directory cannot be used as asked; the message says why and what to do."""


def _latest_run(runs: Path) -> Path | None:
    found = [p for p in runs.glob(f"*/{LAST}") if p.is_file()] if runs.is_dir() else []
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def resume_target(ckpt_path: str | None, resume: bool, run_dir: Path) -> tuple[Path | None, Path]:
    """(checkpoint to continue from or None, run directory to write into).

    ckpt_path resumes from that checkpoint, into this run's directory, or with resume=true into the
    checkpoint's own run directory; a run directory that already holds checkpoints/last.ckpt continues
    itself; resume=true alone continues the newest run beside this one (same parent directory)."""
    if ckpt_path is not None:
        ckpt = Path(ckpt_path)
        if not ckpt.is_file():
            raise RunDirError(f"ckpt_path={ckpt_path} does not exist (point it at a run's checkpoints/last.ckpt)")
        if not resume:
            return ckpt, run_dir
        if ckpt.parent.name != LAST.parent.name:
            raise RunDirError(
                f"resume=true continues in the checkpoint's run directory, but ckpt_path={ckpt_path} is not in "
                "a run's checkpoints/ folder; drop resume=true to continue it in a new run directory"
            )
        return ckpt, ckpt.parent.parent
    if (run_dir / LAST).is_file():
        return run_dir / LAST, run_dir
    if not resume:
        return None, run_dir
    latest = _latest_run(run_dir.parent)
    if latest is None:
        raise RunDirError(f"resume=true but no run in {run_dir.parent} has {LAST}; give ckpt_path=.../last.ckpt")
    return latest, latest.parent.parent


def launched_as_rank_zero() -> bool:
    """False in the extra processes of a multi-process (DDP, SLURM) training, which share rank 0's directory."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold run_dir/.lock while the body runs; refuse with the holder's PID when another training holds
    it. An flock: the kernel drops it when its holder exits or is killed, so a dead run's lock is free."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunDirError(
            f"run directory {run_dir} is in use by another training (PID {holder}); wait for it to end, "
            "or train into another directory"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
