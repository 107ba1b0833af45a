"""The authors' training initialisation and the gates exposed for logging."""

import torch

from lama.models import build_discriminator, build_generator, gate_summary, init_weights, learnt_gates


def test_init_is_orthogonal_with_zero_bias():
    torch.manual_seed(0)
    for net in (build_generator(64, 10, ch=4), build_discriminator(64, 10, ch=4)):
        init_weights(net)
        checked = 0
        for name, p in net.named_parameters():
            if p.dim() > 1:
                w = p.detach().reshape(p.shape[0], -1)
                gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
                assert torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-4), name
                checked += 1
            elif name.endswith("bias"):
                assert p.abs().max() == 0, name
        assert checked > 10
    # The un-normalised weight of a spectral-norm layer is what gets initialised.
    assert "fc.parametrizations.weight.original" in dict(build_generator(64, 10, ch=4).named_parameters())


def test_learnt_gates_cover_every_kind():
    G = build_generator(64, 10, ch=4)
    gates = learnt_gates(G)
    assert gates["res.0.b1.rho"] == torch.tensor(0.1).item()
    assert gates["res.0.alpha"] == 0.0 and gates["mask_regress.adapter.mask_adjust_alpha"] == 0.0
    assert set(gate_summary(G)) == {"alpha", "rho", "mask_adjust_alpha"}
    d_gates = learnt_gates(build_discriminator(64, 10, ch=4))
    assert "block1.alpha" in d_gates and "block_obj4.alpha" in d_gates


def test_parameter_names_carry_the_optimiser_group_substrings():
    g_names = [n for n, _ in build_generator(128, 10, ch=4).named_parameters()]
    assert sum("mapping" in n for n in g_names) == 6  # three SN-Linear layers, weight and bias each
    assert sum("rho" in n for n in g_names) == 10  # two ISLA norms in each of five blocks
    d_names = [n for n, _ in build_discriminator(128, 10, ch=4).named_parameters()]
    assert sum("alpha" in n for n in d_names) == 9  # six image blocks, three object blocks
