"""Spectral normalisation with a fused backward: the same parametrization as
torch.nn.utils.parametrizations.spectral_norm (same buffers, state-dict names, init and one power
iteration per training forward, same forward arithmetic), whose backward through W / sigma(W) takes
three passes over the weight instead of autograd's eight or so (div, div, mul, neg, sum, outer, add)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


class _DivideBySigma(torch.autograd.Function):
    """W / sigma with sigma = u . (W_mat v), u and v constants (already updated by the power method)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        sigma = torch.vdot(u, torch.mv(weight.flatten(1), v))  # the same ops as torch's parametrization
        ctx.save_for_backward(weight, u, v, sigma)
        return weight / sigma

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        weight, u, v, sigma = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        # d(W/s)/dW = 1/s, d(W/s)/ds = -W/s^2 and ds/dW = u v^T, so
        # dL/dW = G / s - (<G, W> / s^2) u v^T.
        grad_w = (grad / sigma).contiguous()  # no copy unless the incoming gradient is strided
        coef = torch.vdot(grad.reshape(-1), weight.reshape(-1)) / sigma / sigma
        grad_w.view(weight.shape[0], -1).addr_(u * -coef, v)
        return grad_w, None, None


class FusedSpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrization with the fused W / sigma backward on the float32 path;
    under autocast, for 1-D or non-contiguous weights, or dim != 0 it defers to torch's own forward."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if (
            weight.ndim == 1
            or self.dim != 0
            or not weight.is_contiguous()
            or torch.is_autocast_enabled(weight.device.type)
        ):
            return super().forward(weight)
        if self.training:
            self._power_method(weight.flatten(1), self.n_power_iterations)
        # Clones: the next forward's power iteration updates the buffers in place before this backward.
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        return _DivideBySigma.apply(weight, u, v)


def spectral_norm(module: nn.Module, name: str = "weight", eps: float = 1e-12) -> nn.Module:
    """Register FusedSpectralNorm on `module.<name>` (one power iteration per training forward); the
    state-dict names are torch's: parametrizations.<name>.original and parametrizations.<name>.0._u/_v."""
    weight = getattr(module, name)
    dim = 1 if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, FusedSpectralNorm(weight, 1, dim, eps))
    return module
