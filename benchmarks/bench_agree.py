"""Do two `make bench` runs agree? Reads the JSON record (the last `{` line) of each output file and compares
each path's median seconds per iteration, sampling and loader images/s.

Usage: make bench > a.txt; make bench > b.txt; python benchmarks/bench_agree.py a.txt b.txt [--tol 0.05]
Exit status 0 when both training paths' medians agree within --tol (a fraction of the smaller), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def record(path: Path) -> dict:
    """The bench record: the last line of `path` that starts with `{`."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"error: no JSON record in {path}")
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, type=Path)
    parser.add_argument("--tol", type=float, default=0.05)
    args = parser.parse_args()
    a, b = (record(p) for p in args.runs)
    ok = True
    for name in ("exact", "fast"):
        key = f"seconds_per_iter_{name}_median"
        if name == "fast" and a["fast_same_as_exact"] and b["fast_same_as_exact"]:
            print("fast: the exact path in both runs")
            continue
        if a.get(key) is None or b.get(key) is None:
            print(f"{name}: not timed in both runs")
            continue
        diff = abs(a[key] - b[key]) / min(a[key], b[key])
        agree = diff <= args.tol
        ok &= agree
        spreads = ", ".join(f"{r[f'seconds_per_iter_{name}_min']:.3f}-{r[f'seconds_per_iter_{name}_max']:.3f} over "
                            f"{len(r[f'seconds_per_iter_{name}'])}" for r in (a, b))  # fmt: skip
        print(f"{name}: median {a[key]:.3f} vs {b[key]:.3f} s/iter: {diff:.1%} apart "
              f"({'within' if agree else 'NOT within'} {args.tol:.0%}; min-max {spreads})")
    for key in ("sample_images_per_s", "achieved_flops_ratio_exact", "matmul_flops_ratio"):
        if a.get(key) is not None and b.get(key) is not None:
            print(f"{key}: {a[key]:.4g} vs {b[key]:.4g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
