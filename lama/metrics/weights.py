"""Pretrained weights for the metrics: download as torch/torchvision do, or read a local file;
when neither works, fail with a message that names the file and the option to point at it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from lama.metrics.errors import CannotRun

T = TypeVar("T")


class WeightsUnavailable(CannotRun):
    """A metric's pretrained weights could not be downloaded or read; the message says how to fix it."""


def check_weights_file(path: str | Path, option: str) -> Path:
    """Return `path` as a Path when it is a readable file, else raise WeightsUnavailable naming `option`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailable(f"{option}={path}: no such weights file")
    return path


def fetch_or_explain(fetch: Callable[[], T], *, metric: str, filename: str, url: str, option: str) -> T:
    """Run `fetch` (a download); turn a network failure into WeightsUnavailable with the fix in it."""
    try:
        return fetch()
    except OSError as err:  # URLError, HTTPError, socket and SSL errors are all OSErrors
        raise WeightsUnavailable(
            f"{metric}: could not download the weights file {filename} from {url} ({err}). "
            f"Fetch that file on a machine with internet access and pass {option}=/path/to/{filename}"
        ) from None


def load_state_dict_file(path: str | Path, option: str) -> dict[str, torch.Tensor]:
    """Load a plain state dict (tensors only) from a local weights file named by `option`."""
    path = check_weights_file(path, option)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise WeightsUnavailable(f"{option}={path} cannot be read as a weights file: {err}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsUnavailable(f"{option}={path} does not hold a state dict (got {type(state).__name__})")
    return state


def file_tag(path: str | Path | None, default: str) -> str:
    """A short name for a weights choice: `default` for the downloaded weights, else stem + content hash."""
    if path is None:
        return default
    path = Path(path)
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.stem}-{digest.hexdigest()[:10]}"


def hub_file(url: str) -> Path:
    """Where torch.hub (and so torchvision and torch-fidelity) caches the download of `url`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def ensure_downloaded(url: str, *, metric: str, option: str) -> Path:
    """Download `url` into the torch.hub cache unless it is there; offline, fail naming `option`."""
    target = hub_file(url)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        fetch_or_explain(
            lambda: torch.hub.download_url_to_file(url, str(target), progress=True),
            metric=metric,
            filename=target.name,
            url=url,
            option=option,
        )
    return target
