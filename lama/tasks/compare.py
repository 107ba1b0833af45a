"""`task=compare sweep=DIR`: one table and one figure for a sweep. DIR is a Hydra multirun directory (or any
folder of run directories), or a list of run directories; each run's overrides (.hydra/overrides.yaml),
results.json and logged curves (csv/metrics.csv) -> DIR/comparison.md and DIR/comparison.png."""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, ListConfig

from lama.tasks import TaskError, require

IGNORED_PREFIXES = ("hydra.", "paths.")  # where a run was written is not what it measured
AXIS_KEYS = ("epoch", "step", "train/iteration")  # logged columns that are the x axis, not metrics


@dataclass
class Job:
    """One run directory: its parameter overrides, final metrics and logged curves {metric: [(iteration, value)]}."""

    path: Path
    overrides: dict[str, str]
    results: dict[str, float]
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """results.json's numbers, and the last logged value of every val/ curve (as 'val/KEY (last)')."""
        last = {f"{k} (last)": pts[-1][1] for k, pts in self.curves.items() if k.startswith("val/") and pts}
        iters = [x for pts in self.curves.values() for x, _ in pts]
        return {**({"iterations": max(iters)} if iters else {}), **self.results, **last}


def _natural(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run directories (holding .hydra/overrides.yaml) among paths and their immediate subfolders."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise TaskError(f"sweep={p}: no such directory")
        found = [p] if (p / ".hydra" / "overrides.yaml").is_file() else sorted(
            (d for d in p.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()), key=_natural)
        if not found:
            raise TaskError(f"sweep={p}: no run directory (with .hydra/overrides.yaml) there or one level below")
        runs += found
    return runs


def read_overrides(run: Path) -> dict[str, str]:
    """The run's command-line overrides as {key: value}, leaving out hydra.* and paths.*."""
    path = run / ".hydra" / "overrides.yaml"
    try:
        items = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as err:
        raise TaskError(f"{path}: not YAML ({err.__class__.__name__})") from None
    out = {}
    for item in items:
        key, _, value = str(item).lstrip("+~").partition("=")
        if not key.startswith(IGNORED_PREFIXES):
            out[key] = value
    return out


def read_results(run: Path) -> dict[str, float]:
    """The top-level numbers of results.json ({} when the run has none)."""
    path = run / "results.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise TaskError(f"{path}: not JSON ({err.msg})") from None
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def read_curves(run: Path) -> dict[str, list[tuple[float, float]]]:
    """Every logged numeric column of the run's metrics.csv against train/iteration (the step where absent)."""
    files = sorted(run.rglob("metrics.csv"))
    curves: dict[str, list[tuple[float, float]]] = {}
    for row in (csv.DictReader(files[0].open()) if files else []):
        x = _number(row.get("train/iteration"))
        x = _number(row.get("step")) if x is None else x
        for key, value in row.items():
            y = _number(value)
            if key not in AXIS_KEYS and y is not None and x is not None:
                curves.setdefault(key, []).append((x, y))
    return {k: sorted(v) for k, v in curves.items()}


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def differing(jobs: Sequence[Job]) -> list[str]:
    """Override keys whose value is not the same in every job (a missing key counts as a value)."""
    keys = sorted({k for j in jobs for k in j.overrides})
    return [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1]


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def job_table(jobs: Sequence[Job], keys: list[str], metrics: list[str]) -> str:
    """One row per job: name, the differing overrides, every metric."""
    rows = [[j.path.name, *(j.overrides.get(k, "") for k in keys), *(_fmt(j.metrics().get(m)) for m in metrics)]
            for j in jobs]
    return _table(["job", *keys, *metrics], rows)


def seed_table(jobs: Sequence[Job], keys: list[str], metrics: list[str]) -> str:
    """One row per setting of the differing overrides other than seed: mean ± std (sample, n-1) over seeds."""
    groups: dict[tuple, list[Job]] = {}
    for j in jobs:
        groups.setdefault(tuple(j.overrides.get(k, "") for k in keys), []).append(j)
    rows = []
    for setting, members in groups.items():
        cells = []
        for m in metrics:
            vals = [j.metrics()[m] for j in members if m in j.metrics()]
            mean = sum(vals) / len(vals) if vals else None
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
            cells.append("" if mean is None else _fmt(mean) + ("" if std is None else f" ± {_fmt(std)}"))
        rows.append([*setting, str(len(members)), *cells])
    return _table([*keys, "seeds", *metrics], rows)


def plot_curves(jobs: Sequence[Job], keys: list[str], path: Path) -> None:
    """Each logged metric against iterations, one line per job (labelled by its differing overrides)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for j in jobs for k in j.curves}, key=lambda k: (not k.startswith("val/"), k))
    cols = min(4, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for j in jobs:
            pts = j.curves.get(name)
            if pts:
                label = " ".join(f"{k}={j.overrides.get(k, '')}" for k in keys) or j.path.name
                ax.plot([x for x, _ in pts], [y for _, y in pts], label=label, marker="." if len(pts) < 30 else None)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if names:
        axes.flat[0].legend(fontsize=7)
    fig.supxlabel("iteration")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def compare(paths: Sequence[str | Path], out_dir: Path) -> str:
    """Write comparison.md and comparison.png for the runs under paths into out_dir; returns the Markdown."""
    jobs = [Job(r, read_overrides(r), read_results(r), read_curves(r)) for r in find_runs(paths)]
    keys = differing(jobs)
    metrics = list(dict.fromkeys(m for j in jobs for m in j.metrics()))
    parts = [f"# Comparison of {len(jobs)} runs", "", job_table(jobs, keys, metrics)]
    if "seed" in keys:
        parts += ["", "## Mean ± std over seeds", "", seed_table(jobs, [k for k in keys if k != "seed"], metrics)]
    parts += ["", "Runs: " + ", ".join(f"`{j.path}`" for j in jobs),
              "", "`X (last)`: the last logged value of curve X; the other metrics come from results.json.", ""]
    text = "\n".join(parts)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.md").write_text(text)
    plot_curves(jobs, keys, out_dir / "comparison.png")
    return text


def run(cfg: DictConfig) -> dict[str, str]:
    """task=compare: sweep=DIR (a multirun / folder of runs) or sweep=[RUN,...]; writes into DIR (or the runs'
    common parent) and prints the table."""
    sweep = require(cfg, "sweep", "(a multirun directory, or [run_dir,...])")
    paths = [str(p) for p in sweep] if isinstance(sweep, (list, ListConfig)) else [str(sweep)]
    out_dir = Path(paths[0]) if len(paths) == 1 else Path(os.path.commonpath([os.path.abspath(p) for p in paths]))
    text = compare(paths, out_dir)
    print(text)
    return {"comparison": str(out_dir / "comparison.md"), "figure": str(out_dir / "comparison.png")}
