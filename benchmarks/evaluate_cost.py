"""Where an evaluation's time goes, measured: `python run.py task=evaluate` with every metric on the
synthetic validation layouts, then its protocol/timing as a table (planned vs measured seconds per stage,
the CPU, torch threads and the load). The weights are random-init networks of the right architectures
saved to a temp dir (the timing is that of the real weights; the metric values mean nothing and are not
printed), the generator a 5-iteration demo one made on the spot unless --checkpoint names one.

    .venv/bin/python benchmarks/evaluate_cost.py [--layouts 100] [--checkpoint G.pt] [overrides ...]
    .venv/bin/python benchmarks/evaluate_cost.py --rates     # per-item rates of every kernel (minutes), as
                                                              # lama/metrics/plan.py's RATES and probe time

Not a test: it takes from minutes (--rates) to hours (100 layouts, 30 CAS epochs on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "metrics"))
from lama.device import cpu_info  # noqa: E402
from lama.progress import timing_table  # noqa: E402


def random_weights(folder: Path) -> tuple[Path, Path]:
    """A random-init torch-fidelity Inception and torchvision AlexNet, saved under folder."""
    import torchvision
    from conftest import random_inception_state_dict  # tests/metrics/conftest.py

    inception, alexnet = folder / "random_inception.pth", folder / "random_alexnet.pth"
    torch.save(random_inception_state_dict(), inception)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), alexnet)
    return inception, alexnet


def demo_generator(folder: Path) -> Path:
    """A generator of `experiment=demo` after 5 iterations (its quality does not change the timing)."""
    subprocess.run([sys.executable, "run.py", "experiment=demo", "trainer.max_iterations=5",
                    "evaluate_after_training=false", f"hydra.run.dir={folder}"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    return folder / "generator.pt"


def evaluate(layouts: int | None, checkpoint: Path | None, overrides: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="lama-evalcost-") as tmp:
        root = Path(tmp)
        inception, alexnet = random_weights(root)
        checkpoint = checkpoint or demo_generator(root / "generator")
        cmd = [sys.executable, "run.py", "task=evaluate", f"checkpoint={checkpoint}", "data=synthetic",
               f"metrics.num_layouts={'null' if layouts is None else layouts}",
               f"metrics.inception_weights={inception}", f"metrics.lpips_weights={alexnet}",
               f"metrics.cache_dir={root / 'fidelity'}", f"hydra.run.dir={root / 'run'}", *overrides]
        print("$", " ".join(cmd[1:]), flush=True)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=False)
        wall = time.perf_counter() - start
        results = json.loads((root / "run" / "results.json").read_text())
    timing = results["protocol"]["timing"]
    print(f"\n## task=evaluate, {results['protocol']['samples']['layouts']} layouts, "
          f"{results['protocol']['samples']['images']} images ({wall:.0f} s with the start of Python)\n")
    print(timing_table(timing))
    print(json.dumps({"wall_s": round(wall, 1), "total_s": timing["total_seconds"],
                      "planned_s": round(timing["plan"]["total_seconds"], 1), "cpu": cpu_info("model name"),
                      "torch_threads": timing["torch_threads"], "load_start": timing["load_average_start"],
                      "load_end": timing["load_average_end"]}))
    return 0


def _seconds(fn, repeats: int = 2) -> float:
    """Median wall seconds of fn() over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rates() -> int:
    """Seconds per item of every kernel in lama/metrics/plan.py, at the default batch sizes."""
    import numpy as np
    import torch.nn.functional as F
    import torchvision
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    from lama.checkpoint import load_generator
    from lama.device import single_threaded
    from lama.layout import Layout
    from lama.metrics.cas import _augment, cifar_resnet
    from lama.metrics.diversity import build_lpips
    from lama.metrics.images import crop_resize
    from lama.metrics.inception import Inception
    from lama.metrics.mask_iou import MaskIoU
    from lama.metrics.plan import probe
    from lama.sampling.folder import save_masks
    from lama.sampling.generate import generate
    from lama.sampling.images import write_image

    out: dict[str, float] = {}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lama-rates-") as tmp:
        root = Path(tmp)
        inception_path, alexnet_path = random_weights(root)
        generator, _ = load_generator(demo_generator(root / "generator"))
        gen = torch.Generator().manual_seed(0)
        labels = torch.randint(1, 180, (32, 8), generator=gen)
        boxes = torch.rand(32, 8, 4, generator=gen) * 0.5
        z_dim = int(generator.z_dim)
        out["sampling"] = _seconds(lambda: generate(generator, Layout(labels, boxes), torch.randn(32, 8, z_dim),
                                                    torch.randn(32, z_dim), return_masks=True)) / 32
        sample = generate(generator, Layout(labels[:1], boxes[:1]), torch.randn(1, 8, z_dim), torch.randn(1, z_dim),
                          return_masks=True)
        out["png_file"] = _seconds(lambda: write_image(root / "x.png", sample[0][0]))
        out["mask_files"] = _seconds(lambda: save_masks(root / "x.npz", labels[0], sample[1][0], sample[2][0]))
        start = time.perf_counter()
        net = Inception(inception_path)
        out["inception_load"] = time.perf_counter() - start
        images = torch.randint(0, 256, (64, 3, 64, 64), dtype=torch.uint8, generator=gen)
        with torch.no_grad():
            out["inception"] = _seconds(lambda: net.net(images), repeats=1) / 64
        a = np.random.default_rng(0).standard_normal((4096, 2048)).astype(np.float32)
        stats = {"mu": a.mean(0), "sigma": np.cov(a, rowvar=False)}
        out["fid_distance"] = _seconds(lambda: fid_statistics_to_metric(stats, stats, False), repeats=1)
        lpips = build_lpips(alexnet_path)
        x = torch.rand(32, 3, 64, 64, generator=gen) * 2 - 1
        with torch.no_grad():
            out["lpips"] = _seconds(lambda: lpips(x, x.flip(0))) / 32
        image = images[0]
        with single_threaded():
            out["crop"] = _seconds(lambda: [crop_resize(image, [0.1, 0.2, 0.3, 0.4], 32) for _ in range(200)]) / 200
        for arch in ("resnet18", "resnet10"):
            model = cifar_resnet(184, arch)
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
            xb = torch.rand(128, 3, 32, 32, generator=gen) * 2 - 1
            yb = torch.randint(0, 184, (128,), generator=gen)

            def step(model=model, opt=opt, xb=xb, yb=yb):
                loss = F.cross_entropy(model(_augment(xb, gen)), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()

            out[f"cas_train/{arch}"] = _seconds(step) / 128
            model.eval()
            with torch.no_grad():
                out[f"cas_test/{arch}"] = _seconds(lambda model=model, xb=xb: model(xb)) / 128
        meter = MaskIoU()
        masks = torch.rand(1, 8, 64, 64, generator=gen)
        lab = torch.randint(1, 180, (1, 8), generator=gen)
        out["mask_iou"] = _seconds(lambda: meter.update(masks, masks, (masks > 0.5).float(), lab, boxes[:1]))
        detector = torchvision.models.detection.fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None,
                                                                           num_classes=91).eval()
        with torch.no_grad():
            out["detector"] = _seconds(lambda: detector([images[0].float() / 255, images[1].float() / 255]),
                                       repeats=1) / 2
        probes = [probe() for _ in range(3)]
    print(json.dumps({"rates_s_per_item": {k: float(f"{v:.3g}") for k, v in out.items()},
                      "probe_s": round(statistics.median(probes), 3), "probes_s": [round(p, 3) for p in probes],
                      "cpu": cpu_info("model name"), "cpu_count": os.cpu_count(),
                      "torch_threads": torch.get_num_threads(), "load_start": load_start,
                      "load_end": os.getloadavg()[0]}, indent=1))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", type=int, default=100, help="validation layouts (0 = all)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a generator.pt (default: a demo one)")
    parser.add_argument("--rates", action="store_true", help="only the per-item rate of every kernel")
    args, rest = parser.parse_known_args()
    if args.rates:
        sys.exit(rates())
    sys.exit(evaluate(args.layouts or None, args.checkpoint, rest))
