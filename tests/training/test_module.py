"""The GAN module's recipe: loss values, step schedule, learning rates, EMA, non-finite stop."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from lama.training import LamaGAN, NonFiniteLossError, PeriodicCheckpoint
from lama.training.ema import ema_update, make_ema
from lama.training.losses import d_hinge_loss, d_hinge_terms, g_hinge_loss, g_hinge_terms
from tests.training.conftest import CONFIGS, tiny_batch

NUM_CLASSES = 10


def tiny_module(**kwargs) -> LamaGAN:
    torch.manual_seed(0)
    return LamaGAN(resolution=64, num_classes=NUM_CLASSES, ch=4, **kwargs)


class Batches:
    """A fixed sequence of batches as a (re-iterable) training loader."""

    def __init__(self, batches: list[dict]) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def fit(module: LamaGAN, batches: list[dict], callbacks=(), epochs: int = 1) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )
    trainer.fit(module, train_dataloaders=Batches(batches))
    return trainer


def test_hinge_losses_match_the_authors_formula():
    g = torch.Generator().manual_seed(1)
    ir, orr, if_, of = (torch.randn(n, 1, generator=g) * 2 for n in (4, 7, 4, 7))
    terms = d_hinge_terms(ir, orr, if_, of)
    expected = 1.0 * (torch.clamp(1 - orr, min=0).mean() + torch.clamp(1 + of, min=0).mean()) + 0.1 * (
        torch.clamp(1 - ir, min=0).mean() + torch.clamp(1 + if_, min=0).mean()
    )
    torch.testing.assert_close(d_hinge_loss(terms, 1.0, 0.1), expected)
    gt = g_hinge_terms(if_, of)
    torch.testing.assert_close(g_hinge_loss(gt, 1.0, 0.1), -(1.0 * of.mean() + 0.1 * if_.mean()))


def test_optimizers_use_the_per_parameter_rates_from_the_config():
    cfg = OmegaConf.load(CONFIGS / "model" / "lama.yaml")
    cfg.resolution, cfg.num_classes, cfg.ch = 64, NUM_CLASSES, 4
    module = instantiate(cfg)
    opt_g, opt_d = module.configure_optimizers()[0]
    for opt in (opt_g, opt_d):
        assert isinstance(opt, torch.optim.Adam)
        assert all(tuple(grp["betas"]) == (0.0, 0.999) for grp in opt.param_groups)
    lr_of = {}
    for prefix, opt, net in (("G", opt_g, module.G), ("D", opt_d, module.D)):
        ids = {id(p): n for n, p in net.named_parameters()}
        for grp in opt.param_groups:
            for p in grp["params"]:
                lr_of[(prefix, ids[id(p)])] = grp["lr"]
        assert len([k for k in lr_of if k[0] == prefix]) == len(ids), "every parameter is optimised"
    for (net, name), lr in lr_of.items():
        if net == "G":
            want = 1e-5 if ("mapping" in name or "rho" in name) else 1e-4
        else:
            want = 6e-5 if "alpha" in name else 3e-4
        assert lr == pytest.approx(want), (net, name)
    assert any("rho" in n for (_, n) in lr_of) and any("mapping" in n for (_, n) in lr_of)


def test_d_only_iterations_then_one_g_step_per_iteration():
    module = tiny_module(d_only_iters=2)
    g_before = [p.detach().clone() for p in module.G.parameters()]
    batches = [tiny_batch(2, 3, num_classes=NUM_CLASSES, seed=i) for i in range(5)]
    trainer = fit(module, batches[:3])
    # batch indices 0, 1, 2 do not exceed d_only_iters=2: no generator update at all
    assert module.iteration == 3 and trainer.global_step == 3
    assert all(torch.equal(a, b) for a, b in zip(g_before, module.G.parameters()))
    module2 = tiny_module(d_only_iters=2)
    trainer = fit(module2, batches)
    # indices 3 and 4 add one G step each: global_step counts optimiser steps, iteration GAN iterations
    assert module2.iteration == 5 and trainer.global_step == 5 + 2
    assert any(not torch.equal(a, b) for a, b in zip(g_before, module2.G.parameters()))


def test_discriminator_loss_falls_on_a_fixed_batch_when_only_d_trains():
    module = tiny_module(d_only_iters=10_000)
    module.optimizer_d = lambda params: torch.optim.Adam(params, lr=2e-3, betas=(0.0, 0.999))
    module.optimizer_d.keywords = {"lr": 2e-3}
    losses = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(trainer.callback_metrics["train/d_loss"]))

    batch = tiny_batch(4, 3, num_classes=NUM_CLASSES, seed=3)
    fit(module, [batch] * 20, callbacks=[Record()])
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.5 * first, f"D loss did not fall: {losses}"


def test_ema_is_an_exponential_average_and_is_what_gets_saved():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    ema = make_ema(a)
    old = ema.weight.detach().clone()
    ema_update(ema, b, decay=0.9)
    torch.testing.assert_close(ema.weight, 0.9 * old + 0.1 * b.weight.detach())
    assert not any(p.requires_grad for p in ema.parameters())

    module = tiny_module(d_only_iters=0, ema={"enabled": True, "decay": 0.5})
    fit(module, [tiny_batch(2, 3, num_classes=NUM_CLASSES, seed=i) for i in range(3)])
    record = module.generator_record()
    ema_state = module.G_ema.state_dict()
    assert all(torch.equal(record["state_dict"][k], ema_state[k]) for k in ema_state)
    name = "fc.parametrizations.weight.original"
    assert not torch.equal(module.G_ema.state_dict()[name], module.G.state_dict()[name])


def test_non_finite_loss_stops_naming_the_term_and_keeps_the_last_checkpoint(tmp_path):
    module = tiny_module(d_only_iters=0)
    batches = [tiny_batch(2, 3, num_classes=NUM_CLASSES, seed=i) for i in range(4)]
    batches[3]["image"][0, 0, 0, 0] = float("nan")
    ckpt = PeriodicCheckpoint(str(tmp_path), every_n_iterations=2, every_n_epochs=0)
    with pytest.raises(NonFiniteLossError, match=r"train/d_loss=nan.* at iteration 3 \(epoch 0, batch 3"):
        fit(module, batches, callbacks=[ckpt])
    state = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["lama_training"]["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    assert not list(tmp_path.glob("*.tmp"))


def test_scheduler_decays_at_the_configured_epochs():
    module = tiny_module(
        d_only_iters=0,
        scheduler=lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 2], gamma=0.1),
    )
    seen = []

    class Record(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            seen.append(trainer.optimizers[1].param_groups[0]["lr"])

    fit(module, [tiny_batch(2, 3, num_classes=NUM_CLASSES)], callbacks=[Record()], epochs=3)
    assert seen == pytest.approx([3e-4, 3e-5, 3e-6])


def test_hinge_terms_are_relu_means():
    x = torch.tensor([[-2.0], [0.5], [3.0]])
    t = d_hinge_terms(x, x, x, x)
    assert t["d_loss_img_real"] == pytest.approx(F.relu(1 - x).mean().item())
    assert t["d_loss_img_fake"] == pytest.approx(F.relu(1 + x).mean().item())


def _gates(net: torch.nn.Module) -> dict[str, float]:
    return {n: float(p) for n, p in net.named_parameters() if p.dim() == 0 and n.endswith(".alpha")}


def test_gate_init_opens_only_the_named_networks_gates_and_the_ema_copy_starts_equal():
    authors = tiny_module()
    assert _gates(authors.G) and set(_gates(authors.G).values()) == {0.0}  # the authors' closed gates
    assert _gates(authors.D) and set(_gates(authors.D).values()) == {0.0}
    opened = tiny_module(gate_init={"g": 0.3}, ema={"enabled": True})
    assert list(_gates(opened.G).values()) == pytest.approx([0.3] * len(_gates(opened.G)))
    assert set(_gates(opened.D).values()) == {0.0}
    assert _gates(opened.G_ema) == _gates(opened.G)
    starts = {n.rsplit(".", 1)[-1]: float(p) for n, p in opened.G.named_parameters() if n.endswith(("rho", "adjust_alpha"))}
    assert starts == {"rho": pytest.approx(0.1), "mask_adjust_alpha": 0.0}  # ISLA's rho and the adapter keep theirs
    assert set(_gates(tiny_module(gate_init={"d": -0.5}).D).values()) == {-0.5}


def test_gate_init_rejects_an_unknown_key_and_a_network_without_gates():
    with pytest.raises(ValueError, match=r"keys g and d.*'x'"):
        tiny_module(gate_init={"x": 0.5})
    with pytest.raises(ValueError, match="gate_init.d=0.5: the lostgan_v2 D has no gates"):
        LamaGAN(resolution=128, num_classes=NUM_CLASSES, ch=4, arch="lostgan_v2", gate_init={"d": 0.5})


def test_d_ch_sets_the_discriminator_width_apart_from_the_generator():
    module = tiny_module(d_ch=8)
    assert module.D.ch == 8 and module.generator_hparams["ch"] == 4
    assert tiny_module().D.ch == 4  # null: D as wide as G, as the authors
