"""Runs the selected metrics of the registry over one sample set. A metric that cannot run (CannotRun:
missing weights, masks, repeats, data) is reported with its reason; any other exception inside a metric is
a bug: its traceback is logged and it is reported as an error, never as a skip."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lama.metrics.errors import CannotRun
from lama.metrics.inputs import EvalInputs
from lama.metrics.registry import Metric
from lama.metrics.weights import WeightsUnavailable

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What an evaluation produced: the numbers, each metric's protocol, and each metric that did not run:
    `not_run` (name -> full reason), `short` (name -> the table's reason) and `errors` (name -> the bug)."""

    values: dict[str, float] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)
    short: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)


def _run_one(metric: Metric, inp: EvalInputs, out: Outcome) -> None:
    missing = metric.missing_input(inp)
    try:
        if missing is not None:
            raise CannotRun(*missing)
        values, protocol = metric.runner(inp)
        extra = sorted(set(values) - set(metric.keys))
        if extra:
            raise RuntimeError(f"{metric.name} reported keys {extra} that its registry entry does not list")
    except WeightsUnavailable as err:
        out.not_run[metric.name], out.short[metric.name] = str(err), metric.weights_reason()
        log.warning("%s not run: %s", metric.name, err)
    except CannotRun as err:
        out.not_run[metric.name], out.short[metric.name] = str(err), err.short
        log.warning("%s not run: %s", metric.name, err)
    except Exception as err:  # noqa: BLE001 - a bug in one metric must not lose the others' numbers
        out.errors[metric.name] = f"{type(err).__name__}: {err}"
        log.exception("%s failed with an error (a bug, not a missing input)", metric.name)
    else:
        out.values.update(values)
        out.protocol[metric.name] = protocol
        out.ran.append(metric.name)


def run_metrics(metrics: Sequence[Metric], inp: EvalInputs) -> Outcome:
    """Run each metric on `inp` (its `requested` set to their names); returns the Outcome."""
    inp.requested = tuple(m.name for m in metrics)
    out = Outcome()
    for metric in metrics:
        log.info("metric %s", metric.name)
        _run_one(metric, inp, out)
    return out


def markdown_table(out: Outcome) -> str:
    """The results as a Markdown table (fractions as they are; a metric that did not run with its short
    reason) and one summary line."""
    rows = ["| metric | value |", "|---|---|"]
    rows += [f"| {k} | {v:.4f} |" for k, v in out.values.items()]
    rows += [f"| {k} | not run: {why} |" for k, why in out.short.items()]
    rows += [f"| {k} | error: {why} |" for k, why in out.errors.items()]
    total = len(out.ran) + len(out.not_run) + len(out.errors)
    summary = f"{len(out.ran)} of {total} metrics ran"
    if out.not_run:
        summary += f"; not run: {', '.join(out.not_run)} (reasons in results.json and above)"
    if out.errors:
        summary += f"; failed with an error: {', '.join(out.errors)} (traceback above)"
    return "\n".join(rows + ["", summary])
