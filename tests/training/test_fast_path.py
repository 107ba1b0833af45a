"""The fast training path chosen from model.fast and the hardware: bf16 only where native, channels_last with
bf16, TF32 only on the fast path, the choice printed once and recorded; the exact path is float32."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
import torch
from hydra.utils import instantiate

from lama.training import LamaGAN
from lama.training import fast as fastmod
from lama.training.fast import FastPath, apply_fp32_precision, choose_fast_path, cpu_native_bf16, is_compiled
from tests.training.conftest import CONFIGS, compose_cfg, tiny_batch
from tests.training.test_module import NUM_CLASSES, fit, tiny_module

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
REAL_NATIVE_BF16 = fastmod.native_bf16  # imported before tests/conftest.py's no_native_bf16 patches it


class DtypeRecorder:
    """Records the dtype D's first conv produced, per forward."""

    def __init__(self, module: LamaGAN) -> None:
        self.dtypes: list[torch.dtype] = []
        conv = next(m for m in module.D.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda _m, _i, out: self.dtypes.append(out.dtype))


def _losses(trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.logged_metrics.items() if k.startswith("train/") and "loss" in k}


def _native(value: bool):
    return mock.patch.object(fastmod, "native_bf16", return_value=value)


def test_auto_on_a_native_bf16_cpu_trains_in_bf16_channels_last(caplog):
    module = tiny_module(d_only_iters=0)
    seen = DtypeRecorder(module)
    with _native(True), caplog.at_level(logging.INFO, logger="lama.training.module"):
        trainer = fit(module, [tiny_batch(seed=s, num_classes=NUM_CLASSES) for s in range(3)])
    assert module.iteration == 3
    losses = _losses(trainer)
    assert {"train/d_loss", "train/g_loss"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert seen.dtypes and set(seen.dtypes) == {torch.bfloat16}
    convs = [m for m in module.G.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert all(p.dtype == torch.float32 for p in module.parameters())  # master weights stay float32
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fast path:")]
    assert lines == ["fast path: bf16 on (native bf16 on this CPU), channels_last on (with bf16), compile off, isla=ref"]
    assert module.hparams.fast == {"enabled": True, "bf16": True, "channels_last": True, "compile": False, "isla_impl": "ref"}


def test_auto_without_native_bf16_is_the_exact_path(caplog):
    module = tiny_module(d_only_iters=0)
    seen = DtypeRecorder(module)
    with _native(False), caplog.at_level(logging.INFO, logger="lama.training.module"):
        fit(module, [tiny_batch(num_classes=NUM_CLASSES)])
    assert set(seen.dtypes) == {torch.float32} and module.fast.exact
    assert "fast path: bf16 off (no native bf16 on this CPU), channels_last off (only wins with bf16)" in caplog.text
    assert module.hparams.fast["enabled"] is False  # the choice, not "auto"


def test_enabled_false_is_float32():
    module = tiny_module(d_only_iters=0, fast={"enabled": False})
    seen = DtypeRecorder(module)
    with _native(True):
        fit(module, [tiny_batch(num_classes=NUM_CLASSES)])
    assert set(seen.dtypes) == {torch.float32} and module.fast == FastPath()


def test_lightning_bf16_mixed_precision_autocasts_the_manual_steps():
    import pytorch_lightning as pl

    module = tiny_module(d_only_iters=0, fast={"enabled": False})
    seen = DtypeRecorder(module)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, precision="bf16-mixed", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    from tests.training.test_module import Batches

    trainer.fit(module, train_dataloaders=Batches([tiny_batch(seed=s, num_classes=NUM_CLASSES) for s in range(2)]))
    assert set(seen.dtypes) == {torch.bfloat16} and module.iteration == 2
    assert all(torch.isfinite(torch.tensor(v)) for v in _losses(trainer).values())


@pytest.mark.parametrize(
    ("fast", "native", "expected"),
    [
        ({}, True, (True, True)),
        ({}, False, (False, False)),
        ({"enabled": True}, True, (True, True)),
        ({"enabled": "auto", "channels_last": True}, False, (False, True)),
        ({"enabled": True, "bf16": False}, True, (False, True)),
        ({"enabled": False, "bf16": True}, True, (False, False)),
    ],
)
def test_choice_on_cpu(fast, native, expected):
    with _native(native):
        path = choose_fast_path(fast, CPU)
    assert (path.bf16, path.channels_last) == expected
    assert not path.tf32 and path.isla_impl in (None, "ref")


@pytest.mark.parametrize("fast", [{"bf16": True}, {"enabled": True}])
def test_bf16_without_native_support_warns(fast):
    with _native(False), pytest.warns(UserWarning, match="no native bf16.*much slower"):
        assert choose_fast_path(fast, CPU).bf16


def test_choice_on_cuda_by_compute_capability():
    real = mock.patch.object(fastmod, "native_bf16", REAL_NATIVE_BF16)
    with real, mock.patch.object(torch.cuda, "get_device_capability", return_value=(9, 0)):
        ampere = choose_fast_path({}, CUDA)
        exact = choose_fast_path({"enabled": False}, CUDA)
    assert ampere.bf16 and ampere.channels_last and ampere.tf32
    assert ampere.describe(CUDA).startswith("fast path: bf16 on (native bf16 on this GPU)") and "tf32 on" in ampere.describe(CUDA)
    assert not (exact.bf16 or exact.tf32)
    with real, mock.patch.object(torch.cuda, "get_device_capability", return_value=(7, 0)):
        volta = choose_fast_path({}, CUDA)
    assert not (volta.bf16 or volta.channels_last or volta.tf32) and volta.exact


@pytest.fixture
def restore_precision():
    saved = torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    yield
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved


def test_exact_path_turns_tf32_off_on_cuda_and_the_fast_path_on(restore_precision):
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # PyTorch's default for cuDNN convolutions
    apply_fp32_precision(FastPath(), CUDA)
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    apply_fp32_precision(FastPath(bf16=True, tf32=True), CUDA)
    assert torch.backends.cuda.matmul.fp32_precision == torch.backends.cudnn.conv.fp32_precision == "tf32"
    apply_fp32_precision(FastPath(), CPU)  # nothing to do on the CPU
    assert torch.backends.cudnn.conv.fp32_precision == "tf32"


def test_setup_applies_the_exact_precision(restore_precision):
    module = tiny_module(fast={"enabled": False})
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    module.trainer = mock.MagicMock(global_rank=0)
    with mock.patch.object(torch.cuda, "get_device_capability", return_value=(9, 0)):
        module._choose_fast_path(CUDA)
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"


@pytest.mark.parametrize(
    ("probes", "flags", "native"),
    [(False, {"avx2", "avx512f", "avx512_vnni"}, False), (False, {"avx512f", "avx512_bf16"}, True),
     (False, {"amx_bf16", "amx_tile"}, True), (True, set(), True), (False, {"asimd", "bf16"}, True)],
)  # fmt: skip
def test_native_cpu_bf16_is_read_from_the_cpu_features_not_onednn(probes, flags, native):
    with mock.patch.object(torch.cpu, "_is_avx512_bf16_supported", return_value=probes), \
            mock.patch.object(torch.cpu, "_is_amx_tile_supported", return_value=False), \
            mock.patch.object(fastmod, "_cpu_flags", return_value=flags), \
            mock.patch.object(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", return_value=True):  # fmt: skip
        assert cpu_native_bf16() is native


def test_config_default_is_auto_and_bad_values_are_refused(tmp_path):
    module = instantiate(compose_cfg(["model.ch=4", "model.fast.channels_last=false"], tmp_path).model)
    assert module.fast_config == {"enabled": "auto", "bf16": "auto", "channels_last": False, "compile": False, "isla_impl": "auto"}
    assert (CONFIGS / "model/lama.yaml").read_text().count("fast:") == 1
    with pytest.raises(ValueError, match="unknown model.fast key"):
        tiny_module(fast={"enabled": True, "bf17": True})
    with pytest.raises(ValueError, match="isla_impl"):
        tiny_module(fast={"isla_impl": "cuda"})
    with pytest.raises(ValueError, match=r"model.fast.bf16='yes'; choose true, false or auto"):
        tiny_module(fast={"bf16": "yes"})


def test_run_py_config_checks_accept_auto_and_refuse_other_words(tmp_path):
    from lama.config_checks import ConfigValueError, check_values

    check_values(compose_cfg([], tmp_path))  # the default, enabled=auto
    check_values(compose_cfg(["model.fast.enabled=true", "model.fast.bf16=false"], tmp_path))
    with pytest.raises(ConfigValueError, match="model.fast.channels_last must be one of true, false, auto"):
        check_values(compose_cfg(["model.fast.channels_last=yes"], tmp_path))


def test_compile_computes_each_spectral_normalised_weight_once_per_block():
    from lama.models.spectral import spectral_norm
    from lama.training.fast import forward_context

    conv = spectral_norm(torch.nn.Conv2d(3, 4, 3))
    x = torch.randn(1, 3, 5, 5)

    def power_iterations(fast: FastPath) -> int:
        u = conv.parametrizations.weight[0]._u
        before, count = u.clone(), 0
        with forward_context(fast, CPU):
            for _ in range(2):  # the real and the fake pass of a D step
                conv(x)
                count += int(not torch.equal(u, before))
                before = u.clone()
        return count

    assert power_iterations(FastPath()) == 2  # eager: one per pass, as the authors' training
    assert power_iterations(FastPath(compile=True)) == 1


def test_compile_is_off_unless_asked_and_keeps_state_dict_names():
    from lama.training.fast import prepare_module

    with _native(True):
        assert not choose_fast_path({}, CPU).compile and choose_fast_path({"compile": True}, CPU).compile
    assert not choose_fast_path({"enabled": False, "compile": True}, CPU).compile
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    keys = list(net.state_dict())
    prepare_module(net, FastPath(compile=True))
    assert list(net.state_dict()) == keys and is_compiled(net)
    with pytest.raises(ValueError, match="model.fast.compile='auto'; choose true or false"):
        tiny_module(fast={"compile": "auto"})


@pytest.mark.slow
def _d_step_grads(D, batches, fast: FastPath) -> list[torch.Tensor]:
    """Gradients of D after a D step per batch as training takes it: a real and a fake pass in one block."""
    from lama.training.fast import forward_context

    for real, fake in batches:
        D.zero_grad(set_to_none=True)
        with forward_context(fast, CPU):
            losses = [t.mean() for t in (*D(real["image"], real["boxes"], real["labels"]),
                                         *D(fake["image"], real["boxes"], real["labels"]))]  # fmt: skip
        sum(losses).backward()
    return [p.grad.clone() for p in D.parameters()]


# slow: an inductor compile of D, 1-2 min of the 10-minute CI budget (120 s on 2 shared vCPUs of a native-bf16 EPYC, 2026-12-07);
# make test-full runs it, with the G-and-D compile test below
@pytest.mark.slow
def test_compiled_d_trains_with_spectral_norm_as_eager_does():
    """Compiled (inductor, as model.fast.compile), D's backward failed when the power iteration of the fake
    pass updated the buffers the real pass had saved; each weight is now normalised once per block."""
    from lama.training.fast import prepare_module

    fast = FastPath(compile=True)
    batches = [(tiny_batch(seed=2 * s, num_classes=NUM_CLASSES), tiny_batch(seed=2 * s + 1, num_classes=NUM_CLASSES))
               for s in range(2)]  # fmt: skip
    eager = tiny_module().D
    compiled = prepare_module(tiny_module().D, fast)  # the same initial weights (seeded)
    expected = _d_step_grads(eager, batches, fast)
    got = _d_step_grads(compiled, batches, fast)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # G and D compiled by inductor: 5.5 min on 2 idle vCPUs with a cold compile cache
def test_compiled_fast_path_trains_with_spectral_norm_in_d():
    module = tiny_module(d_only_iters=0, fast={"enabled": True, "bf16": False, "channels_last": False, "compile": True})
    trainer = fit(module, [tiny_batch(seed=s, num_classes=NUM_CLASSES) for s in range(2)])
    assert module.iteration == 2 and module.fast.compile
    assert all(torch.isfinite(torch.tensor(v)) for v in _losses(trainer).values())
