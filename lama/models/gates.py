"""The learnt scalar gates worth logging during training."""

from __future__ import annotations

import torch
from torch import nn


def learnt_gates(module: nn.Module) -> dict[str, float]:
    """Every scalar gate parameter by name: generator block/ISLA `alpha`, ISLA `rho`, mask-adaption strength
    `mask_adjust_alpha`, discriminator block `alpha` (raw values; forward passes clamp some of them)."""
    gates = {}
    for name, param in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if param.dim() == 0 and leaf in ("alpha", "rho", "mask_adjust_alpha"):
            gates[name] = float(param.detach())
    return gates


def gate_summary(module: nn.Module) -> dict[str, torch.Tensor]:
    """Mean of each kind of gate (`alpha`, `rho`, `mask_adjust_alpha`), handy as a few scalar logs."""
    groups: dict[str, list[float]] = {}
    for name, value in learnt_gates(module).items():
        groups.setdefault(name.rsplit(".", 1)[-1], []).append(value)
    return {k: torch.tensor(v).mean() for k, v in groups.items()}


@torch.no_grad()
def open_gates(module: nn.Module, value: float) -> int:
    """Start every scalar residual/ISLA gate (`alpha`) of `module` at `value` instead of the authors' 0, and
    return how many there were. The mask adapter's `mask_adjust_alpha` and ISLA's `rho` keep their start.
    Why: a zero gate passes almost no gradient through its branch, so for the first few hundred iterations
    the image barely depends on the masks and D is close to linear; the paper's long runs do not notice,
    a small run does (benchmarks/recipe/)."""
    count = 0
    for name, param in module.named_parameters():
        if param.dim() == 0 and name.rsplit(".", 1)[-1] == "alpha":
            param.fill_(float(value))
            count += 1
    return count
