"""`python run.py task=evaluate checkpoint=PATH` (sample, then measure) or `samples=DIR` (images made
elsewhere, with a manifest.jsonl): the metrics of cfg.metrics.names -> results.json + a Markdown table."""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lama.metrics.images import read_image
from lama.metrics.manifest import read_info, read_manifest
from lama.metrics.real import RealLayouts
from lama.metrics.suite import EvalInputs, check_names, markdown_table, run_metrics
from lama.tasks import TaskError, task_device

log = logging.getLogger(__name__)


def _settings(cfg: DictConfig) -> dict[str, Any]:
    settings = OmegaConf.to_container(cfg.metrics, resolve=True)
    settings["seed"] = int(cfg.seed)
    return settings


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate cfg.checkpoint (sampled first) or the sample folder cfg.samples; returns the results dict
    that is also written to <run dir>/results.json."""
    from lama.tasks.sample import load_checkpoint_generator, sample_validation, validation_data

    try:
        names = check_names(list(cfg.metrics.names))
    except ValueError as err:
        raise TaskError(str(err)) from None
    device = task_device(cfg, "metrics.device")
    samples = OmegaConf.select(cfg, "samples", default=None)
    if samples:
        samples_dir = Path(samples)
    elif OmegaConf.select(cfg, "checkpoint", default=None):
        generator, record = load_checkpoint_generator(cfg, device)
        samples_dir = sample_validation(cfg, generator, record, Path(cfg.metrics.samples_dir),
                                        save_mask_files="mask_iou" in names)
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
    dataset, data_name = validation_data(cfg, return_masks="mask_iou" in names)
    real = RealLayouts(dataset)
    missing = sorted({r.image_id for r in records} - set(real.index))
    if missing:
        raise TaskError(f"{samples_dir}: {len(missing)} image ids (e.g. {missing[0]}) are not in the {data_name} "
                        "validation split; evaluate with the data the samples were made from")
    inputs = EvalInputs(records=records, real=real, dataset=data_name, split="val", resolution=int(cfg.resolution),
                        num_classes=int(cfg.data.num_classes), settings=_settings(cfg), device=device,
                        cache_dir=cfg.metrics.cache_dir, progress=True)
    values, protocol, failed = run_metrics(names, inputs)
    results: dict[str, Any] = dict(values)
    results["protocol"] = {
        **protocol,
        "samples": {"dir": str(samples_dir), "images": len(records), "layouts": len(inputs.real_ids),
                    "repeats": info.get("repeats"), "truncation": info.get("truncation"), "seed": info.get("seed"),
                    "checkpoint": info.get("checkpoint")},
        "data": {"name": data_name, "split": "val", "resolution": int(cfg.resolution)},
        "environment": {"torch": torch.__version__, "device": str(device), "python": platform.python_version()},
    }
    results["failed"] = failed
    out = Path(cfg.paths.run_dir) / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(markdown_table(values, failed))
    print(f"results: {out}")
    return results
