"""Timed stage bars: what a StageClock records, and how a stage's second batch recalibrates the plan (a
fake clock stands in for time.perf_counter, so nothing here depends on the machine's speed)."""

import pytest

from lama import progress
from lama.progress import PlannedStage, StageClock, stage_bar, timed_stage, timing_table


@pytest.fixture
def fake_time(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    return now


def _plan():
    return [PlannedStage("is_fid/fake", 10, "img", "inception", 1.0),
            PlannedStage("scene_fid/fake", 40, "crop", "inception", 1.0),
            PlannedStage("cas/train", 6, "step", "cas_train/resnet18", 5.0)]


def test_the_second_batch_sets_the_rate_of_its_stage_and_of_later_stages_of_its_kernel(fake_time):
    lines = []
    clock = StageClock(plan=_plan(), say=lines.append)
    with clock.active(), stage_bar("is_fid/fake", 10, "img", disable=True) as bar:
        fake_time[0] += 9.0  # the first batch of 4 (with warm-up) is not a measurement
        bar.update(4)
        assert clock.planned("is_fid/fake").seconds_per_item == 1.0 and not lines
        fake_time[0] += 2.0  # the second batch: 4 images in 2 s
        bar.update(4)
        fake_time[0] += 1.0
        bar.update(2)
    assert clock.planned("is_fid/fake").seconds_per_item == 0.5
    assert clock.planned("scene_fid/fake").seconds_per_item == 0.5  # same kernel, not started yet
    assert clock.planned("cas/train").seconds_per_item == 5.0  # another kernel
    assert len(lines) == 1 and "is_fid/fake runs at 0.50 s/img (planned 1.00 s/img)" in lines[0]
    # At the calibration 2 images of the first stage were left: 2 x 0.5 + 40 x 0.5 + 6 x 5 s.
    assert "51 s left" in lines[0]
    record = clock.records["is_fid/fake"]
    assert record.seconds == 12.0 and record.items == 10 and record.calibrated == 0.5
    assert clock.remaining() == pytest.approx(40 * 0.5 + 6 * 5.0)


def test_a_one_batch_stage_is_measured_by_its_only_batch(fake_time):
    clock = StageClock(plan=_plan(), say=lambda line: None)
    with clock.active(), stage_bar("cas/train", 1, "step", disable=True) as bar:
        fake_time[0] += 3.0
        bar.update(1)
    assert clock.records["cas/train"].calibrated == 3.0


def test_summary_and_table_hold_planned_and_measured_seconds(fake_time):
    clock = StageClock(plan=_plan(), say=lambda line: None)
    with clock.active():
        with stage_bar("cas/train", 6, "step", disable=True) as bar:
            for _ in range(6):
                fake_time[0] += 4.0
                bar.update(1)
        with timed_stage("inception/load", items=1):
            fake_time[0] += 2.0
        with stage_bar("cas/crops", 3, "crop", disable=True) as bar:  # a stage in two parts adds up
            bar.update(3)
        with stage_bar("cas/crops", 2, "crop", disable=True) as bar:
            bar.update(2)
    fake_time[0] += 5.0
    summary = clock.summary()
    assert summary["stages"]["cas/train"] == {"seconds": 24.0, "items": 6, "unit": "step", "kernel": "cas_train/resnet18",
                                              "planned_items": 6, "seconds_per_item": 4.0,
                                              "calibrated_seconds_per_item": 4.0}
    assert summary["stages"]["inception/load"]["seconds"] == 2.0 and summary["stages"]["cas/crops"]["items"] == 5
    assert summary["total_seconds"] == 31.0 and summary["staged_seconds"] == 26.0
    table = timing_table({**summary, "plan": {"total_seconds": 60.0, "stages": {"cas/train": {"seconds": 30.0}}},
                          "cpu": "Some CPU", "torch_threads": 2})
    assert "| cas/train | 6 | 30 s | 24 s | 4.00 s/step |" in table
    assert "| other (start, networks, data) | | | 5 s | |" in table and "| total | | 60 s | 31 s | |" in table
    assert "on Some CPU (2 torch threads)" in table


def test_without_an_active_clock_a_bar_is_only_a_bar(fake_time):
    with stage_bar("sampling", 2, "img", disable=True) as bar:
        bar.update(2)
    assert bar.done == 2 and bar.clock is None
