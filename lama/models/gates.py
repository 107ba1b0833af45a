"""The learnt scalar gates worth logging during training."""

from __future__ import annotations

import torch
from torch import nn

GATE_NAMES = ("alpha", "rho", "mask_adjust_alpha")  # leaf names of the scalar gate parameters


def scalar_gates(module: nn.Module, names: tuple[str, ...] = GATE_NAMES) -> dict[str, nn.Parameter]:
    """The scalar (0-dim) parameters of `module` whose leaf name is one of `names`, by full name."""
    return {n: p for n, p in module.named_parameters() if p.dim() == 0 and n.rsplit(".", 1)[-1] in names}


def learnt_gates(module: nn.Module) -> dict[str, float]:
    """Every scalar gate parameter by name: generator block/ISLA `alpha`, ISLA `rho`, mask-adaption strength
    `mask_adjust_alpha`, discriminator block `alpha` (raw values; forward passes clamp some of them)."""
    return {name: float(param.detach()) for name, param in scalar_gates(module).items()}


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
    gates = scalar_gates(module, ("alpha",))
    for param in gates.values():
        param.fill_(float(value))
    return len(gates)
