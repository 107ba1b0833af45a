"""The bench schedule on made-up timings: warm-up stops when two iterations agree (or at its cap), timed rounds
alternate the paths until the budget, and the statistics are those of the timed iterations. Nothing is timed."""

from __future__ import annotations

import pytest

from lama.perf.schedule import agree, drift, spread, timed_rounds, warm_up


def _steps(times):
    it = iter(times)
    calls = []

    def step():
        calls.append(1)
        return next(it)

    return step, calls


def test_agree_is_relative_to_the_shorter_iteration():
    assert agree(4.0, 4.39, 0.1) and agree(4.39, 4.0, 0.1)
    assert not agree(4.0, 4.41, 0.1) and not agree(3.6, 4.0, 0.1)  # 0.4 is 11% of 3.6


def test_warm_up_stops_at_the_first_two_iterations_that_agree():
    # the drift: 5.31, 4.01, 3.67 s after a cold first iteration; 4.01 -> 3.67 is within 10%
    step, calls = _steps([5.31, 4.01, 3.67, 3.6, 3.6])
    w = warm_up(step, 10.2, max_iters=8, tol=0.1)
    assert w.seconds == [10.2, 5.31, 4.01, 3.67] and w.settled
    assert len(calls) == 3  # not one iteration more


def test_warm_up_without_agreement_stops_at_its_cap_and_says_so():
    step, calls = _steps([8.0, 6.0, 4.5, 3.0, 2.0])
    w = warm_up(step, 10.0, max_iters=4, tol=0.1)
    assert w.seconds == [10.0, 8.0, 6.0, 4.5] and not w.settled and len(calls) == 3
    one = warm_up(_steps([])[0], 10.0, max_iters=1, tol=0.1)  # the first iteration alone cannot agree with anything
    assert one.seconds == [10.0] and not one.settled


def test_timed_rounds_alternate_paths_until_the_budget():
    order = []

    def path(name, seconds):
        def step():
            order.append(name)
            return [seconds]
        return step

    out = timed_rounds([path("exact", 4.0), path("fast", 2.0)], min_rounds=2, max_rounds=100, budget_s=20.0)
    assert out == [[4.0] * 4, [2.0] * 4]  # 6 s per round: the 4th round reaches 24 >= 20
    assert order == ["exact", "fast"] * 4
    few = timed_rounds([path("exact", 4.0)], min_rounds=3, max_rounds=100, budget_s=0.0)
    assert few == [[4.0] * 3]  # no budget: the minimum rounds
    capped = timed_rounds([path("exact", 4.0)], min_rounds=1, max_rounds=5, budget_s=1e9)
    assert capped == [[4.0] * 5]


def test_the_statistics_are_those_of_the_timed_iterations():
    seconds = [4.2, 3.9, 4.6, 4.0, 4.1]
    assert spread(seconds) == {"min": 3.9, "median": 4.1, "max": 4.6}
    assert spread([]) == {"min": None, "median": None, "max": None}
    assert drift([4.0, 4.0, 4.4, 4.4]) == pytest.approx(0.1)
    assert drift([4.0, 5.0, 4.0]) is None
