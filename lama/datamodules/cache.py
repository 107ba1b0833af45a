"""Image cache: every image decoded once, resized to the training resolution and stored as uint8
(N, R, R, 3) arrays in .npy shards that are memory-mapped at load time. Reading an item is then a
slice and a float conversion instead of a JPEG decode and a resize (measured by `task=bench`).

Layout of a cache directory:  index.json  (format, resolution, file names, shard sizes, unreadable
files)  and  shard_00000.npy, shard_00001.npy, ...  Written to a temporary directory and renamed,
so a crashed `task=prepare` never leaves a half-written cache behind."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lama.datamodules.common import UNREADABLE, DataError, atomic_directory, load_image, to_unit_tensor

FORMAT = "lama-image-cache-v2"  # v2: every source file's size and mtime, plus content hashes of a sample
INDEX = "index.json"
HASHED_FILES = 16  # evenly spaced source files whose content hash is recorded (same size and mtime, new bytes)
PREPARE_CMD = "python run.py task=prepare"


def cache_name(split: str, resolution: int, draft: bool = False) -> str:
    """Directory name of a split's cache; everything that changes the pixels is in the name."""
    return f"{split}_{int(resolution)}px{'_draft' if draft else ''}"


def fingerprint(image_dir: Path, file_names: Sequence[str]) -> dict:
    """What identifies the source files cheaply: [size in bytes, mtime in ns] of every file (None when
    absent) and the sha1 of HASHED_FILES evenly spaced ones. Changes when any image is rewritten."""
    names = [str(n) for n in file_names]
    stats: list[list[int] | None] = []
    for name in names:
        try:
            stat = (Path(image_dir) / name).stat()
            stats.append([stat.st_size, stat.st_mtime_ns])
        except OSError:
            stats.append(None)
    step = max(1, len(names) // HASHED_FILES)
    hashes = {name: _sha1(Path(image_dir) / name) for name in names[::step][:HASHED_FILES]}
    return {"stats": stats, "sha1": {k: v for k, v in hashes.items() if v is not None}}


def _sha1(path: Path) -> str | None:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None


def changed_source(recorded: dict, image_dir: Path, file_names: Sequence[str]) -> str | None:
    """The first source file that differs from its `recorded` fingerprint (None: all match). Files absent
    now are not compared, so a cache copied without its sources still serves."""
    now = fingerprint(image_dir, file_names)
    for name, old, new in zip(file_names, recorded.get("stats", []), now["stats"], strict=False):
        if new is not None and old != new:
            return str(name)
    for name, digest in recorded.get("sha1", {}).items():
        if now["sha1"].get(name, digest) != digest:
            return name
    return None


def write_image_cache(
    image_dir: Path,
    file_names: Sequence[str],
    out_dir: Path,
    resolution: int,
    shard_size: int = 4096,
    draft: bool = False,
    progress: bool = True,
) -> Path:
    """Decode `image_dir / name` for every name exactly as the datasets do (common.load_image: RGB,
    bilinear resize to R x R), and write the (R, R, 3) uint8 arrays to the cache at `out_dir`.
    Unreadable files are recorded (and stored as zeros) so the dataset can skip them as it does now.
    Returns out_dir. An existing complete cache with the same names and resolution is kept as is."""
    out_dir, image_dir = Path(out_dir), Path(image_dir)
    names = [str(n) for n in file_names]
    if shard_size <= 0:
        raise DataError(f"shard_size must be positive, got {shard_size}")
    if is_complete(out_dir, names, resolution, image_dir):
        return out_dir
    with atomic_directory(out_dir) as tmp:
        unreadable: list[str] = []
        shard_sizes: list[int] = []
        starts = range(0, len(names), shard_size)
        bar = tqdm(total=len(names), desc=f"caching {out_dir.name}", unit="img", disable=not progress)
        for k, start in enumerate(starts):
            chunk = names[start : start + shard_size]
            shard = np.lib.format.open_memmap(
                tmp / f"shard_{k:05d}.npy",
                mode="w+",
                dtype=np.uint8,
                shape=(len(chunk), resolution, resolution, 3),
            )
            for j, name in enumerate(chunk):
                try:
                    shard[j] = load_image(image_dir / name, resolution, draft=draft)[0]
                except UNREADABLE:
                    shard[j] = 0
                    unreadable.append(name)
                bar.update(1)
            shard.flush()
            del shard
            shard_sizes.append(len(chunk))
        bar.close()
        index = {
            "format": FORMAT,
            "resolution": int(resolution),
            "draft": bool(draft),
            "image_dir": str(image_dir.resolve()),
            "file_names": names,
            "fingerprint": fingerprint(image_dir, names),
            "shard_sizes": shard_sizes,
            "unreadable": unreadable,
        }
        (tmp / INDEX).write_text(json.dumps(index))
    return out_dir


def _read_index(cache_dir: Path, prepare_cmd: str = PREPARE_CMD) -> dict:
    path = Path(cache_dir) / INDEX
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"no image cache at {cache_dir} (missing {INDEX}); run `{prepare_cmd}`") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err}); rerun `{prepare_cmd}`") from None
    if index.get("format") != FORMAT:
        raise DataError(f"{path}: format {index.get('format')!r}, expected {FORMAT!r}; rerun `{prepare_cmd}`")
    return index


def is_complete(
    cache_dir: Path, file_names: Iterable[str], resolution: int, image_dir: Path | None = None
) -> bool:
    """Whether cache_dir holds a finished cache of exactly these files at this resolution (and, when
    image_dir is given, of the files now in image_dir: same directory, unchanged fingerprint)."""
    try:
        index = _read_index(cache_dir)
    except DataError:
        return False
    same = index["resolution"] == int(resolution) and index["file_names"] == [str(n) for n in file_names]
    if same and image_dir is not None:
        same = index.get("image_dir") == str(Path(image_dir).resolve()) and index.get("fingerprint") == fingerprint(
            image_dir, index["file_names"]
        )
    return same


class ImageCache:
    """Read side of a cache directory: images by position or by file name, memory-mapped (cheap to open
    in every DataLoader worker)."""

    def __init__(self, cache_dir: str | Path, resolution: int | None = None, prepare_cmd: str = PREPARE_CMD) -> None:
        self.cache_dir = Path(cache_dir)
        self.prepare_cmd = prepare_cmd  # named in every hint: the command that rewrites this cache
        index = _read_index(self.cache_dir, prepare_cmd)
        self.resolution = int(index["resolution"])
        if resolution is not None and int(resolution) != self.resolution:
            raise DataError(
                f"image cache {self.cache_dir} holds {self.resolution} px images, but {resolution} px were asked "
                f"for; rerun `{prepare_cmd}` with that resolution"
            )
        self.draft = bool(index.get("draft", False))
        self.image_dir: str | None = index.get("image_dir")
        self._fingerprint: dict = index.get("fingerprint", {})
        self.file_names: list[str] = index["file_names"]
        self._position = {name: i for i, name in enumerate(self.file_names)}
        self._unreadable = set(index["unreadable"])
        self._shard_sizes: list[int] = index["shard_sizes"]
        self._offsets = np.cumsum([0, *self._shard_sizes])
        self._shards: list[np.ndarray] | None = None  # opened lazily, per process

    def __len__(self) -> int:
        return len(self.file_names)

    def __contains__(self, name: str) -> bool:
        return name in self._position

    def check_source(self, image_dir: Path, file_names: Iterable[str]) -> None:
        """Raise DataError (naming this cache and the prepare command) unless the cache holds every one of
        `file_names` and the source files in image_dir are the ones it was written from."""
        hint = f"rerun `{self.prepare_cmd}` to rewrite it"
        missing = [n for n in file_names if n not in self._position]
        if missing:
            raise DataError(
                f"stale image cache {self.cache_dir}: {len(missing)} image(s) of the dataset are not in it "
                f"(first: {missing[0]}); {hint}"
            )
        changed = changed_source(self._fingerprint, Path(image_dir), self.file_names)
        if changed is not None:
            raise DataError(
                f"stale image cache {self.cache_dir}: {Path(image_dir) / changed} changed after the cache "
                f"was written; {hint}"
            )
        self._open()  # missing or truncated shards fail here, not in a loader worker mid-epoch

    def _open(self) -> list[np.ndarray]:
        if self._shards is None:
            shards = []
            for k, size in enumerate(self._shard_sizes):
                path = self.cache_dir / f"shard_{k:05d}.npy"
                try:
                    shard = np.load(path, mmap_mode="r")
                except (OSError, ValueError) as err:
                    raise DataError(f"corrupt image cache {self.cache_dir}: cannot read {path.name} ({err}); "
                                    f"rerun `{self.prepare_cmd}`") from None
                if shard.dtype != np.uint8 or shard.shape != (size, self.resolution, self.resolution, 3):
                    raise DataError(f"corrupt image cache {self.cache_dir}: {path.name} holds {shard.dtype} "
                                    f"{shard.shape}, the index says ({size}, {self.resolution}, "
                                    f"{self.resolution}, 3) uint8; rerun `{self.prepare_cmd}`")
                shards.append(shard)
            self._shards = shards
        return self._shards

    def uint8(self, i: int) -> np.ndarray:
        """Image number i as an (R, R, 3) uint8 array (what a dataset's read_image returns), read-only;
        OSError when its source file was unreadable."""
        if not 0 <= i < len(self):
            raise IndexError(f"image {i} out of range for the {len(self)} images of {self.cache_dir}")
        name = self.file_names[i]
        if name in self._unreadable:
            raise OSError(f"{name} was unreadable when the cache {self.cache_dir} was written")
        k = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return self._open()[k][i - self._offsets[k]]

    def uint8_by_name(self, name: str) -> np.ndarray:
        """The (R, R, 3) uint8 image cached from file `name` (as given to write_image_cache)."""
        if name not in self._position:
            raise DataError(f"{name} is not in the image cache {self.cache_dir}; rerun `{self.prepare_cmd}`")
        return self.uint8(self._position[name])

    def read(self, i: int) -> torch.Tensor:
        """Image number i as a (3, R, R) float32 tensor in [-1, 1], as a dataset item holds it."""
        return to_unit_tensor(self.uint8(i))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_shards"] = None  # memory maps are reopened in each worker process
        return state
