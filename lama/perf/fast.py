"""The fast training path: bf16 autocast, channels_last, torch.compile and the fused ISLA op, each a switch.
The exact path (all off, float32) stays the default for parity with the authors' numbers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FastPath:
    """Switches of the fast path. `isla_impl` is passed to lama.ops.set_impl ("auto" | "ref" | "ext")."""

    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    isla_impl: str = "auto"

    @property
    def exact(self) -> bool:
        """True when nothing changes the float32 eager numerics."""
        return not (self.bf16 or self.compile) and self.isla_impl in ("auto", "ref")

    def describe(self) -> str:
        """Short human-readable list of the active switches."""
        parts = [name for name in ("bf16", "channels_last", "compile") if getattr(self, name)]
        return "+".join(parts + [f"isla={self.isla_impl}"])


def prepare_module(module: nn.Module, fast: FastPath) -> nn.Module:
    """Apply the memory-format switch in place (parameters of 4-D convs become NHWC)."""
    if fast.channels_last:
        module.to(memory_format=torch.channels_last)
    return module


def maybe_compile(module: nn.Module, fast: FastPath) -> nn.Module:
    """torch.compile the module when the switch is on (dynamic shapes: the object count varies)."""
    return torch.compile(module, dynamic=True) if fast.compile else module


def prepare_images(images: torch.Tensor, fast: FastPath) -> torch.Tensor:
    """Input images (B, 3, R, R) in the memory format the fast path uses."""
    return images.contiguous(memory_format=torch.channels_last) if fast.channels_last else images


@contextlib.contextmanager
def isla_impl(impl: str) -> Iterator[None]:
    """Use this lama.ops ISLA implementation inside the block, then restore the previous one."""
    from lama import ops

    previous = ops.get_impl()
    ops.set_impl(impl)
    try:
        yield
    finally:
        ops.set_impl(previous)


@contextlib.contextmanager
def autocast(device: torch.device, fast: FastPath) -> Iterator[None]:
    """bf16 autocast on CPU or CUDA when the switch is on (a no-op otherwise), with the path's ISLA op."""
    with (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=fast.bf16),
        isla_impl(fast.isla_impl),
    ):
        yield
