"""IS and FID through torch-fidelity over uint8 image sets, with cached real-image statistics."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from lama.metrics.weights import WeightsUnavailable, check_weights_file, ensure_downloaded, file_tag

INCEPTION_OPTION = "metrics.inception_weights"
INCEPTION_FILE = Path(URL_INCEPTION_V3).name
FEATURE_EXTRACTOR = "inception-v3-compat"
# torch-fidelity resizes every input to 299 x 299 with TF1-compatible bilinear filtering.
INCEPTION_RESIZE = "tf1-bilinear-299"


def inception_weights(path: str | Path | None) -> str | None:
    """Check a local Inception weights file, or make sure the default one is downloaded (None = download)."""
    if path is not None:
        return str(check_weights_file(path, INCEPTION_OPTION))
    ensure_downloaded(URL_INCEPTION_V3, metric="IS/FID (Inception-v3)", option=INCEPTION_OPTION)
    return None


def inception_tag(path: str | Path | None) -> str:
    """Names the Inception weights in cache names and results: the TF 2015-12-05 graph or a local file."""
    return file_tag(path, default="inception-2015-12-05")


def real_stats_cache_name(
    dataset: str, split: str, resolution: int, num_images: int, weights_path: str | Path | None = None,
    kind: str = "images", resize: str = INCEPTION_RESIZE, features: str = "2048",
) -> str:
    """The cache name of real statistics: everything that changes them (dataset, split, size, count,
    resize, weights) is in it, so a changed protocol never reads stale statistics."""
    name = f"lama-{dataset}-{split}-{kind}-{resolution}px-n{num_images}-{resize}-{inception_tag(weights_path)}"
    if features != "2048":
        name += f"-pool{features}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def fidelity_metrics(
    fake: Dataset | str,
    real: Dataset | str | None = None,
    *,
    isc: bool = True,
    fid: bool = True,
    weights_path: str | Path | None = None,
    real_cache_name: str | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    isc_splits: int = 10,
    loader_workers: bool = True,
    fid_features: str = "2048",
    verbose: bool = True,
) -> dict[str, float]:
    """IS of `fake` and FID(fake, real) by torch-fidelity; inputs are datasets of (3, H, W) uint8 images
    or image folders. Returns a subset of {is_mean, is_std, fid}. loader_workers=False loads images in
    the main process (torch-fidelity's save_cpu_ram), which is faster for small sets. fid_features picks
    the Inception layer of FID: "2048" (pool3, the standard) or a smaller one ("64", "192", "768") for
    quick checks only."""
    if fid and real is None:
        raise ValueError("FID needs a real image set")
    kwargs: dict[str, Any] = dict(
        input1=fake,
        isc=isc,
        fid=fid,
        feature_extractor=FEATURE_EXTRACTOR,
        feature_extractor_weights_path=inception_weights(weights_path),
        feature_layer_fid=str(fid_features),
        batch_size=batch_size,
        cuda=torch.device(device).type == "cuda",
        isc_splits=isc_splits,
        verbose=verbose,
        cache=real_cache_name is not None,
        save_cpu_ram=not loader_workers,
    )
    if fid:
        kwargs.update(input2=real, input2_cache_name=real_cache_name)
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            kwargs["cache_root"] = str(cache_dir)
    try:
        # torch-fidelity prints its own progress to stderr; keep its stdout chatter out of the table.
        with contextlib.redirect_stdout(io.StringIO()):
            out = torch_fidelity.calculate_metrics(**kwargs)
    except RuntimeError as err:
        raise unfitting_weights(err, weights_path) from None
    result = {}
    if isc:
        result["is_mean"] = float(out["inception_score_mean"])
        result["is_std"] = float(out["inception_score_std"])
    if fid:
        result["fid"] = float(out["frechet_inception_distance"])
    return result


def unfitting_weights(err: RuntimeError, weights_path: str | Path | None) -> Exception:
    """The error to raise for torch-fidelity's RuntimeError `err`: WeightsUnavailable when the Inception
    weights file does not fit the network (a state_dict mismatch), else `err` itself."""
    if "state_dict" in str(err):
        return WeightsUnavailable(f"{INCEPTION_OPTION}={weights_path} does not fit torch-fidelity's "
                                  f"{FEATURE_EXTRACTOR}: {err}")
    return err


def fidelity_protocol(weights_path: str | Path | None) -> dict[str, Any]:
    """What stands behind an IS/FID/SceneFID number (Inception and resize), for results.json."""
    return {
        "implementation": f"torch-fidelity {torch_fidelity.__version__}, {FEATURE_EXTRACTOR}",
        "weights": str(weights_path) if weights_path else INCEPTION_FILE,
        "weights_tag": inception_tag(weights_path),
        "resize": INCEPTION_RESIZE,
    }
