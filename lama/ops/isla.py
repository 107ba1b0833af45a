"""ISLA modulation: mix per-object gamma and beta into every pixel through the normalised masks
and apply them to the normalised features. A pure-PyTorch reference plus dispatch to the fused
C++/CUDA op `torch.ops.lama.isla_modulate` (lama/csrc), in the manner of stylegan2-ada's custom ops."""

from __future__ import annotations

import os

import torch

from lama.ops import extension

IMPLS = ("auto", "ref", "ext")
# Devices on which impl="auto" picks the fused op: only where the benchmark showed a gain.
AUTO_EXT_DEVICES: frozenset[str] = frozenset()
_impl = os.environ.get("LAMA_OPS_IMPL", "auto")
_registered = False


def set_impl(impl: str) -> None:
    """Choose the module-wide implementation: "auto" (fused op where it pays off), "ref" or "ext"."""
    global _impl
    _impl = _check_impl(impl)


def get_impl() -> str:
    """The module-wide implementation chosen by set_impl or $LAMA_OPS_IMPL."""
    return _impl


def _check_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"lama.ops: impl must be one of {IMPLS}, got {impl!r}")
    return impl


def isla_modulate_ref(
    x_hat: torch.Tensor,
    masks: torch.Tensor,
    gamma_obj: torch.Tensor,
    beta_obj: torch.Tensor,
    alpha: torch.Tensor,
) -> torch.Tensor:
    """Pure-PyTorch reference. x_hat (B, C, H, W) normalised features; masks (B, O, H, W) already
    normalised over objects; gamma_obj, beta_obj (B, O, C); alpha a scalar tensor (already clamped).
    Returns x_hat + alpha * (gamma * x_hat + beta) with gamma(p) = sum_o gamma_obj[o] * masks[o](p)."""
    b, c, h, w = x_hat.shape
    flat_masks = masks.reshape(b, masks.shape[1], h * w)
    gamma = torch.bmm(gamma_obj.transpose(1, 2), flat_masks).view(b, c, h, w)
    beta = torch.bmm(beta_obj.transpose(1, 2), flat_masks).view(b, c, h, w)
    return x_hat + alpha * (gamma * x_hat + beta)


def _check_shapes(
    x_hat: torch.Tensor,
    masks: torch.Tensor,
    gamma_obj: torch.Tensor,
    beta_obj: torch.Tensor,
    alpha: torch.Tensor,
) -> None:
    """Raise ValueError naming the argument whose shape does not fit."""
    if x_hat.dim() != 4:
        raise ValueError(f"isla_modulate: x_hat must be (B, C, H, W), got {tuple(x_hat.shape)}")
    b, c, h, w = x_hat.shape
    if masks.dim() != 4 or masks.shape[0] != b or masks.shape[2:] != (h, w):
        raise ValueError(f"isla_modulate: masks must be ({b}, O, {h}, {w}), got {tuple(masks.shape)}")
    want = (b, masks.shape[1], c)
    for name, t in (("gamma_obj", gamma_obj), ("beta_obj", beta_obj)):
        if tuple(t.shape) != want:
            raise ValueError(f"isla_modulate: {name} must be {want}, got {tuple(t.shape)}")
    if alpha.numel() != 1:
        raise ValueError(f"isla_modulate: alpha must hold one value, got shape {tuple(alpha.shape)}")


def _register() -> None:
    """Give the C++ op its fake (meta) kernels for torch.compile and its autograd formula."""
    global _registered
    if _registered:
        return

    @torch.library.register_fake("lama::isla_modulate")
    def _(x_hat, masks, gamma_obj, beta_obj, alpha):
        return torch.empty_like(x_hat, memory_format=torch.contiguous_format)

    @torch.library.register_fake("lama::isla_modulate_backward")
    def _(grad, x_hat, masks, gamma_obj, beta_obj, alpha):
        return tuple(
            torch.empty_like(t, memory_format=torch.contiguous_format)
            for t in (x_hat, masks, gamma_obj, beta_obj, alpha)
        )

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward(ctx, grad):
        grads = torch.ops.lama.isla_modulate_backward(grad.contiguous(), *ctx.saved_tensors)
        return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad))

    torch.library.register_autograd("lama::isla_modulate", backward, setup_context=setup_context)
    _registered = True


def ext_available() -> bool:
    """Build (first call only) and register the fused op; False, after one warning, when that fails."""
    if not extension.load_extension():
        return False
    _register()
    return True


def isla_modulate_ext(
    x_hat: torch.Tensor,
    masks: torch.Tensor,
    gamma_obj: torch.Tensor,
    beta_obj: torch.Tensor,
    alpha: torch.Tensor,
) -> torch.Tensor:
    """The fused op (the extension must be loaded): inputs promoted to one dtype, made contiguous."""
    dtype = torch.promote_types(
        torch.promote_types(x_hat.dtype, masks.dtype), torch.promote_types(gamma_obj.dtype, beta_obj.dtype)
    )
    args = [t.to(dtype=dtype).contiguous() for t in (x_hat, masks, gamma_obj, beta_obj)]
    a = alpha.to(device=x_hat.device, dtype=dtype).reshape(())
    return torch.ops.lama.isla_modulate(*args, a)


def isla_modulate(
    x_hat: torch.Tensor,
    masks: torch.Tensor,
    gamma_obj: torch.Tensor,
    beta_obj: torch.Tensor,
    alpha: torch.Tensor,
    impl: str | None = None,
) -> torch.Tensor:
    """ISLA modulation (shapes as in isla_modulate_ref). impl: "ref", "ext" (fused op, falls back to the
    reference with one warning when it cannot be built) or "auto"/None (the module setting, see set_impl)."""
    impl = _check_impl(impl or _impl)
    if impl == "auto":
        impl = "ext" if x_hat.device.type in AUTO_EXT_DEVICES else "ref"
    if impl == "ref":
        return isla_modulate_ref(x_hat, masks, gamma_obj, beta_obj, alpha)
    _check_shapes(x_hat, masks, gamma_obj, beta_obj, alpha)
    if not ext_available() or (x_hat.is_cuda and not extension.has_cuda_kernels()):
        return isla_modulate_ref(x_hat, masks, gamma_obj, beta_obj, alpha)
    return isla_modulate_ext(x_hat, masks, gamma_obj, beta_obj, alpha)
