"""Hardware peak FLOP/s, what `task=bench` sets its achieved FLOP/s against.

A CPU's peak is the formula cores x FMA units x float32 lanes x 2 x clock: the lanes from /proc/cpuinfo's
flags (avx512f 16, avx2/fma/avx 8, else 4), the clock from cpufreq's cpuinfo_max_freq (boost included) where
the kernel exposes it, else /proc/cpuinfo's `cpu MHz` (under a hypervisor usually the nominal clock), and the
FMA units per core an assumption: 2, as on modern x86 cores (bench.fma_units). The flags do not say how many
units there are, and the peak is not measured: no pure-torch loop is register-bound (every torch op loads and
stores its tensors, so a loop of small in-place FMAs measures L1 bandwidth and dispatch, not the FMA units).
A GPU's peaks (float32, TF32, bf16; dense, no sparsity) come from its datasheet, by a fragment of its name.

A rate measured above a peak proves that peak wrong (a boost clock above `cpu MHz`, more FMA units than
assumed): `Peak.at_least` raises it to that rate and says so, so no ratio against a peak exceeds 1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from lama.device import cpu_info

CPUFREQ_MAX = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")  # kHz
AMX_BF16_FLOPS_PER_CYCLE = 1024  # per core: Intel's AMX-BF16 figure (against 64 for two AVX-512 float32 FMA units)

# Datasheet peaks in FLOP/s (float32 on CUDA cores, TF32 and bf16 on tensor cores, dense), first matching
# fragment of torch.cuda.get_device_name wins: the longer names come before the fragments they contain.
GPU_PEAKS: tuple[tuple[str, float, float | None, float | None], ...] = (
    ("H200 NVL", 60e12, 418e12, 835e12),
    ("H200", 67e12, 495e12, 989e12),
    ("H100 PCIe", 51e12, 378e12, 756e12),
    ("H100 NVL", 60e12, 418e12, 835e12),
    ("H100", 67e12, 495e12, 989e12),  # SXM ("NVIDIA H100 80GB HBM3")
    ("A100", 19.5e12, 156e12, 312e12),
    ("L40S", 91.6e12, 183e12, 366e12),
    ("L40", 90.5e12, 90.5e12, 181e12),
    ("L4", 30.3e12, 60e12, 121e12),
    ("A10", 31.2e12, 62.5e12, 125e12),
    ("V100", 15.7e12, None, None),
)


@dataclass(frozen=True)
class Peak:
    """A peak rate in FLOP/s (None where unknown) and where it comes from, for the record."""

    flops: float | None
    source: str

    def at_least(self, measured: Mapping[str, float | None]) -> Peak:
        """This peak, raised to the largest `measured` rate (FLOP/s, by what measured it) when one beats it."""
        rates = [(rate, name) for name, rate in measured.items() if rate]
        if self.flops is None or not rates or max(rates)[0] <= self.flops:
            return self
        rate, name = max(rates)
        return Peak(rate, f"{self.source}; raised to the measured {name} ({rate / 1e9:.1f} GFLOP/s), which beat "
                          f"{self.flops / 1e9:.1f}: that figure is not this hardware's peak (set bench.peak_flops)")


def flops_ratio(achieved: float, peak: Peak) -> float | None:
    """achieved / peak (both FLOP/s); None without a peak. Above 1 is an error: that peak was no peak."""
    if peak.flops is None:
        return None
    ratio = achieved / peak.flops
    if ratio > 1 + 1e-9:
        raise ValueError(f"{achieved:.4g} FLOP/s achieved against a peak of {peak.flops:.4g} ({peak.source})")
    return ratio


def cpu_lanes(flags: Collection[str]) -> tuple[int, str]:
    """float32 lanes of the CPU's widest vectors and the flag that says so: 16 (avx512f), 8 (avx2, fma, avx),
    else 4 (SSE, NEON)."""
    for flag, lanes in (("avx512f", 16), ("avx2", 8), ("fma", 8), ("avx", 8)):
        if flag in flags:
            return lanes, flag
    return 4, "no avx flag"


def cpu_clock_hz(max_freq: Path | None = None) -> tuple[float | None, str]:
    """The clock of the CPU peak in Hz and where it was read: cpufreq's cpuinfo_max_freq (boost included),
    else /proc/cpuinfo's `cpu MHz` (the current clock; a boost above it is not seen); None when neither exists."""
    try:
        khz = float((max_freq or CPUFREQ_MAX).read_text().strip())
        if khz > 0:
            return khz * 1e3, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        return float(cpu_info("cpu MHz")) * 1e6, "/proc/cpuinfo cpu MHz"
    except ValueError:
        return None, "no clock in cpufreq or /proc/cpuinfo"


def _units(fma_units: int) -> str:
    return f"{fma_units} FMA units per core (not in the flags: bench.fma_units, assumed)"


def cpu_peak(flags: Collection[str], cores: int, clock_hz: float | None, clock_source: str, fma_units: int = 2) -> Peak:
    """float32 peak of `cores` cores: cores x FMA units x lanes x 2 FLOPs x clock."""
    if clock_hz is None:
        return Peak(None, f"unknown: {clock_source} (set bench.peak_flops)")
    lanes, flag = cpu_lanes(flags)
    return Peak(cores * fma_units * lanes * 2 * clock_hz,
                f"formula: {cores} core{'s' * (cores != 1)} x {_units(fma_units)} x {lanes} float32 lanes ({flag}) x 2 x "
                f"{clock_hz / 1e9:.3f} GHz ({clock_source})")  # fmt: skip


def cpu_peak_bf16(
    flags: Collection[str], cores: int, clock_hz: float | None, clock_source: str, fma_units: int = 2
) -> Peak:
    """bf16 peak of `cores` cores: AMX-BF16 1024 FLOPs per cycle and core, AVX512-BF16 twice the float32 FMA
    rate (two bf16 products per float32 lane); None without either (bf16 is emulated: float32 bounds it)."""
    if "amx_bf16" in flags and clock_hz is not None:
        return Peak(cores * AMX_BF16_FLOPS_PER_CYCLE * clock_hz,
                    f"formula: {cores} core{'s' * (cores != 1)} x {AMX_BF16_FLOPS_PER_CYCLE} FLOPs per cycle (amx_bf16) x "
                    f"{clock_hz / 1e9:.3f} GHz ({clock_source})")  # fmt: skip
    if "avx512_bf16" in flags and clock_hz is not None:
        return Peak(cores * fma_units * 16 * 2 * 2 * clock_hz,
                    f"formula: {cores} core{'s' * (cores != 1)} x {_units(fma_units)} x 16 float32 lanes x 2 bf16 "
                    f"products (avx512_bf16) x 2 x {clock_hz / 1e9:.3f} GHz ({clock_source})")  # fmt: skip
    if clock_hz is None:
        return Peak(None, f"unknown: {clock_source} (set bench.peak_flops_bf16)")
    return Peak(None, "no native bf16 on this CPU (no avx512_bf16 or amx_bf16 flag)")


def gpu_peaks(name: str) -> dict[str, Peak]:
    """The datasheet float32, tf32 and bf16 peaks of the GPU called `name` (None each where not in GPU_PEAKS)."""
    for fragment, *rates in GPU_PEAKS:
        if fragment in name:
            source = f"datasheet of {fragment} (dense), by the device name {name!r}"
            return {math: Peak(rate, source if rate else f"{fragment} has no {math} tensor cores")
                    for math, rate in zip(("float32", "tf32", "bf16"), rates, strict=True)}  # fmt: skip
    unknown = Peak(None, f"{name!r} is not in lama.perf.peak.GPU_PEAKS (set bench.peak_flops, bench.peak_flops_bf16)")
    return dict.fromkeys(("float32", "tf32", "bf16"), unknown)


def hardware_peaks(device_type: str, cores: int, fma_units: int = 2, gpu_name: str = "",
                   peak_flops: float | None = None, peak_flops_bf16: float | None = None) -> dict[str, Peak]:  # fmt: skip
    """The float32, tf32 and bf16 peaks of `cores` CPU cores or of the GPU `gpu_name` (on a CPU tf32 is
    float32); `peak_flops` / `peak_flops_bf16` (FLOP/s, from the config) replace the float32 / bf16 ones."""
    if device_type == "cuda":
        peaks = gpu_peaks(gpu_name)
    else:
        flags = set(cpu_info("flags", "Features").split())
        clock_hz, clock_source = cpu_clock_hz()
        peaks = {"float32": cpu_peak(flags, cores, clock_hz, clock_source, fma_units),
                 "bf16": cpu_peak_bf16(flags, cores, clock_hz, clock_source, fma_units)}  # fmt: skip
    if peak_flops is not None:
        peaks["float32"] = Peak(float(peak_flops), "bench.peak_flops")
    if peak_flops_bf16 is not None:
        peaks["bf16"] = Peak(float(peak_flops_bf16), "bench.peak_flops_bf16")
    if device_type != "cuda":
        peaks["tf32"] = peaks["float32"]
    return peaks
