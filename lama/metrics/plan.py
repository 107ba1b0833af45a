"""What an evaluation will compute and about how long it takes, said before it starts: the counts of every
stage of the selected metrics (images, crops, CAS steps) times a per-item rate. The rates were measured on
REFERENCE_CPU (benchmarks/evaluate_cost.py --rates) and are scaled by how fast this machine runs a short
probe (a CAS training step) against the reference; the sampling rate comes from one generator call. While
the evaluation runs, the second batch of each stage replaces its planned rate (lama.progress)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lama.progress import PlannedStage, format_rate, format_seconds

# Where the rates below were measured (benchmarks/README.md, "Where an evaluation's time goes").
REFERENCE_CPU = "AMD EPYC, 2 vCPUs, torch 2.14.1 on 2 threads, idle"
REFERENCE_PROBE_S = 0.854  # probe() there
# Seconds per item there (benchmarks/evaluate_cost.py --rates), at the default batch sizes (Inception 64,
# LPIPS 32, CAS 128).
RATES: dict[str, float] = {
    "sampling": 0.0138,  # per image, the demo generator; replaced by a timed call of the one sampled
    "png_file": 0.0007,  # per image: its PNG
    "mask_files": 0.0018,  # per image: the masks' .npz beside each sample (for mask_iou)
    "decode": 0.002,  # per real image: read and resize (64 px synthetic scenes)
    "inception": 0.169,  # per image or 224 px crop through Inception (resized to 299 px)
    "inception_load": 0.3,  # per evaluation
    "fid_distance": 3.83,  # per FID value: torch-fidelity's eigenvalues of a 2048 x 2048 matrix
    "lpips": 0.0015,  # per pair of 64 px images
    "crop": 0.00007,  # per 32 px CAS crop
    "cas_train/resnet18": 0.0296,  # per crop and epoch (a step of 128 crops: 128 x this)
    "cas_test/resnet18": 0.0078,  # per test crop
    "cas_train/resnet10": 0.0152,
    "cas_test/resnet10": 0.0041,
    "detector": 5.16,  # per image (torchvision Faster R-CNN at its 800 px input size)
    "mask_iou": 0.0026,  # per image
}
# CAS classifiers without a measured rate, by their training FLOPs at 32 px relative to ResNet-18.
ARCH_COST = {"resnet34": 2.0, "resnet50": 2.3}
OVERHEAD_S = 10.0  # imports, networks and data set built once per evaluation
PROBE_WORTH_S = 300.0  # probe the machine only when the reference estimate is longer than this


@dataclass(frozen=True)
class Counts:
    """What an evaluation measures: `layouts`, their non-padding `objects`, samples per layout (`repeats`,
    of which the first `measured_repeats` go into IS/FID/SceneFID/CAS) and whether they are sampled first."""

    layouts: int
    objects: int
    repeats: int
    measured_repeats: int
    sample: bool

    @property
    def images(self) -> int:
        """Generated images in the folder."""
        return self.layouts * self.repeats

    @property
    def measured(self) -> int:
        """Generated images that IS, FID, SceneFID and CAS measure."""
        return self.layouts * self.measured_repeats

    @property
    def fake_crops(self) -> int:
        """Object crops of the measured generated images (SceneFID, CAS training)."""
        return self.objects * self.measured_repeats


def _cas_rate(kind: str, arch: str, rates: dict[str, float]) -> float:
    key = f"{kind}/{arch}"
    return rates[key] if key in rates else rates[f"{kind}/resnet18"] * ARCH_COST.get(arch, 1.0)


def plan_stages(names: list[str], counts: Counts, settings: dict[str, Any], rates: dict[str, float],
                cached: dict[str, bool]) -> list[PlannedStage]:
    """The stages of an evaluation running the metrics `names` (those expected to run), in run order.
    cached[name]: the real statistics of fid / scene_fid are on disk, so their real pass is skipped."""
    stages: list[PlannedStage] = []

    def add(name: str, items: int, unit: str, kernel: str, rate: float) -> None:
        if items > 0:
            stages.append(PlannedStage(name, int(items), unit, kernel, rate))

    if counts.sample:
        add("sampling", counts.images, "img", "sampling",
            rates["sampling"] + rates["png_file"] + (rates["mask_files"] if "mask_iou" in names else 0.0))
    wants_real = ("fid" in names and not cached.get("fid")) or ("scene_fid" in names and not cached.get("scene_fid"))
    add("real/decode", counts.layouts if wants_real or "cas" in names else 0, "img", "decode", rates["decode"])
    if {"is", "fid", "scene_fid"} & set(names):
        add("inception/load", 1, "load", "inception_load", rates["inception_load"])
    if {"is", "fid"} & set(names):
        add("is_fid/fake", counts.measured, "img", "inception", rates["inception"])
    if "fid" in names:
        add("fid/real", 0 if cached.get("fid") else counts.layouts, "img", "inception", rates["inception"])
        add("fid/distance", 1, "fid", "fid_distance", rates["fid_distance"])
    if "scene_fid" in names:
        add("scene_fid/fake", counts.fake_crops, "crop", "inception", rates["inception"])
        add("scene_fid/real", 0 if cached.get("scene_fid") else counts.objects, "crop", "inception", rates["inception"])
        add("scene_fid/distance", 1, "fid", "fid_distance", rates["fid_distance"])
    if "ds" in names and counts.repeats >= 2:
        add("ds", counts.layouts, "pair", "lpips", rates["lpips"])
    if "cas" in names:
        cas = settings["cas"]
        batch, arch = int(cas["batch_size"]), str(cas["arch"])
        add("cas/crops", counts.fake_crops + counts.objects, "crop", "crop", rates["crop"])
        steps = int(cas["epochs"]) * math.ceil(counts.fake_crops / batch)
        add("cas/train", steps, "step", f"cas_train/{arch}",
            _cas_rate("cas_train", arch, rates) * min(batch, counts.fake_crops))
        add("cas/test", counts.objects, "crop", f"cas_test/{arch}", _cas_rate("cas_test", arch, rates))
    if "yolo" in names and not (settings.get("detection") or {}).get("detections_file"):
        add("yolo", counts.layouts, "img", "detector", rates["detector"])
    if "mask_iou" in names:
        add("mask_iou", counts.images, "img", "mask_iou", rates["mask_iou"])
    return stages


def total_seconds(stages: list[PlannedStage], overhead: float = OVERHEAD_S) -> float:
    """The planned seconds of an evaluation: its stages plus the fixed overhead."""
    return overhead + sum(s.seconds for s in stages)


def probe(device: str | torch.device = "cpu") -> float:
    """Seconds of the probe: one ResNet-18 (CIFAR stem) training step on 32 crops of 32 px, after one
    warm-up step; the machine's speed against REFERENCE_PROBE_S (about 2 s of work)."""
    from lama.metrics.cas import cifar_resnet

    gen = torch.Generator().manual_seed(0)
    model = cifar_resnet(10, "resnet18").to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(32, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (32,), generator=gen).to(device)
    seconds = 0.0
    for step in range(2):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start if step else 0.0
    return seconds


def scaled_rates(factor: float, sampling: float | None = None) -> dict[str, float]:
    """RATES times `factor` (this machine's probe / the reference's), the sampling rate as measured."""
    rates = {k: v * factor for k, v in RATES.items()}
    if sampling is not None:
        rates["sampling"] = sampling
    return rates


def time_generator(generator: torch.nn.Module, labels: torch.Tensor, boxes: torch.Tensor) -> float:
    """Seconds per image of a generator call on the first (at most 2) layouts (latents of zeros), after a
    warm-up call on one."""
    from lama.layout import Layout
    from lama.sampling.generate import generate

    z_dim = int(generator.z_dim)
    seconds = 0.0
    for n in (1, min(2, labels.shape[0])):
        layout = Layout(labels[:n], boxes[:n].float())
        start = time.perf_counter()
        with torch.random.fork_rng():  # G's noise injection draws from the global generator
            generate(generator, layout, torch.zeros(n, labels.shape[1], z_dim), torch.zeros(n, z_dim))
        if next(generator.parameters()).is_cuda:
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / n
    return seconds


def plan_table(counts: Counts, stages: list[PlannedStage], not_run: dict[str, str], basis: str) -> str:
    """The lines printed before an evaluation: counts, each stage with its estimate, the metrics that
    will not run, the total and what the estimate rests on."""
    lines = [f"evaluation plan: {counts.layouts} layouts, {counts.images} generated images "
             f"({counts.repeats} per layout{', sampled now' if counts.sample else ''}; IS/FID/SceneFID/CAS measure "
             f"{counts.measured}), {counts.objects} real objects -> {counts.fake_crops} generated crops",
             f"  {'stage':<20}{'items':>8}  {'unit':<6}{'rate':>13}{'estimate':>11}"]
    for s in stages:
        lines.append(f"  {s.name:<20}{s.items:>8}  {s.unit:<6}{format_rate(s.seconds_per_item, s.unit):>13}"
                     f"{format_seconds(s.seconds):>11}")
    for name, why in not_run.items():
        lines.append(f"  {name:<20}not run: {why}")
    lines.append(f"  total about {format_seconds(total_seconds(stages))} ({basis}); each bar shows its ETA, and "
                 "each stage's second batch re-estimates the rest")
    return "\n".join(lines)


def weights_missing(name: str, settings: dict[str, Any]) -> str | None:
    """Why metric `name` will likely not run for lack of weights (no local file and none in the torch hub
    cache: a download will still be tried), else None."""
    from lama.metrics.weights import hub_file

    def absent(path: Any, url: str) -> bool:
        return not (Path(path).expanduser().is_file() if path else hub_file(url).is_file())

    if name in ("is", "fid", "scene_fid"):
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

        if absent(settings.get("inception_weights"), URL_INCEPTION_V3):
            return "needs Inception weights (metrics.inception_weights)"
    elif name == "ds":
        from lama.metrics.diversity import ALEXNET_URL

        if absent(settings.get("lpips_weights"), ALEXNET_URL):
            return "needs AlexNet weights (metrics.lpips_weights)"
    elif name == "yolo":
        det = settings.get("detection") or {}
        if not det.get("detections_file"):
            import torchvision

            weights = torchvision.models.get_model_weights(det.get("model", "fasterrcnn_resnet50_fpn_v2"))
            url = (weights.COCO_V1 if hasattr(weights, "COCO_V1") else weights.DEFAULT).url
            if absent(det.get("weights"), url):
                return "needs detector weights (metrics.detection.weights)"
    return None


def expected_not_run(metrics: list[Any], counts: Counts, dataset: str, masks: bool,
                     settings: dict[str, Any]) -> dict[str, str]:
    """name -> why, for the metrics (registry entries) that will not run by what is known before the start:
    their data set, samples per layout, masks and weights (a missing download is still tried later)."""
    out = {}
    for m in metrics:
        if m.datasets is not None and dataset not in m.datasets:
            out[m.name] = f"needs {' or '.join(m.datasets)} data"
        elif counts.repeats < m.min_repeats:
            out[m.name] = f"needs metrics.repeats >= {m.min_repeats}"
        elif m.masks and not masks:
            out[m.name] = "needs sampled masks"
        elif (why := weights_missing(m.name, settings)) is not None:
            out[m.name] = why
    return out
