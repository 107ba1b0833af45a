"""`python run.py task=evaluate checkpoint=PATH` (sample, then measure) or `samples=DIR` (images made
elsewhere, with a manifest.jsonl): the metrics of cfg.metrics.names -> results.json + a Markdown table."""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from lama.metrics.inputs import EvalInputs
from lama.metrics.mask_iou import summary_line
from lama.metrics.plan import (
    PROBE_WORTH_S,
    REFERENCE_CPU,
    REFERENCE_PROBE_S,
    Counts,
    expected_not_run,
    plan_stages,
    plan_table,
    probe,
    scaled_rates,
    time_generator,
    total_seconds,
)
from lama.metrics.real import RealLayouts
from lama.metrics.registry import ALL, select
from lama.metrics.suite import markdown_table, run_metrics
from lama.progress import StageClock, timing_table
from lama.sampling.folder import read_info, read_manifest
from lama.sampling.images import read_image
from lama.sampling.validation import dataset_layouts
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


def _real_objects(dataset: Any, positions: Any) -> int:
    """Non-padding objects of the layouts at `positions` of a layout dataset."""
    return sum(int((torch.as_tensor(dataset.layout(i)[0]) != 0).sum()) for i in positions)


def _plan(cfg: DictConfig, metrics: list, counts: Counts, data_name: str, masks: bool, device: torch.device,
          sampling_rate: float | None) -> tuple[list, dict[str, Any]]:
    """Print what the evaluation computes and about how long it takes (lama.metrics.plan); returns the
    planned stages and what results.json keeps of the plan."""
    settings = _settings(cfg)
    not_run = expected_not_run(metrics, counts, data_name, masks, settings)
    names = [m.name for m in metrics if m.name not in not_run]
    cached = _cached_stats(cfg, counts, data_name) if {"fid", "scene_fid"} & set(names) else {}
    factor, basis = 1.0, f"per-item rates of {REFERENCE_CPU}"
    if total_seconds(plan_stages(names, counts, settings, scaled_rates(1.0, sampling_rate), cached)) > PROBE_WORTH_S:
        factor = probe(device) / REFERENCE_PROBE_S
        basis += f", x{factor:.2f} by a probe of this machine"
    stages = plan_stages(names, counts, settings, scaled_rates(factor, sampling_rate), cached)
    print(plan_table(counts, stages, not_run, basis), flush=True)
    record = {"basis": basis, "probe_factor": factor, "expected_not_run": not_run, "total_seconds": total_seconds(stages),
              "stages": {s.name: {"items": s.items, "unit": s.unit, "seconds": round(s.seconds, 2)} for s in stages}}
    return stages, record


def _cached_stats(cfg: DictConfig, counts: Counts, data_name: str) -> dict[str, bool]:
    """Whether the real statistics of FID and SceneFID are cached (their real pass is then skipped)."""
    from lama.metrics.fidelity import real_stats_cache_name
    from lama.metrics.inception import stats_file
    from lama.metrics.scene_fid import CROP_SIZE

    weights, res = cfg.metrics.inception_weights, int(cfg.resolution)
    if weights is not None and not Path(weights).is_file():
        return {}
    fid = real_stats_cache_name(data_name, "val", res, counts.layouts, weights)
    scene = real_stats_cache_name(data_name, "val", res, counts.layouts, weights,
                                  kind=f"objects{counts.objects}-crop{CROP_SIZE}bicubic")
    return {"fid": stats_file(cfg.metrics.cache_dir, fid).is_file(),
            "scene_fid": stats_file(cfg.metrics.cache_dir, scene).is_file()}


def _read_samples(samples_dir: Path) -> list:
    try:
        return read_manifest(samples_dir)
    except (FileNotFoundError, ValueError) as err:
        raise TaskError(str(err)) from None


def _timing(clock: StageClock, plan: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """protocol/timing: the plan, each stage's measured time, the machine and its load."""
    from lama.device import cpu_info

    return {**clock.summary(), "plan": plan, "cpu": cpu_info("model name"), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": str(device)}


def _measure(cfg: DictConfig, records: list, samples_dir: Path, real: RealLayouts, data_name: str, measured: int,
             device: torch.device, metrics: list) -> tuple[Any, EvalInputs]:
    """Check the samples against the data and run the metrics on them."""
    size = tuple(read_image(records[0].file).shape[-2:])
    if size != (int(cfg.resolution),) * 2:
        raise TaskError(f"{records[0].file} is {size[1]}x{size[0]} px but resolution={cfg.resolution}: "
                        "evaluate at the resolution the samples were made at")
    missing = sorted({r.image_id for r in records} - set(real.index))
    if missing:
        raise TaskError(f"{samples_dir}: {len(missing)} image ids (e.g. {missing[0]}) are not in the {data_name} "
                        "validation split; evaluate with the data the samples were made from")
    inputs = EvalInputs(records=records, real=real, dataset=data_name, split="val", resolution=int(cfg.resolution),
                        num_classes=int(cfg.data.num_classes), settings=_settings(cfg), device=device,
                        cache_dir=cfg.metrics.cache_dir, progress=True, measured_repeats=measured)
    return run_metrics(metrics, inputs), inputs


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
    clock = StageClock()
    samples = OmegaConf.select(cfg, "samples", default=None)
    generator = None
    if samples:
        samples_dir = Path(samples)
        records = _read_samples(samples_dir)
    elif OmegaConf.select(cfg, "checkpoint", default=None):
        generator, record = load_checkpoint_generator(cfg, device)
        count = max([measured] + [m.min_repeats for m in metrics])
        samples_dir = Path(cfg.metrics.samples_dir)
    else:
        raise TaskError("task=evaluate needs checkpoint=PATH (sample, then measure) or samples=DIR (a manifest folder)")
    dataset, data_name = validation_data(cfg, return_masks=with_masks)
    real = RealLayouts(dataset)
    if generator is not None:
        n = dataset.num_images if cfg.metrics.num_layouts is None else min(int(cfg.metrics.num_layouts), dataset.num_images)
        counts = Counts(n, _real_objects(dataset, range(n)), count, measured, sample=True)
        _, labels, boxes = dataset_layouts(dataset, min(n, 2))
        masks, rate = with_masks, time_generator(generator, labels, boxes)
    else:
        ids = list(dict.fromkeys(r.image_id for r in records if r.image_id in real.index))
        reps = {r.repeat for r in records}
        counts = Counts(len(ids), _real_objects(dataset, [real.index[i] for i in ids]), len(reps),
                        len({r for r in reps if r < measured}), sample=False)
        masks, rate = all(r.masks is not None for r in records), None
    clock.plan, plan = _plan(cfg, metrics, counts, data_name, masks, device, rate)
    with clock.active():
        if generator is not None:
            sample_validation(cfg, generator, record, samples_dir, count, save_mask_files=with_masks,
                              data=(dataset, data_name))
            del generator
            records = _read_samples(samples_dir)
        out, inputs = _measure(cfg, records, samples_dir, real, data_name, measured, device, metrics)
    info = read_info(samples_dir)
    results: dict[str, Any] = dict(out.values)
    results["protocol"] = {
        **out.protocol,
        "samples": {"dir": str(samples_dir), "images": len(records), "layouts": len(inputs.real_ids),
                    "repeats": inputs.repeats, "measured_repeats": inputs.measured_repeats_found,
                    "truncation": info.get("truncation"), "seed": info.get("seed"), "checkpoint": info.get("checkpoint")},
        "data": {"name": data_name, "split": "val", "resolution": int(cfg.resolution)},
        "environment": {"torch": torch.__version__, "device": str(device), "python": platform.python_version()},
    }
    results["protocol"]["timing"] = _timing(clock, plan, device)
    results["not_run"] = out.not_run
    results["errors"] = out.errors
    path = Path(cfg.paths.run_dir) / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(markdown_table(out))
    print(timing_table(results["protocol"]["timing"]))
    if (line := summary_line(out.values)) is not None:
        print(line)
    print(f"results: {path}")
    failed = {n: out.short[n] for n in out.not_run if names != ALL}
    failed.update({n: f"error, a bug: {why}" for n, why in out.errors.items()})
    if failed:
        raise TaskError("asked for but not run: " + "; ".join(f"{n} ({why})" for n, why in failed.items())
                        + f"; the other numbers are in {path}")
    return results
