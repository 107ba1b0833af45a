"""The fused spectral norm is torch's parametrization: same state, forward and gradients."""

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from lama.models.spectral import FusedSpectralNorm, spectral_norm


def _pair(make, dtype=torch.float32):
    torch.manual_seed(0)
    ours = spectral_norm(make().to(dtype))
    torch.manual_seed(0)
    theirs = torch_spectral_norm(make().to(dtype))
    return ours, theirs


def _assert_close_scaled(actual, expected, rel, msg):
    """Equal up to `rel` of the tensor's largest magnitude: elements where terms cancel are small, and
    their rounding depends on the CPU's vector width (AVX2 vs AVX-512 summation order)."""
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=rel, atol=rel * scale, msg=msg)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Conv2d(6, 5, 3, padding=1), (2, 6, 7, 7)),
        (lambda: nn.Linear(9, 4), (3, 9)),
    ],
)
def test_matches_torch_spectral_norm_over_training_steps(make, shape):
    # float64, so that the fused and autograd's backward agree far below any tolerance worth testing,
    # whatever order the CPU's kernels sum in (float32 differs by ~1e-7 of the largest gradient).
    ours, theirs = _pair(make, torch.float64)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key  # same init, same power iterations
    assert isinstance(ours.parametrizations.weight[0], FusedSpectralNorm)
    for step in range(3):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(step), dtype=torch.float64)
        # Two forwards before one backward, as a discriminator on real and fake images.
        out_ours = ours(x).square().sum() + ours(x * 2).sin().sum()
        out_theirs = theirs(x).square().sum() + theirs(x * 2).sin().sum()
        if step == 0:  # the forward arithmetic is torch's, bit for bit (later the gradients' rounding enters)
            assert torch.equal(out_ours, out_theirs)
        _assert_close_scaled(out_ours, out_theirs, 1e-12, "output")
        ours.zero_grad()
        theirs.zero_grad()
        out_ours.backward()
        out_theirs.backward()
        for (name, p_ours), p_theirs in zip(ours.named_parameters(), theirs.parameters()):
            _assert_close_scaled(p_ours.grad, p_theirs.grad, 1e-12, name)
        with torch.no_grad():  # an optimiser step, so that sigma moves between iterations
            for p_ours, p_theirs in zip(ours.parameters(), theirs.parameters()):
                p_ours -= 0.1 * p_ours.grad
                p_theirs -= 0.1 * p_theirs.grad


@pytest.mark.parametrize("make, shape", [(lambda: nn.Conv2d(6, 5, 3, padding=1), (2, 6, 7, 7))])
def test_float32_gradients_match_to_float32_rounding(make, shape):
    ours, theirs = _pair(make)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    (ours(x).square().sum() + ours(x * 2).sin().sum()).backward()
    (theirs(x).square().sum() + theirs(x * 2).sin().sum()).backward()
    for (name, p_ours), p_theirs in zip(ours.named_parameters(), theirs.parameters()):
        _assert_close_scaled(p_ours.grad, p_theirs.grad, 1e-5, name)


def test_gradcheck_float64():
    torch.manual_seed(0)
    conv = spectral_norm(nn.Conv2d(3, 4, 3).double()).eval()  # eval: u, v fixed, so W -> W / sigma is a function
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    weight = conv.parametrizations.weight.original

    def f(w):
        return nn.functional.conv2d(x, conv.parametrizations.weight[0](w))

    assert torch.autograd.gradcheck(f, (weight.detach().clone().requires_grad_(True),))


def test_frozen_weight_still_passes_gradient_to_the_input():
    conv = spectral_norm(nn.Conv2d(3, 4, 3))
    conv.requires_grad_(False)
    x = torch.randn(1, 3, 5, 5, requires_grad=True)
    conv(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert conv.parametrizations.weight.original.grad is None
