"""Time the fused ISLA op against the reference (forward, forward+backward) at the LAMA generator's shapes.

Usage: python benchmarks/isla_op.py [--batch 4] [--ch 64] [--objects 8] [--resolution 64] [--device cpu]
Prints one line per norm-layer shape with the best-of-N milliseconds (robust on a shared, noisy machine) and the ext/ref speed-up.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from lama.ops.isla import ext_available, isla_modulate_ext, isla_modulate_ref


def _best_ms(fn, repeats: int, device: torch.device) -> float:
    """Best (minimum) wall time of fn() in milliseconds after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return min(times)


def generator_shapes(resolution: int, ch: int) -> list[tuple[int, int]]:
    """(channels, size) of every ISLA norm input in the generator (two norms per block)."""
    mults = {64: [16, 8, 4, 2, 1], 128: [8, 8, 4, 4, 2, 1], 256: [16, 8, 8, 4, 4, 2, 1]}[resolution]
    shapes, size = [], 4
    for cin, cout in zip(mults[:-1], mults[1:]):
        shapes += [(cin * ch, size), (cout * ch, size * 2)]
        size *= 2
    return shapes


def main() -> None:
    """Parse arguments, time both implementations per shape, print a table and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--ch", type=int, default=64)
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=64, choices=(64, 128, 256))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if not ext_available():
        raise SystemExit("the fused op could not be built; see the warning above")
    totals = {"ref_fwd": 0.0, "ext_fwd": 0.0, "ref_fwdbwd": 0.0, "ext_fwdbwd": 0.0}
    for c, s in generator_shapes(args.resolution, args.ch):
        b, o = args.batch, args.objects
        x = torch.randn(b, c, s, s, device=device, requires_grad=True)
        m = torch.rand(b, o, s, s, device=device, requires_grad=True)
        g = torch.randn(b, o, c, device=device, requires_grad=True)
        be = torch.randn(b, o, c, device=device, requires_grad=True)
        a = torch.tensor(0.5, device=device, requires_grad=True)
        row = {}
        inputs = (x, m, g, be, a)
        for name, fn in (("ref", isla_modulate_ref), ("ext", isla_modulate_ext)):
            with torch.no_grad():
                row[f"{name}_fwd"] = _best_ms(lambda fn=fn, t=inputs: fn(*t), args.repeats, device)
            row[f"{name}_fwdbwd"] = _best_ms(
                lambda fn=fn, t=inputs: fn(*t).sum().backward(), args.repeats, device
            )
        for k, v in row.items():
            totals[k] += v
        print(
            f"C={c:5d} {s:4d}x{s:<4d} fwd ref {row['ref_fwd']:7.2f} ms ext {row['ext_fwd']:7.2f} ms | "
            f"fwd+bwd ref {row['ref_fwdbwd']:7.2f} ms ext {row['ext_fwdbwd']:7.2f} ms"
        )
    totals["speedup_fwd"] = totals["ref_fwd"] / totals["ext_fwd"]
    totals["speedup_fwdbwd"] = totals["ref_fwdbwd"] / totals["ext_fwdbwd"]
    print(json.dumps({k: round(v, 3) for k, v in totals.items()}))


if __name__ == "__main__":
    main()
