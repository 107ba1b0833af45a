"""How `task=bench` spends its training iterations: warm-up until two consecutive iterations agree, timed
rounds that alternate the paths until a time budget is spent, and the spread of what was timed. The steps
are callables that return seconds, so tests drive the schedule with made-up timings."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def agree(a: float, b: float, tol: float) -> bool:
    """Whether two iteration times (seconds) differ by at most `tol` (a fraction) of the shorter one."""
    return abs(a - b) <= tol * min(a, b)


def settled(seconds: Sequence[float], tol: float) -> bool:
    """Whether the last two iterations of `seconds` agree within `tol`."""
    return len(seconds) >= 2 and agree(seconds[-2], seconds[-1], tol)


@dataclass
class WarmUp:
    """The untimed iterations of one path (seconds, its first one first) and whether they settled."""

    seconds: list[float]
    settled: bool


def warm_up(step: Callable[[], float], first_s: float, max_iters: int, tol: float) -> WarmUp:
    """After a first iteration of `first_s` seconds, run `step` (one iteration, returns its seconds) until two
    consecutive iterations agree within `tol` or `max_iters` iterations (the first included) have run."""
    seconds = [first_s]
    while not settled(seconds, tol) and len(seconds) < max_iters:
        seconds.append(step())
    return WarmUp(seconds, settled(seconds, tol))


def timed_rounds(
    steps: Sequence[Callable[[], list[float]]], min_rounds: int, max_rounds: int, budget_s: float,
    on_round: Callable[[int, list[list[float]]], None] | None = None,
) -> list[list[float]]:  # fmt: skip
    """Each path's timed seconds: round by round every path's step (its timed iterations -> their seconds) runs
    in turn, so drift and other load hit all paths alike, until at least `min_rounds` rounds have run and the
    paths' timed seconds add up to `budget_s`, or `max_rounds` have run. `on_round(r, seconds)` after each."""
    seconds: list[list[float]] = [[] for _ in steps]
    for r in range(max_rounds):
        for out, step in zip(seconds, steps, strict=True):
            out += step()
        if on_round is not None:
            on_round(r, seconds)
        if r + 1 >= min_rounds and sum(map(sum, seconds)) >= budget_s:
            break
    return seconds


def spread(seconds: Sequence[float]) -> dict[str, float | None]:
    """min, median and max of timed iterations (seconds; None each when nothing was timed)."""
    if not seconds:
        return dict.fromkeys(("min", "median", "max"))
    return {"min": min(seconds), "median": statistics.median(seconds), "max": max(seconds)}


def drift(seconds: Sequence[float]) -> float | None:
    """The median of the later half of the timed iterations over the earlier half's, minus 1 (a fraction:
    +0.05 = 5% slower by the end); None under 4 iterations."""
    if len(seconds) < 4:
        return None
    half = len(seconds) // 2
    return statistics.median(seconds[-half:]) / statistics.median(seconds[:half]) - 1
