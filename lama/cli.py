"""What run.py does around a task: a failed run becomes one `error:` line, a run that made nothing leaves
no directory behind, and an output directory that cannot be written is refused before Hydra makes it."""

from __future__ import annotations

import errno
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

# OSErrors that are about the user's disk or permissions, not a bug: they get one line naming the path.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
               errno.EEXIST, errno.EISDIR}
# What Hydra (and the training's lock) write into a run directory before the task makes anything.
HYDRA_FILES = (".hydra", ".lock")


def is_disk_error(err: BaseException) -> bool:
    """True for an OSError caused by a full disk, a read-only place or missing permissions."""
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS


def disk_error_line(err: OSError) -> str:
    """`cannot write PATH: reason (hint)` for a disk/permission OSError."""
    reason = err.strerror or errno.errorcode.get(err.errno or 0, str(err))
    hint = {errno.ENOSPC: "free some space or move it with LAMA_OUTPUT_DIR / LAMA_CACHE_DIR",
            errno.EDQUOT: "free some space or move it with LAMA_OUTPUT_DIR / LAMA_CACHE_DIR"}.get(
        err.errno or 0, "choose a writable place (LAMA_OUTPUT_DIR, LAMA_CACHE_DIR, LAMA_DATA_DIR or paths.*=DIR)")
    where = err.filename if err.filename is not None else "a file"
    return f"cannot write {where}: {reason}; {hint}"


def fail(message: str, run_dir: Path | None = None, stop_at: Path | None = None) -> None:
    """Print `error: message` on stderr, remove the run directory if the run made nothing, exit 2."""
    if run_dir is not None:
        remove_unused_run_dir(run_dir, stop_at)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _only_hydra_files(run_dir: Path) -> bool:
    for entry in run_dir.iterdir():
        if entry.name in HYDRA_FILES or (entry.is_file() and entry.suffix == ".log"):
            continue
        if entry.is_dir() and not any(p.is_file() for p in entry.rglob("*")):
            continue  # an empty folder a logger or callback made before the failure
        return False
    return True


def remove_unused_run_dir(run_dir: Path, stop_at: Path | None = None) -> bool:
    """Delete `run_dir` when it holds only what Hydra wrote (.hydra/, the job log, empty folders), then
    its parents that became empty, up to (not including) `stop_at`. Returns whether it was deleted.
    A directory holding anything else (checkpoints, samples, a resumed run's files) is kept."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not _only_hydra_files(run_dir):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    stop = Path(stop_at).resolve() if stop_at is not None else None
    parent = run_dir.parent
    while stop is not None and parent.resolve() != stop and stop in parent.resolve().parents:
        try:
            parent.rmdir()  # only succeeds when empty
        except OSError:
            break
        parent = parent.parent
    return True


class CheckOutputDir(Callback):
    """Hydra callback: make the run (or sweep) directory before Hydra does, so an unwritable place is one
    `error:` line naming it instead of Hydra's traceback."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._make(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._make(config.hydra.sweep.dir)

    @staticmethod
    def _make(directory: str) -> None:
        try:
            Path(str(directory)).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            if not is_disk_error(err):
                raise
            fail(disk_error_line(err))
