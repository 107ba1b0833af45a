"""Helpers every layout dataset shares: clear errors for missing or malformed files, image
loading to [-1, 1] tensors, and skipping unreadable images without crashing an epoch."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

WORKER_TRACEBACK = "\nOriginal Traceback (most recent call last):"


class DataError(RuntimeError):
    """A dataset problem the user must fix; the message names the file, record or field. Raised in a
    DataLoader worker, it reaches the main process as the one-line message, not the worker's traceback."""

    def __init__(self, message: str = "") -> None:
        super().__init__(_without_worker_traceback(str(message)))


def _without_worker_traceback(message: str) -> str:
    # torch re-raises a worker's exception as type(err)("Caught ... in DataLoader worker process N.
    # Original Traceback ...<traceback>...\nmodule.DataError: <message>"); keep the message.
    if WORKER_TRACEBACK not in message:
        return message
    last = message.rstrip().splitlines()[-1]
    return last.split(": ", 1)[1] if ": " in last else last


class MissingDataError(DataError, FileNotFoundError):
    """A dataset file or directory is absent; the message names it and the prepare command."""


def require_path(path: Path, prepare_cmd: str, what: str = "") -> Path:
    """Return `path` if it exists, else raise MissingDataError naming it and how to create it."""
    path = Path(path)
    if not path.exists():
        kind = what or ("directory" if not path.suffix else "file")
        raise MissingDataError(f"{kind} not found: {path} -- create it with `{prepare_cmd}`")
    return path


def load_json(path: Path, prepare_cmd: str) -> object:
    """Parse a JSON file; a missing file or bad JSON raises DataError naming the file (and line)."""
    path = require_path(Path(path), prepare_cmd)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(f"malformed JSON in {path}: {err.msg} at line {err.lineno}, column {err.colno}") from None


def require_fields(record: object, fields: Sequence[str], where: str) -> Mapping:
    """Check a JSON record is an object holding `fields`; `where` names the file and record index."""
    if not isinstance(record, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [f for f in fields if f not in record]
    if missing:
        ident = f" (id {record['id']})" if "id" in record else ""
        raise DataError(f"{where}{ident} lacks required field(s) {', '.join(map(repr, missing))}")
    return record


def is_number(value: object) -> bool:
    """A finite JSON number (bools are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_box(box: object, where: str) -> None:
    """DataError naming `where` and the value unless box is [x, y, w, h] of finite numbers with w, h >= 0."""
    if not isinstance(box, list | tuple) or len(box) != 4 or not all(map(is_number, box)):
        raise DataError(f"{where}: bbox must be [x, y, w, h] of 4 numbers, got {box!r}")
    if box[2] < 0 or box[3] < 0:
        raise DataError(f"{where}: bbox {list(box)} has a negative width or height")


def check_size(width: object, height: object, where: str) -> None:
    """DataError naming `where` unless width and height are positive finite numbers."""
    if not (is_number(width) and is_number(height) and width > 0 and height > 0):
        raise DataError(f"{where}: image size must be two positive numbers, got width={width!r}, height={height!r}")


def resize_to_array(image: Image.Image, resolution: int) -> np.ndarray:
    """PIL image -> (R, R, 3) uint8 array, bilinear resize, aspect ratio not kept."""
    image = image.convert("RGB")
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def to_unit_tensor(array: np.ndarray, flip: bool = False) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 tensor in [-1, 1], mirrored left-right if `flip`.

    Done in numpy on purpose: small torch ops spawn intra-op threads that stall for tens of
    milliseconds per image on a busy CPU, numpy stays on the loader's own thread."""
    if flip:
        array = array[:, ::-1]
    chw = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
    chw *= 1.0 / 127.5
    chw -= 1.0
    return torch.from_numpy(chw)


def load_image(path: Path, resolution: int, draft: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
    """Read an image file -> ((R, R, 3) uint8 array, original (W, H) in pixels).

    `draft=True` lets libjpeg decode a JPEG at a reduced scale (>= 2R) first: much faster on large
    photos, pixel values differ slightly from a full decode + resize (the authors' path)."""
    with Image.open(path) as image:
        size = image.size
        if draft and image.format == "JPEG":
            image.draft("RGB", (2 * resolution, 2 * resolution))
        image.load()
        return resize_to_array(image, resolution), size


def resize_masks(masks: np.ndarray, resolution: int) -> np.ndarray:
    """(O, H, W) {0,1} masks at image size -> (O, R, R) float32 {0,1}: bilinear resize, threshold 0.5."""
    out = np.zeros((len(masks), resolution, resolution), dtype=np.float32)
    for i, mask in enumerate(masks):
        if mask.shape == (resolution, resolution):
            out[i] = mask
            continue
        small = Image.fromarray((mask > 0).astype(np.uint8) * 255).resize((resolution, resolution), Image.BILINEAR)
        out[i] = np.asarray(small) >= 128
    return out


UNREADABLE = (OSError, UnidentifiedImageError, ValueError, SyntaxError)


class BadImageCounter:
    """Counts distinct unreadable image files per process (re-reading one does not count again): a warning
    the first time each is met, DataError naming them once more than `limit` different files were."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.files: dict[str, str] = {}  # path -> why it was unreadable, in the order met

    @property
    def count(self) -> int:
        return len(self.files)

    def record(self, path: Path, err: BaseException) -> None:
        """Note one unreadable image; raise DataError once more than `limit` distinct files were seen."""
        if str(path) in self.files:
            return
        self.files[str(path)] = str(err)
        warnings.warn(f"skipping unreadable image {path}: {err} ({self.count} skipped so far)", stacklevel=3)
        if self.count > self.limit:
            names = list(self.files)
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            files = "file" if self.count == 1 else "files"
            raise DataError(
                f"{self.count} unreadable image {files} (limit max_bad_images={self.limit}): {shown}. "
                "Re-extract the image archive or raise the limit."
            )


def current_umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """Yield a new temporary sibling of `target` (mode from the umask, not mkdtemp's 0700), removed on exit."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `target` to fill; on success it replaces `target` in one rename, on any
    error it is removed, so readers never see a half-written directory."""
    with staging_directory(target) as tmp:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
