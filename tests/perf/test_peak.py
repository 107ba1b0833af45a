"""Hardware peaks from fake /proc/cpuinfo and cpufreq files and GPU names: the formula, where the clock came
from, the overrides, and that no ratio against a peak can exceed 1."""

from __future__ import annotations

import pytest

from lama import device
from lama.perf import peak as peakmod
from lama.perf.peak import Peak, cpu_lanes, flops_ratio, gpu_peaks, hardware_peaks


@pytest.fixture
def fake_cpu(tmp_path, monkeypatch):
    """Write a fake /proc/cpuinfo (and cpufreq max, when given); point lama at them."""

    def make(flags: str, mhz: str = "2600.000", max_khz: str | None = None) -> None:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Fake CPU\ncpu MHz\t\t: {mhz}\nflags\t\t: {flags}\n\n"
                           f"processor\t: 1\ncpu MHz\t\t: 1.0\nflags\t\t: fpu\n")  # fmt: skip
        monkeypatch.setattr(device, "CPUINFO", cpuinfo)
        freq = tmp_path / "cpuinfo_max_freq"
        if max_khz is None:
            freq.unlink(missing_ok=True)
        else:
            freq.write_text(f"{max_khz}\n")
        monkeypatch.setattr(peakmod, "CPUFREQ_MAX", freq)

    return make


def test_cpu_lanes_follow_the_widest_vector_flag():
    assert cpu_lanes({"avx512f", "avx2", "fma"}) == (16, "avx512f")
    assert cpu_lanes({"avx2", "fma"}) == (8, "avx2")
    assert cpu_lanes({"fma", "avx"}) == (8, "fma")
    assert cpu_lanes({"sse4_2"}) == (4, "no avx flag")
    assert cpu_lanes({"asimd"}) == (4, "no avx flag")


def test_the_cpu_formula_uses_cpu_mhz_without_cpufreq(fake_cpu):
    fake_cpu("fpu sse4_2 fma avx avx2", mhz="2596.130")
    peaks = hardware_peaks("cpu", cores=2)
    fp32 = peaks["float32"]
    assert fp32.flops == pytest.approx(2 * 2 * 8 * 2 * 2.59613e9)  # 166.2 GFLOP/s
    assert "/proc/cpuinfo cpu MHz" in fp32.source and "bench.fma_units, assumed" in fp32.source
    assert "8 float32 lanes (avx2)" in fp32.source
    assert peaks["tf32"] == fp32 and peaks["bf16"].flops is None  # no native bf16: no bf16 peak


def test_the_cpu_formula_prefers_cpufreq_max_and_counts_bf16_units(fake_cpu):
    fake_cpu("avx512f avx2 fma avx512_bf16", mhz="2000.0", max_khz="3500000")
    peaks = hardware_peaks("cpu", cores=4, fma_units=1)
    assert peaks["float32"].flops == pytest.approx(4 * 1 * 16 * 2 * 3.5e9)
    assert "cpufreq cpuinfo_max_freq" in peaks["float32"].source
    assert peaks["bf16"].flops == pytest.approx(2 * peaks["float32"].flops)
    fake_cpu("avx512f amx_bf16 avx512_bf16", mhz="2000.0")
    assert hardware_peaks("cpu", cores=2)["bf16"].flops == pytest.approx(2 * 1024 * 2e9)


def test_overrides_replace_the_formula(fake_cpu):
    fake_cpu("avx2 fma")
    peaks = hardware_peaks("cpu", cores=2, peak_flops=1e12, peak_flops_bf16=2e12)
    assert peaks["float32"] == peaks["tf32"] == Peak(1e12, "bench.peak_flops")
    assert peaks["bf16"] == Peak(2e12, "bench.peak_flops_bf16")


def test_gpu_peaks_come_from_the_table_by_name():
    sxm = gpu_peaks("NVIDIA H100 80GB HBM3")
    assert (sxm["float32"].flops, sxm["bf16"].flops) == (67e12, 989e12)
    assert gpu_peaks("NVIDIA H100 PCIe")["bf16"].flops == 756e12
    assert gpu_peaks("NVIDIA H200")["float32"].flops == 67e12
    assert gpu_peaks("NVIDIA A100-SXM4-80GB")["tf32"].flops == 156e12
    assert gpu_peaks("NVIDIA A10")["bf16"].flops == 125e12
    assert gpu_peaks("NVIDIA L40S")["bf16"].flops == 366e12 and gpu_peaks("NVIDIA L4")["bf16"].flops == 121e12
    unknown = gpu_peaks("Some GPU")
    assert unknown["float32"].flops is None and "bench.peak_flops" in unknown["float32"].source
    assert flops_ratio(1e12, unknown["float32"]) is None
    assert hardware_peaks("cuda", 1, gpu_name="Some GPU", peak_flops=5e12)["float32"].flops == 5e12


def test_no_ratio_exceeds_one_a_measured_rate_above_the_formula_raises_the_peak(fake_cpu):
    fake_cpu("avx2 fma", mhz="2000.0")  # a boost clock of 3 GHz would not be seen
    fp32 = hardware_peaks("cpu", cores=2)["float32"]
    assert fp32.flops == pytest.approx(128e9)
    measured = {"2048^3 float32 matmul": 150e9, "exact training step": 140e9}
    peak = fp32.at_least(measured)
    assert peak.flops == 150e9 and "raised to the measured 2048^3 float32 matmul" in peak.source
    for rate in measured.values():
        assert 0 < flops_ratio(rate, peak) <= 1
    assert fp32.at_least({"matmul": 100e9, "none": None}) is fp32  # below the formula: the formula stands
    with pytest.raises(ValueError, match="against a peak of"):
        flops_ratio(150e9, fp32)  # the formula alone would give 1.17: refused, never reported
