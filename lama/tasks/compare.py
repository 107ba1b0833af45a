"""`task=compare sweep=DIR`: one table and one figure for a sweep. DIR is a Hydra multirun directory (or any
folder of run directories), or a list of run directories; each run's overrides (.hydra/overrides.yaml),
results.json and logged curves (csv/metrics.csv) -> DIR/comparison.md and DIR/comparison.png: the headline
mask-IoU curves (adapted, raw, floor; mean ± std over seeds per setting) when the runs logged them, with every
other series in DIR/comparison_all.png. For two settings with shared seeds the table leads with the paired
difference per seed and its 95% interval. Run folders copied elsewhere (with .hydra/overrides.yaml, results.json
and metrics.csv, as benchmarks/ablation/runs/ keeps them) read the same as a multirun."""

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
    rows = []
    for setting, members in settings(jobs, keys).items():
        cells = []
        for m in metrics:
            vals = [j.metrics()[m] for j in members if m in j.metrics()]
            mean = sum(vals) / len(vals) if vals else None
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
            cells.append("" if mean is None else _fmt(mean) + ("" if std is None else f" ± {_fmt(std)}"))
        rows.append([*setting, str(len(members)), *cells])
    return _table([*keys, "seeds", *metrics], rows)


HEADLINE = (("mask_iou", "all objects"), ("mask_iou_things", "things"),
            ("mask_iou_things_overlap", "things inside thing-box overlaps"), ("mask_iou_stuff", "stuff"))
SOURCE_STYLES = (("", "adapted", "-"), ("_raw", "raw", "--"))  # the floor (_box) is drawn once, dotted


def _short(value: str) -> str:
    """An override value for a legend: numbers to 3 significant digits, anything else as it is."""
    try:
        return f"{float(value):.3g}" if any(c.isdigit() for c in value) else value
    except ValueError:
        return value


def _label(jobs: Sequence[Job], keys: list[str]) -> str:
    """A setting's legend label: its differing overrides, without the `model.` prefix, values shortened."""
    return " ".join(f"{k.removeprefix('model.')}={_short(jobs[0].overrides.get(k, ''))}" for k in keys) or jobs[0].path.name


def settings(jobs: Sequence[Job], keys: list[str]) -> dict[tuple, list[Job]]:
    """Jobs grouped by their values of `keys` (the differing overrides other than seed), in first-seen order."""
    groups: dict[tuple, list[Job]] = {}
    for j in jobs:
        groups.setdefault(tuple(j.overrides.get(k, "") for k in keys), []).append(j)
    return groups


def seed_band(members: Sequence[Job], curve: str) -> tuple[list[float], list[float], list[float]] | None:
    """(iterations, mean, std) of `curve` over the jobs, at the iterations every job logged (None if none)."""
    series = [dict(j.curves.get(curve, [])) for j in members]
    common = sorted(set.intersection(*(set(s) for s in series))) if series else []
    if not common:
        return None
    means, stds = [], []
    for x in common:
        vals = [s[x] for s in series]
        mean = sum(vals) / len(vals)
        means.append(mean)
        stds.append(math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0)
    return common, means, stds


def plot_headline(jobs: Sequence[Job], keys: list[str], path: Path) -> bool:
    """The answer first: per headline mask-IoU metric, adapted (solid) and raw (dashed) masks over iterations,
    one colour per setting, mean with a ±std band over its seeds, and the filled-box floor (dotted).
    Returns False (writing nothing) when no run logged val/mask_iou curves."""
    if not any(f"val/{HEADLINE[0][0]}" in j.curves for j in jobs):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = settings(jobs, keys)
    sweep = len(groups) > 2  # many settings: legend by job name (comparison.md maps it to the overrides)
    fig, axes = plt.subplots(1, len(HEADLINE), figsize=(4.2 * len(HEADLINE), 3.4), squeeze=False)
    for ax, (metric, title) in zip(axes.flat, HEADLINE):
        for colour, members in enumerate(groups.values()):
            for suffix, source, style in SOURCE_STYLES:
                band = seed_band(members, f"val/{metric}{suffix}")
                if band is None:
                    continue
                xs, mean, std = band
                name = "job " + ",".join(j.path.name for j in members) if sweep else _label(members, keys)
                ax.plot(xs, mean, style, color=f"C{colour % 10}", label=f"{name} {source} (n={len(members)})")
                ax.fill_between(xs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                                color=f"C{colour % 10}", alpha=0.15 if suffix == "" else 0.07)
        floor = seed_band(jobs, f"val/{metric}_box")
        if floor is not None:
            ax.plot(floor[0], floor[1], ":", color="black", label="filled boxes (floor)")
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
    axes.flat[0].set_ylabel("mask IoU")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.supxlabel("iteration")
    fig.tight_layout()
    if not sweep:
        axes.flat[0].legend(fontsize=7)
    else:  # one legend under the panels, so the curves stay readable
        rows = math.ceil(len(labels) / 4)
        fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + 0.17 * rows)
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
        fig.subplots_adjust(bottom=(0.17 * rows + 0.5) / fig.get_figheight())
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_curves(jobs: Sequence[Job], keys: list[str], path: Path, skip: Sequence[str] = ()) -> None:
    """Each logged metric (except those in skip) against iterations, one line per job (labelled by its
    differing overrides)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for j in jobs for k in j.curves if k not in skip}, key=lambda k: (not k.startswith("val/"), k))
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


def headline_curves() -> list[str]:
    """The val/ curves the headline figure draws (adapted, raw and floor of each HEADLINE metric)."""
    return [f"val/{m}{s}" for m, _ in HEADLINE for s in ("", "_raw", "_box")]


def t_quantile_975(dof: int) -> float:
    """The 97.5% quantile of Student's t with `dof` degrees of freedom (two-sided 95% interval)."""
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def paired_table(jobs: Sequence[Job], key: str) -> str | None:
    """For a study of two settings of `key` with shared seeds: per headline metric (results.json), each
    arm's mean ± std, the floor, and the per-seed paired difference (first arm minus second, same seed)
    with its mean and 95% t-interval. None unless there are exactly two settings and >= 2 shared seeds."""
    values = sorted({j.overrides.get(key, "") for j in jobs}, key=lambda v: (v != "true", v))
    if len(values) != 2:
        return None
    arms = [{j.overrides.get("seed", ""): j.metrics() for j in jobs if j.overrides.get(key, "") == v} for v in values]
    seeds = sorted(set(arms[0]) & set(arms[1]), key=lambda s: (len(s), s))
    if len(seeds) < 2:
        return None
    a_name, b_name = (f"{key}={v}" for v in values)
    rows = []
    for metric in [m for m, _ in HEADLINE] + [f"{m}_raw" for m, _ in HEADLINE]:
        if not all(metric in arm[s] for arm in arms for s in seeds):
            continue
        diffs = [arms[0][s][metric] - arms[1][s][metric] for s in seeds]
        n = len(diffs)
        mean = sum(diffs) / n
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        half = t_quantile_975(n - 1) * sd / math.sqrt(n)
        floor = metric.removesuffix("_raw") + "_box"
        floors = [arm[s][floor] for arm in arms for s in seeds if floor in arm[s]]
        cells = [_mean_std([arm[s][metric] for s in seeds]) for arm in arms]
        rows.append([metric, str(n), *cells, _fmt(sum(floors) / len(floors)) if floors else "",
                     f"{mean:+.4f}", f"[{mean - half:+.4f}, {mean + half:+.4f}]",
                     " ".join(f"{d:+.3f}" for d in diffs)])
    if not rows:
        return None
    header = ["metric", "seeds", a_name, b_name, "floor (filled boxes)", f"paired diff ({a_name} minus {b_name})",
              "95% interval", "per seed (" + ", ".join(seeds) + ")"]
    return _table(header, rows)


def _mean_std(vals: Sequence[float]) -> str:
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return f"{mean:.4f} ± {std:.4f}"


def compare(paths: Sequence[str | Path], out_dir: Path) -> str:
    """Write comparison.md and comparison.png for the runs under paths into out_dir; returns the Markdown."""
    jobs = [Job(r, read_overrides(r), read_results(r), read_curves(r)) for r in find_runs(paths)]
    keys = differing(jobs)
    metrics = list(dict.fromkeys(m for j in jobs for m in j.metrics()))
    parts = [f"# Comparison of {len(jobs)} runs", "", job_table(jobs, keys, metrics)]
    others = [k for k in keys if k != "seed"]
    if "seed" in keys:
        paired = paired_table(jobs, others[0]) if len(others) == 1 else None
        if paired is not None:
            parts = [f"# Comparison of {len(jobs)} runs", "", "## Paired difference over seeds (results.json, mask IoU by "
                     "ownership)", "", paired, "", "## Every run", "", job_table(jobs, keys, metrics)]
        parts += ["", "## Mean ± std over seeds", "", seed_table(jobs, others, metrics)]
    parts += ["", "Runs: " + ", ".join(f"`{j.path}`" for j in jobs),
              "", "`X (last)`: the last logged value of curve X; the other metrics come from results.json.", ""]
    text = "\n".join(parts)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.md").write_text(text)
    others = [k for k in keys if k != "seed"]
    if plot_headline(jobs, others, out_dir / "comparison.png"):
        plot_curves(jobs, keys, out_dir / "comparison_all.png", skip=headline_curves())
    else:
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
