"""Time LamaGAN's exact training step with the fused spectral norm (lama.models.spectral) against torch's own
parametrization, the same networks otherwise, alternating round by round.

Usage: python benchmarks/spectral_norm.py [--resolution 64] [--batch 4] [--ch 64] [--rounds 6] [--threads 0]
Prints one line per round and a JSON summary (median seconds per iteration, torch / fused).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics

import torch
from torch.nn.utils.parametrizations import _SpectralNorm

from lama.device import cpu_info
from lama.models.spectral import FusedSpectralNorm
from lama.perf.step import random_batch, train_steps
from lama.training import LamaGAN


def with_torch_spectral_norm(module: LamaGAN) -> LamaGAN:
    """A copy of the module whose spectral norms run torch's forward and autograd backward (same buffers)."""
    twin = copy.deepcopy(module)
    swapped = 0
    for m in twin.modules():
        if type(m) is FusedSpectralNorm:
            m.__class__ = _SpectralNorm  # the subclass adds no state, only its forward
            swapped += 1
    if swapped == 0:
        raise SystemExit("no FusedSpectralNorm in the model: nothing to compare")
    return twin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64, choices=(64, 128, 256))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--ch", type=int, default=64)
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    torch.manual_seed(0)
    fused = LamaGAN(resolution=args.resolution, num_classes=184, ch=args.ch, d_only_iters=-1, fast={"enabled": False})
    paths = {"fused": fused, "torch": with_torch_spectral_norm(fused)}
    batch = random_batch(args.batch, args.resolution, args.objects, 184)
    for module in paths.values():
        train_steps(module, batch, 1, device)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(args.rounds):
        for name, module in paths.items():
            seconds[name] += train_steps(module, batch, 1, device)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in seconds.items()), flush=True)
    median = {name: statistics.median(s) for name, s in seconds.items()}
    print(json.dumps({
        "seconds_per_iter": seconds, "median_s": median, "torch_over_fused": median["torch"] / median["fused"],
        "threads": torch.get_num_threads(), "cpu": cpu_info("model name"), "resolution": args.resolution,
        "batch": args.batch, "ch": args.ch,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
