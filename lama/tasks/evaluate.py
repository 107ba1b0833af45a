"""`python run.py task=evaluate checkpoint=PATH` (sample, then measure) or `samples=DIR` (images made
elsewhere, with a manifest.jsonl): the metrics of cfg.metrics.names -> results.json + a Markdown table."""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from lama.metrics.inputs import EvalInputs
from lama.metrics.mask_iou import summary_line
from lama.metrics.real import RealLayouts
from lama.metrics.registry import ALL, select
from lama.metrics.suite import markdown_table, run_metrics
from lama.sampling.folder import read_info, read_manifest
from lama.sampling.images import read_image
from lama.tasks import TaskError, task_device
from lama.tasks.inputs import load_checkpoint_generator, repeats, sample_validation, validation_data

log = logging.getLogger(__name__)


def _settings(cfg: DictConfig) -> dict[str, Any]:
    settings = OmegaConf.to_container(cfg.metrics, resolve=True)
    settings["seed"] = int(cfg.seed)
    return settings


def _names(cfg: DictConfig) -> str | list[str]:
    names = cfg.metrics.names
    return list(names) if isinstance(names, ListConfig) else str(names)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate cfg.checkpoint (sampled first) or the sample folder cfg.samples; returns the results dict
    that is also written to <run dir>/results.json. A metric asked for by name (not `all`) that does not
    run, or any metric that fails with an error, makes the task fail after the results are written."""
    names = _names(cfg)
    try:
        metrics = select(names)
    except ValueError as err:
        raise TaskError(str(err)) from None
    with_masks = any(m.masks for m in metrics)
    # The papers' IS/FID/SceneFID/CAS use `measured` samples per layout; DS compares repeats 0 and 1, so
    # with DS asked for, two are sampled and the others still measure only the first `measured`.
    measured = repeats(cfg)
    device = task_device(cfg, "metrics.device")
    samples = OmegaConf.select(cfg, "samples", default=None)
    if samples:
        samples_dir = Path(samples)
    elif OmegaConf.select(cfg, "checkpoint", default=None):
        generator, record = load_checkpoint_generator(cfg, device)
        count = max([measured] + [m.min_repeats for m in metrics])
        samples_dir = sample_validation(cfg, generator, record, Path(cfg.metrics.samples_dir), count,
                                        save_mask_files=with_masks)
        del generator
    else:
        raise TaskError("task=evaluate needs checkpoint=PATH (sample, then measure) or samples=DIR (a manifest folder)")
    try:
        records = read_manifest(samples_dir)
    except (FileNotFoundError, ValueError) as err:
        raise TaskError(str(err)) from None
    size = tuple(read_image(records[0].file).shape[-2:])
    if size != (int(cfg.resolution),) * 2:
        raise TaskError(f"{records[0].file} is {size[1]}x{size[0]} px but resolution={cfg.resolution}: "
                        "evaluate at the resolution the samples were made at")
    info = read_info(samples_dir)
    dataset, data_name = validation_data(cfg, return_masks=with_masks)
    real = RealLayouts(dataset)
    missing = sorted({r.image_id for r in records} - set(real.index))
    if missing:
        raise TaskError(f"{samples_dir}: {len(missing)} image ids (e.g. {missing[0]}) are not in the {data_name} "
                        "validation split; evaluate with the data the samples were made from")
    inputs = EvalInputs(records=records, real=real, dataset=data_name, split="val", resolution=int(cfg.resolution),
                        num_classes=int(cfg.data.num_classes), settings=_settings(cfg), device=device,
                        cache_dir=cfg.metrics.cache_dir, progress=True, measured_repeats=measured)
    out = run_metrics(metrics, inputs)
    results: dict[str, Any] = dict(out.values)
    results["protocol"] = {
        **out.protocol,
        "samples": {"dir": str(samples_dir), "images": len(records), "layouts": len(inputs.real_ids),
                    "repeats": inputs.repeats, "measured_repeats": inputs.measured_repeats_found, "truncation": info.get("truncation"), "seed": info.get("seed"),
                    "checkpoint": info.get("checkpoint")},
        "data": {"name": data_name, "split": "val", "resolution": int(cfg.resolution)},
        "environment": {"torch": torch.__version__, "device": str(device), "python": platform.python_version()},
    }
    results["not_run"] = out.not_run
    results["errors"] = out.errors
    path = Path(cfg.paths.run_dir) / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(markdown_table(out))
    if (line := summary_line(out.values)) is not None:
        print(line)
    print(f"results: {path}")
    failed = {n: out.short[n] for n in out.not_run if names != ALL}
    failed.update({n: f"error, a bug: {why}" for n, why in out.errors.items()})
    if failed:
        raise TaskError("asked for but not run: " + "; ".join(f"{n} ({why})" for n, why in failed.items())
                        + f"; the other numbers are in {path}")
    return results
