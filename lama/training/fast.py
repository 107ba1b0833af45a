"""The training fast path: which of bf16 autocast, channels_last, TF32 and the fused ISLA op a run uses,
chosen from `model.fast` and the hardware. The exact path is float32 everywhere (TF32 off on CUDA)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

KEYS = ("enabled", "bf16", "channels_last", "compile", "isla_impl")
TRISTATE = (True, False, "auto")
ISLA_IMPLS = ("auto", "ref", "ext")
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # x86 /proc/cpuinfo flags of native bf16
# Measured costs of emulated bf16 (benchmarks/README.md; an AVX-512 Xeon without AVX512-BF16/AMX, 2 threads).
EMULATED_BF16 = "a matmul 4.7x and a 64 px training iteration over 5x slower on an AVX-512 CPU without AVX512-BF16"


@dataclass(frozen=True)
class FastPath:
    """The switches a run uses. isla_impl None leaves lama.ops at its module-wide setting (the exact path)."""

    bf16: bool = False
    channels_last: bool = False
    tf32: bool = False
    compile: bool = False
    isla_impl: str | None = None
    why_bf16: str = field(default="exact path", compare=False)  # the reasons, for the log line
    why_channels_last: str = field(default="exact path", compare=False)

    @property
    def exact(self) -> bool:
        """True when every switch is off: float32, default memory format, the reference ISLA op."""
        return not (self.bf16 or self.channels_last or self.tf32 or self.compile) and self.isla_impl in (None, "ref")

    def as_config(self) -> dict[str, Any]:
        """The choice as explicit model.fast values (what the run's hparams record)."""
        return {"enabled": not self.exact, "bf16": self.bf16, "channels_last": self.channels_last,
                "compile": self.compile, "isla_impl": self.isla_impl or "auto"}  # fmt: skip

    def describe(self, device: torch.device) -> str:
        """One line for the log, e.g. `fast path: bf16 off (no native bf16 on this CPU), channels_last off ...`."""
        from lama import ops

        parts = [
            f"bf16 {'on' if self.bf16 else 'off'} ({self.why_bf16})",
            f"channels_last {'on' if self.channels_last else 'off'} ({self.why_channels_last})",
        ]
        if device.type == "cuda":
            parts.append(f"tf32 {'on' if self.tf32 else 'off'}")
        parts.append(f"compile {'on' if self.compile else 'off'}")
        parts.append(f"isla={self.isla_impl or ops.get_impl()}")
        return "fast path: " + ", ".join(parts)


def _cpu_flags() -> set[str]:
    """The feature flags of the first CPU (x86 `flags`, Arm `Features`; empty where unknown)."""
    from lama.device import cpu_info

    return set(cpu_info("flags", "Features").split())


def cpu_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16, AMX, or Arm's BF16 extension). oneDNN's own
    check (torch.ops.mkldnn._is_mkldnn_bf16_supported) also says True on plain AVX-512, where bf16 is
    emulated (EMULATED_BF16), so it is not used."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if any(getattr(torch.cpu, name, lambda: False)() for name in probes):
        return True
    flags = _cpu_flags()
    return bool(flags & CPU_BF16_FLAGS) or ("bf16" in flags and "asimd" in flags)


def cuda_native_bf16(device: torch.device) -> bool:
    """True on CUDA GPUs with bf16 tensor cores (compute capability 8.0+: Ampere, Hopper and later)."""
    return torch.cuda.get_device_capability(device) >= (8, 0)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 natively (not emulated)."""
    return cuda_native_bf16(device) if device.type == "cuda" else cpu_native_bf16()


def check_fast_config(fast: Mapping[str, Any] | None) -> dict[str, Any]:
    """model.fast with its defaults filled in; an unknown key or value raises ValueError naming it."""
    fast = dict(fast or {})
    unknown = set(fast) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown model.fast key(s) {sorted(unknown)}; known: {', '.join(KEYS)}")
    out = {"enabled": "auto", "bf16": "auto", "channels_last": "auto", "compile": False, "isla_impl": "auto", **fast}
    for key in ("enabled", "bf16", "channels_last"):
        if out[key] not in TRISTATE or out[key] in (0, 1) and not isinstance(out[key], bool):
            raise ValueError(f"model.fast.{key}={out[key]!r}; choose true, false or auto")
    if not isinstance(out["compile"], bool):
        raise ValueError(f"model.fast.compile={out['compile']!r}; choose true or false")
    if out["isla_impl"] not in ISLA_IMPLS:
        raise ValueError(f"model.fast.isla_impl={out['isla_impl']!r}; choose auto, ref or ext")
    return out


def choose_fast_path(fast: Mapping[str, Any] | None, device: torch.device) -> FastPath:
    """The switches for `device`: enabled=false is the exact path; enabled=auto turns each `auto` switch on
    only where the hardware runs it natively and faster; enabled=true turns every `auto` switch on.
    Explicit switch values are kept; an explicit or forced bf16 without native bf16 warns."""
    from lama.ops.isla import AUTO_EXT_DEVICES

    cfg = check_fast_config(fast)
    if cfg["enabled"] is False:
        return FastPath(why_bf16="model.fast.enabled=false", why_channels_last="model.fast.enabled=false")
    native = native_bf16(device)
    where = "this GPU" if device.type == "cuda" else "this CPU"
    if cfg["bf16"] == "auto" and cfg["enabled"] == "auto":
        bf16, why_bf16 = native, f"{'native' if native else 'no native'} bf16 on {where}"
    else:
        bf16 = cfg["bf16"] is not False
        why_bf16 = "model.fast.bf16" if cfg["bf16"] != "auto" else "model.fast.enabled=true"
        if bf16 and not native:
            warnings.warn(
                f"{why_bf16} asks for bf16 on {where}, which has no native bf16 (AVX512-BF16/AMX, or a GPU of "
                f"compute capability 8.0+): bf16 is emulated there and training runs much slower ({EMULATED_BF16}); "
                "model.fast.enabled=auto picks only what is native",
                stacklevel=2,
            )
    # channels_last was measured to win with bf16 only (AVX512-BF16 CPU: 5.4 -> 5.3 s per 64 px iteration); in
    # float32 it did not (10.0 -> 9.9 s there, within the noise; 0.96x on an AVX-512 CPU without bf16; see
    # benchmarks/README.md).
    if cfg["channels_last"] == "auto" and cfg["enabled"] == "auto":
        channels_last, why_cl = bf16, "with bf16" if bf16 else "only wins with bf16"
    else:
        channels_last = cfg["channels_last"] is not False
        why_cl = "model.fast.channels_last" if cfg["channels_last"] != "auto" else "model.fast.enabled=true"
    tf32 = device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)
    # torch.compile only when asked for: on a CPU it compiled for 4 minutes to gain 3% (benchmarks/README.md);
    # on a GPU it is unmeasured (task=bench with model.fast.compile=true reports the break-even run length).
    compile_ = cfg["compile"]
    impl = cfg["isla_impl"]
    if impl == "auto":  # the fused op only where the benchmark showed a gain (lama.ops.isla.AUTO_EXT_DEVICES)
        impl = "ext" if device.type in AUTO_EXT_DEVICES else "ref"
    return FastPath(bf16=bf16, channels_last=channels_last, tf32=tf32, compile=compile_, isla_impl=impl,
                    why_bf16=why_bf16, why_channels_last=why_cl)  # fmt: skip


def apply_fp32_precision(fast: FastPath, device: torch.device) -> None:
    """On CUDA, float32 matmuls and cuDNN convolutions in IEEE float32 on the exact path (PyTorch leaves
    cuDNN's TF32 on by default) and in TF32 when the fast path chose it. Process-wide; nothing on CPU."""
    if device.type != "cuda":
        return
    precision = "tf32" if fast.tf32 else "ieee"
    torch.backends.cuda.matmul.fp32_precision = precision
    torch.backends.cudnn.conv.fp32_precision = precision


def is_compiled(module: nn.Module) -> bool:
    """Whether nn.Module.compile() has compiled the module's call in place."""
    return getattr(module, "_compiled_call_impl", None) is not None


def prepare_module(module: nn.Module, fast: FastPath) -> nn.Module:
    """Apply the memory-format switch in place (parameters of 4-D convs become NHWC) and torch.compile the
    module's forward in place (nn.Module.compile: state-dict names unchanged, so checkpoints stay plain)."""
    if fast.channels_last:
        module.to(memory_format=torch.channels_last)
    if fast.compile and not is_compiled(module):
        module.compile()
    return module


def prepare_images(images: torch.Tensor, fast: FastPath) -> torch.Tensor:
    """Input images (B, 3, R, R) in the memory format the fast path uses."""
    return images.contiguous(memory_format=torch.channels_last) if fast.channels_last else images


@contextlib.contextmanager
def isla_impl(impl: str | None) -> Iterator[None]:
    """Use this lama.ops ISLA implementation inside the block (None: leave it), then restore the previous one."""
    from lama import ops

    previous = ops.get_impl()
    if impl is not None:
        ops.set_impl(impl)
    try:
        yield
    finally:
        ops.set_impl(previous)


@contextlib.contextmanager
def forward_context(fast: FastPath, device: torch.device) -> Iterator[None]:
    """bf16 autocast when the path uses it, with the path's ISLA implementation. Without bf16 it enters no
    autocast at all: autocast(enabled=False) would switch off trainer.precision=bf16-mixed's own. Compiled,
    every spectral-normalised weight is computed once inside the block (one power iteration per D step, not
    one per D pass): compiled graphs fail in backward when the buffers change between the real and fake pass."""
    cast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if fast.bf16 else contextlib.nullcontext()
    cached = parametrize.cached() if fast.compile else contextlib.nullcontext()
    with cast, isla_impl(fast.isla_impl), cached:
        yield
