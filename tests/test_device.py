"""The shared device picker: auto, explicit names, and clear errors."""

from unittest import mock

import pytest
import torch

from lama.device import pick_device, single_threaded


def test_auto_follows_cuda_availability():
    with mock.patch.object(torch.cuda, "is_available", return_value=False):
        assert pick_device("auto") == torch.device("cpu")
        assert pick_device(None) == torch.device("cpu")
    with mock.patch.object(torch.cuda, "is_available", return_value=True):
        assert pick_device("auto") == torch.device("cuda")


def test_explicit_cpu_and_counted_gpus():
    assert pick_device("cpu") == torch.device("cpu")
    with mock.patch.object(torch.cuda, "is_available", return_value=True), \
            mock.patch.object(torch.cuda, "device_count", return_value=2):  # fmt: skip
        assert pick_device("cuda:1") == torch.device("cuda", 1)
        with pytest.raises(ValueError, match=r"bench.device=cuda:2 but only 2 GPU"):
            pick_device("cuda:2", "bench.device")


@pytest.mark.parametrize("name", ["tpu", "gpu", "mps"])
def test_unknown_names_are_refused_with_the_field(name):
    with pytest.raises(ValueError, match=rf"metrics.device must be auto, cpu, cuda or cuda:N, got '{name}'"):
        pick_device(name, "metrics.device")


def test_cuda_without_a_gpu_is_refused():
    with mock.patch.object(torch.cuda, "is_available", return_value=False):
        with pytest.raises(ValueError, match="no GPU is visible"):
            pick_device("cuda", "bench.device")


def test_cpu_info_reads_the_first_cpus_fields(tmp_path, monkeypatch):
    from lama import device

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Xeon A\nflags\t\t: fpu avx512f\n\n"
                    "processor\t: 1\nmodel name\t: Xeon B\nflags\t\t: fpu\n")  # fmt: skip
    monkeypatch.setattr(device, "CPUINFO", info)
    assert device.cpu_info("model name") == "Xeon A"
    assert device.cpu_info("flags", "Features") == "fpu avx512f"
    assert device.cpu_info("Features") == ""
    monkeypatch.setattr(device, "CPUINFO", tmp_path / "absent")
    assert device.cpu_info("model name") == ""


def test_single_threaded_runs_one_thread_inside_and_restores_the_count_even_on_error():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), single_threaded():
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
