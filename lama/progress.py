"""Timed progress bars for an evaluation's stages. `stage_bar(name, total, unit)` is a tqdm bar (with its
ETA); while a StageClock is active (task=evaluate), each bar also records its stage's wall time and item
count, and the second batch of a stage (the first one carries warm-up) calibrates the clock's plan: the
measured seconds per item replace the planned ones for that stage and for the later stages that run the
same kernel, and one line says what the whole evaluation is now expected to take."""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

_ACTIVE: contextvars.ContextVar[StageClock | None] = contextvars.ContextVar("lama_stage_clock", default=None)


@dataclass
class PlannedStage:
    """One stage of an evaluation: `items` of `unit` (images, crops, steps) at `seconds_per_item`; stages
    with the same `kernel` (e.g. every Inception pass) share one calibration."""

    name: str
    items: int
    unit: str
    kernel: str
    seconds_per_item: float

    @property
    def seconds(self) -> float:
        """The planned seconds of the whole stage."""
        return self.items * self.seconds_per_item


@dataclass
class StageRecord:
    """What one stage measured: wall seconds, items done, and the seconds per item after its warm-up batch."""

    seconds: float = 0.0
    items: int = 0
    calibrated: float | None = None


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


@dataclass
class StageClock:
    """Wall time per stage of one evaluation, against `plan` (the estimate printed at its start);
    `say` prints the calibration lines (through tqdm, so that bars stay intact)."""

    plan: list[PlannedStage] = field(default_factory=list)
    say: Callable[[str], None] = tqdm.write
    records: dict[str, StageRecord] = field(default_factory=dict)
    start: float = field(default_factory=lambda: time.perf_counter())
    load_start: float | None = field(default_factory=load_average)

    @contextmanager
    def active(self) -> Iterator[StageClock]:
        """Make this the clock that stage_bar() reports to."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def planned(self, name: str) -> PlannedStage | None:
        """The plan's entry of a stage (None for a stage the plan does not know)."""
        return next((s for s in self.plan if s.name == name), None)

    def remaining(self) -> float:
        """Estimated seconds left: the unstarted stages in full, the running ones for their items to go."""
        left = 0.0
        for stage in self.plan:
            done = self.records[stage.name].items if stage.name in self.records else 0
            left += max(stage.items - done, 0) * stage.seconds_per_item
        return left

    def calibrate(self, name: str, seconds_per_item: float) -> None:
        """Put a measured rate into the plan: this stage, and the stages of its kernel not yet started."""
        record = self.records.setdefault(name, StageRecord())
        record.calibrated = seconds_per_item
        stage = self.planned(name)
        if stage is None:
            return
        before = stage.seconds_per_item
        for other in self.plan:
            if other is stage or (other.kernel == stage.kernel and other.name not in self.records):
                other.seconds_per_item = seconds_per_item
        elapsed = time.perf_counter() - self.start
        self.say(f"timing: {name} runs at {format_rate(seconds_per_item, stage.unit)} (planned "
                 f"{format_rate(before, stage.unit)}); evaluation now estimated at "
                 f"{format_seconds(elapsed + self.remaining())}, {format_seconds(self.remaining())} left")

    def advance(self, name: str, items: int) -> None:
        """`items` more of a stage are done."""
        self.records.setdefault(name, StageRecord()).items += items

    def finish(self, name: str, seconds: float) -> None:
        """A stage (or one part of it) took `seconds`; a stage that runs in several parts adds them up."""
        self.records.setdefault(name, StageRecord()).seconds += seconds

    def summary(self) -> dict[str, Any]:
        """protocol/timing of results.json: per stage the planned and measured seconds, items and rates;
        the totals; the load average at the start and the end."""
        stages = {}
        for name, record in self.records.items():
            stage = self.planned(name)
            entry: dict[str, Any] = {"seconds": round(record.seconds, 2), "items": record.items}
            if stage is not None:
                entry.update(unit=stage.unit, kernel=stage.kernel, planned_items=stage.items)
            if record.items:
                entry["seconds_per_item"] = record.seconds / record.items
            if record.calibrated is not None:
                entry["calibrated_seconds_per_item"] = record.calibrated
            stages[name] = entry
        total = time.perf_counter() - self.start
        return {"stages": stages, "total_seconds": round(total, 2),
                "staged_seconds": round(sum(r.seconds for r in self.records.values()), 2),
                "load_average_start": self.load_start, "load_average_end": load_average()}


def format_seconds(seconds: float) -> str:
    """12 s, 3.4 min or 2.1 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_rate(seconds_per_item: float, unit: str) -> str:
    """'0.37 s/img' or '2.1 ms/crop'."""
    if seconds_per_item >= 0.1:
        return f"{seconds_per_item:.2f} s/{unit}"
    return f"{seconds_per_item * 1000:.2g} ms/{unit}"


class StageBar:
    """A tqdm bar over a stage's items that reports its time to the active StageClock (if any)."""

    def __init__(self, name: str, total: int, unit: str, desc: str | None = None, disable: bool = False):
        self.name, self.total, self.clock = name, int(total), _ACTIVE.get()
        self.bar = tqdm(total=total, desc=desc or name, unit=unit, disable=disable, dynamic_ncols=True)
        self.start = time.perf_counter()
        self.done = self.batches = 0
        self._first: tuple[float, int] | None = None  # (seconds, items) of the first batch

    def update(self, n: int = 1) -> None:
        """n more items are done (one batch)."""
        self.bar.update(n)
        self.done += n
        self.batches += 1
        if self.clock is None:
            return
        self.clock.advance(self.name, n)
        now = time.perf_counter() - self.start
        if self.batches == 1:
            self._first = (now, n)
            if self.done >= self.total:  # a one-batch stage: its only batch is the measurement
                self.clock.calibrate(self.name, now / max(n, 1))
        elif self.batches == 2 and self._first is not None:
            self.clock.calibrate(self.name, (now - self._first[0]) / max(n, 1))

    def set_postfix(self, **kwargs: Any) -> None:
        """As tqdm's set_postfix."""
        self.bar.set_postfix(**kwargs)

    def close(self) -> None:
        """Close the bar and record the stage's time."""
        self.bar.close()
        if self.clock is not None:
            self.clock.finish(self.name, time.perf_counter() - self.start)
            self.clock = None

    def __enter__(self) -> StageBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stage_bar(name: str, total: int, unit: str, desc: str | None = None, disable: bool = False) -> StageBar:
    """A progress bar (with ETA) over one stage's `total` items, timed when a StageClock is active."""
    return StageBar(name, total, unit, desc=desc, disable=disable)


@contextmanager
def timed_stage(name: str, items: int = 0) -> Iterator[None]:
    """Time a stage that has no bar (e.g. loading a network) into the active StageClock, if any."""
    start = time.perf_counter()
    try:
        yield
    finally:
        clock = _ACTIVE.get()
        if clock is not None:
            clock.advance(name, items)
            clock.finish(name, time.perf_counter() - start)


def timing_table(timing: dict[str, Any]) -> str:
    """protocol/timing as printed after an evaluation: planned and measured seconds per stage, the total."""
    planned = timing.get("plan", {}).get("stages", {})
    rows = ["| stage | items | planned | measured | per item |", "|---|---|---|---|---|"]
    for name, entry in timing["stages"].items():
        plan = planned.get(name, {})
        rate = format_rate(entry["seconds_per_item"], entry.get("unit", "item")) if entry.get("items") else "-"
        rows.append(f"| {name} | {entry['items']} | {format_seconds(plan['seconds']) if plan else '-'} | "
                    f"{format_seconds(entry['seconds'])} | {rate} |")
    other = timing["total_seconds"] - timing["staged_seconds"]
    rows.append(f"| other (start, networks, data) | | | {format_seconds(other)} | |")
    total_plan = timing.get("plan", {}).get("total_seconds")
    rows.append(f"| total | | {format_seconds(total_plan) if total_plan is not None else '-'} | "
                f"{format_seconds(timing['total_seconds'])} | |")
    load = f"load average {timing.get('load_average_start')} at the start, {timing.get('load_average_end')} at the end"
    return "\n".join(rows + ["", f"timing: {load}; on {timing.get('cpu') or timing.get('device')} "
                                 f"({timing.get('torch_threads')} torch threads)"])
