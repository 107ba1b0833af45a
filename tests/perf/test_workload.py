"""The benchmark's training iteration, fast-path switches and timing helpers, at tiny widths."""

from __future__ import annotations

import re

import pytest
import torch

from lama.layout import PAD_LABEL, check_layout_tensors
from lama.perf.fast import FastPath
from lama.perf.timing import count_flops, matmul_peak_flops, time_calls
from lama.perf.workload import GanIteration, d_hinge, g_hinge, random_layouts

TINY = dict(resolution=64, batch=2, ch=4, slots=3, num_classes=10, device=torch.device("cpu"))


def test_random_layouts_are_valid_and_seeded():
    labels, boxes = random_layouts(6, 8, 184, seed=3)
    check_layout_tensors(labels, boxes)
    counts = (labels != PAD_LABEL).sum(1)
    assert counts.min() >= 3 and counts.max() <= 8
    real = boxes[labels != PAD_LABEL]
    assert (real[:, :2] >= 0).all() and (real[:, :2] + real[:, 2:] <= 1 + 1e-6).all()
    again = random_layouts(6, 8, 184, seed=3)
    assert torch.equal(labels, again[0]) and torch.equal(boxes, again[1])


def test_hinge_losses_follow_the_spec():
    real_img, real_obj = torch.tensor([[0.5], [2.0]]), torch.tensor([[0.0], [3.0], [-1.0]])
    fake_img, fake_obj = torch.tensor([[-2.0], [0.0]]), torch.tensor([[1.0], [-0.5], [-3.0]])
    # obj: mean(relu(1-real)) = (1+0+2)/3, mean(relu(1+fake)) = (2+0.5+0)/3; img: (0.5+0)/2 + (0+1)/2
    expected = 1.0 * (3 / 3 + 2.5 / 3) + 0.1 * (0.25 + 0.5)
    assert d_hinge(real_img, real_obj, fake_img, fake_obj).item() == pytest.approx(expected)
    assert g_hinge(fake_img, fake_obj).item() == pytest.approx(-(1.0 * (-2.5 / 3) + 0.1 * -1.0))


@pytest.mark.parametrize("fast", [FastPath(), FastPath(bf16=True, channels_last=True)])
def test_one_iteration_updates_both_networks(fast):
    work = GanIteration.build(fast=fast, **TINY)
    g_before = {n: p.detach().clone() for n, p in work.G.named_parameters()}
    d_before = {n: p.detach().clone() for n, p in work.D.named_parameters()}
    work.step()
    g_changed = {n for n, p in work.G.named_parameters() if not torch.equal(g_before[n], p)}
    d_changed = {n for n, p in work.D.named_parameters() if not torch.equal(d_before[n], p)}
    # Gates start at 0, so the branches behind them get no gradient yet; the gates themselves do.
    block_gates = {n for n in g_before if re.fullmatch(r"res\.\d+\.alpha", n)}
    assert block_gates and block_gates <= g_changed
    d_gates = {n for n in d_before if n.endswith("alpha")}
    assert d_gates and d_gates <= d_changed
    assert all(p.requires_grad for p in work.D.parameters())  # D unfrozen after the G step
    assert all(torch.isfinite(p).all() for p in work.G.parameters())
    images = work.sample()
    assert images.shape == (2, 3, 64, 64) and work.G.training


def test_flop_counter_counts_a_matmul():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 4


def test_timing_helpers():
    calls = []
    times = time_calls(lambda: calls.append(1), iters=3, warmup=2, device=torch.device("cpu"))
    assert len(times) == 3 and len(calls) == 5 and all(t >= 0 for t in times)
    assert matmul_peak_flops(torch.device("cpu"), n=64, repeats=2) > 0
