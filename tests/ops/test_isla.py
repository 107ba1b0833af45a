"""The fused ISLA op (lama/csrc) against its pure-PyTorch reference: values, gradients, op registration,
dispatch and the fallback when the build fails."""

from __future__ import annotations

import warnings

import pytest
import torch

from lama.ops import extension, isla
from lama.ops.isla import isla_modulate, isla_modulate_ext, isla_modulate_ref

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")),
]


def _inputs(dtype: torch.dtype, device: str, b=2, c=5, o=3, h=6, w=7, seed=0, requires_grad=False):
    """Random op inputs with masks normalised over objects as the ISLA norm makes them."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.rand(b, o, h, w, generator=gen, dtype=torch.float64)
    tensors = [
        torch.randn(b, c, h, w, generator=gen, dtype=torch.float64),
        raw / (raw.sum(1, keepdim=True) + 1e-4),
        torch.randn(b, o, c, generator=gen, dtype=torch.float64),
        torch.randn(b, o, c, generator=gen, dtype=torch.float64),
        torch.tensor(0.37, dtype=torch.float64),
    ]
    return [t.to(device=device, dtype=dtype).requires_grad_(requires_grad) for t in tensors]


def _explicit(x, m, g, be, a):
    """An independent loop form of the ISLA formula (no bmm): out[b,c,p] = x + a*(sum_o g m * x + sum_o be m)."""
    gamma = (g[:, :, :, None, None] * m[:, :, None]).sum(1)
    beta = (be[:, :, :, None, None] * m[:, :, None]).sum(1)
    return x + a * (gamma * x + beta)


TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def test_reference_matches_explicit_formula():
    args = _inputs(torch.float64, "cpu")
    torch.testing.assert_close(isla_modulate_ref(*args), _explicit(*args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [dict(), dict(b=1, c=1, o=1, h=1, w=1), dict(b=3, c=17, o=8, h=23, w=29)])
def test_forward_backward_match_reference(isla_ext, device, dtype, shape):
    args = _inputs(dtype, device, requires_grad=True, **shape)
    out = isla_modulate_ext(*args)
    ref = isla_modulate_ref(*args)
    assert out.dtype == dtype and out.shape == ref.shape
    torch.testing.assert_close(out, ref, **TOL[dtype])
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, args, grad)
    want = torch.autograd.grad(ref, args, grad)
    for name, g_got, g_want in zip(("x_hat", "masks", "gamma_obj", "beta_obj", "alpha"), got, want):
        assert g_got.shape == g_want.shape, name
        # alpha's gradient sums every pixel: allow for the longer float32 reduction.
        tol = dict(rtol=1e-4, atol=1e-4) if (name == "alpha" and dtype == torch.float32) else TOL[dtype]
        torch.testing.assert_close(g_got, g_want, **tol, msg=lambda m, n=name: f"grad {n}: {m}")


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_float64(isla_ext, device):
    args = _inputs(torch.float64, device, b=2, c=3, o=2, h=3, w=4, requires_grad=True)
    assert torch.autograd.gradcheck(isla_modulate_ext, args)


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16_close_to_float32(isla_ext, device):
    args32 = _inputs(torch.float32, device, c=8, o=4, h=8, w=8)
    out = isla_modulate_ext(*[t.bfloat16() for t in args32])
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), isla_modulate_ref(*args32), rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(isla_ext, device):
    args = _inputs(torch.float32, device, requires_grad=True)
    torch.library.opcheck(torch.ops.lama.isla_modulate.default, args)
    plain = _inputs(torch.float32, device)
    grad = torch.randn(2, 5, 6, 7, device=device)
    torch.library.opcheck(torch.ops.lama.isla_modulate_backward.default, [grad, *plain])


def test_mixed_dtypes_and_strides_are_promoted(isla_ext):
    x, m, g, be, a = _inputs(torch.float32, "cpu", c=4, h=5, w=5)
    x_cl = x.to(memory_format=torch.channels_last)
    out = isla_modulate_ext(x_cl, m, g.bfloat16(), be.bfloat16(), a.double())
    ref = isla_modulate_ref(x, m, g.bfloat16().float(), be.bfloat16().float(), a)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_torch_compile_fullgraph(isla_ext):
    args = _inputs(torch.float32, "cpu", c=4, o=2, h=4, w=4)
    compiled = torch.compile(isla_modulate_ext, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(*args), isla_modulate_ref(*args), rtol=1e-5, atol=1e-5)


def test_op_rejects_bad_shapes_with_named_argument(isla_ext):
    x, m, g, be, a = _inputs(torch.float32, "cpu")
    with pytest.raises(RuntimeError, match="gamma_obj"):
        torch.ops.lama.isla_modulate(x, m, g[:, :, :-1].contiguous(), be, a)
    with pytest.raises(ValueError, match="masks"):
        isla_modulate(x, m[:, :, :-1], g, be, a, impl="ext")


def test_dispatch_choices(isla_ext, monkeypatch):
    args = _inputs(torch.float64, "cpu")
    calls = []
    monkeypatch.setattr(isla, "isla_modulate_ext", lambda *a: calls.append("ext") or isla_modulate_ref(*a))
    isla_modulate(*args, impl="ref")
    assert calls == []
    isla_modulate(*args, impl="ext")
    assert calls == ["ext"]
    monkeypatch.setattr(isla, "AUTO_EXT_DEVICES", frozenset({"cpu"}))
    isla_modulate(*args, impl="auto")
    assert calls == ["ext", "ext"]
    previous = isla.get_impl()
    try:
        isla.set_impl("ref")
        isla_modulate(*args)
        assert calls == ["ext", "ext"]
    finally:
        isla.set_impl(previous)
    with pytest.raises(ValueError, match="impl"):
        isla_modulate(*args, impl="cuda")


def test_failed_build_falls_back_with_one_warning(monkeypatch):
    def broken_build(cuda: bool) -> None:
        raise RuntimeError("simulated compiler failure")

    monkeypatch.setattr(extension, "_build", broken_build)
    monkeypatch.setattr(extension, "_state", {})
    args = _inputs(torch.float64, "cpu")
    with pytest.warns(
        RuntimeWarning, match="falling back to the pure-PyTorch reference.*simulated compiler failure"
    ):
        out = isla_modulate(*args, impl="ext")
    torch.testing.assert_close(out, isla_modulate_ref(*args), rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call must stay silent
        isla_modulate(*args, impl="ext")
    assert "simulated compiler failure" in extension.build_error()


def test_failed_cuda_build_keeps_the_cpu_kernels(monkeypatch):
    built = []

    def build(cuda: bool) -> None:
        if cuda:
            raise RuntimeError("simulated nvcc failure")
        built.append("cpu")

    monkeypatch.setattr(extension, "_build", build)
    monkeypatch.setattr(extension, "_state", {})
    monkeypatch.setattr(extension, "with_cuda", lambda: True)
    with pytest.warns(RuntimeWarning, match="could not build the CUDA kernels.*simulated nvcc failure"):
        assert extension.load_extension()
    assert built == ["cpu"] and not extension.has_cuda_kernels()
