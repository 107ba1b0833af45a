"""The LAMA GAN as a LightningModule: manual optimisation, one D step then one G step per iteration."""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import nn

from lama.checkpoint import LIGHTNING_KEY, check_arch_matches, generator_record
from lama.models import (
    build_discriminator,
    build_generator,
    init_discriminator,
    init_weights,
    learnt_gates,
    open_gates,
)
from lama.training.ema import ema_update, make_ema
from lama.training.fast import (
    FastPath,
    apply_fp32_precision,
    check_fast_config,
    choose_fast_path,
    forward_context,
    prepare_images,
    prepare_module,
)
from lama.training.finite import all_finite, non_finite_names, optimizer_tensors
from lama.training.losses import d_hinge_loss, d_hinge_terms, g_hinge_loss, g_hinge_terms
from lama.training.optim import build_optimizer
from lama.training.reconstruction import ReconstructionLoss
from lama.training.rng import capture_rng_state, restore_rng_state
from lama.training.span import span_line

STATE_KEY = "lama_training"
log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the message names the term and the iteration."""


def _default_adam(lr: float) -> Callable[..., torch.optim.Optimizer]:
    def make(params):
        return torch.optim.Adam(params, lr=lr, betas=(0.0, 0.999))

    make.keywords = {"lr": lr}  # the shape of a functools.partial, as build_optimizer reads it
    return make


class LamaGAN(pl.LightningModule):
    """Generator G, discriminator D and (optionally) an EMA copy of G, trained with the authors' recipe.

    Per iteration: D on real images, G on fresh latents, D on the detached fakes, one D update; then,
    when the iteration index within the epoch exceeds `d_only_iters`, one G update on the same fakes.
    `global_step` advances once per optimiser step, so iterations are counted in `self.iteration`.
    `fast` is model.fast (lama.training.fast.choose_fast_path): at setup it picks the exact float32 path or the
    fast path's switches (bf16 autocast of the forward passes with float32 losses, channels_last networks
    and images, TF32, the ISLA op) for the device, prints the choice and records it in hparams.fast."""

    def __init__(
        self,
        resolution: int,
        num_classes: int,
        ch: int = 64,
        z_dim: int = 128,
        lama: bool = True,
        lambda_obj: float = 1.0,
        lambda_img: float = 0.1,
        d_only_iters: int = 30,
        optimizer_g: Callable[..., torch.optim.Optimizer] | None = None,
        optimizer_d: Callable[..., torch.optim.Optimizer] | None = None,
        lr_mult_g: Mapping[str, float] | None = None,
        lr_mult_d: Mapping[str, float] | None = None,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        ema: Mapping[str, Any] | None = None,
        sync_batchnorm: bool = True,
        fast: Mapping[str, Any] | None = None,
        arch: str = "lama",
        lambda_l1: float = 0.0,
        lambda_vgg: float = 0.0,
        vgg_weights: str | None = None,
        check_weights_every: int = 10,
        mask_ch: int = 128,
        d_ch: int | None = None,
        gate_init: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer_g", "optimizer_d", "scheduler"], logger=False)
        self.automatic_optimization = False
        self.generator_hparams = {
            "arch": arch,
            "resolution": int(resolution),
            "num_classes": int(num_classes),
            "ch": int(ch),
            "z_dim": int(z_dim),
            **({"lama": bool(lama), "mask_ch": int(mask_ch)} if arch == "lama" else {}),
        }
        self.G = init_weights(build_generator(**self.generator_hparams))
        self.D = init_discriminator(build_discriminator(int(resolution), int(num_classes), int(d_ch or ch), arch))
        self._open_gates(gate_init)
        self.reconstruction = ReconstructionLoss(lambda_l1, lambda_vgg, vgg_weights)  # LostGAN-V2's L1 + VGG
        ema = dict(ema or {})
        self.ema_decay = float(ema.get("decay", 0.999))
        self.G_ema = make_ema(self.G) if ema.get("enabled", False) else None

        self.lambda_obj, self.lambda_img = float(lambda_obj), float(lambda_img)
        self.d_only_iters = int(d_only_iters)
        self.optimizer_g = optimizer_g or _default_adam(1e-4)
        self.optimizer_d = optimizer_d or _default_adam(3e-4)
        self.lr_mult_g = dict(lr_mult_g if lr_mult_g is not None else {"mapping": 0.1, "rho": 0.1})
        self.lr_mult_d = dict(lr_mult_d if lr_mult_d is not None else {"alpha": 0.2})
        self.scheduler = scheduler
        self.sync_batchnorm = bool(sync_batchnorm)
        self.fast_config = check_fast_config(fast)
        self.fast = FastPath()  # the exact path until setup() knows the device
        self.class_names: list[str] | None = None

        self.check_weights_every = int(check_weights_every)  # iterations between NaN/inf scans of G and D
        self.iteration = 0  # GAN iterations done (one D step, maybe one G step each), over all epochs
        self.max_iterations: int | None = None  # trainer.max_iterations: stop after this many (None: no limit)
        self._pending_rng: dict | None = None
        self._last_step_time: float | None = None

    def _open_gates(self, gate_init: Mapping[str, float] | None) -> None:
        """gate_init {g: a, d: b}: start the scalar gates of G / D at a / b (the authors': 0 for both)."""
        gate_init = dict(gate_init or {})
        unknown = sorted(set(gate_init) - {"g", "d"})
        if unknown:
            raise ValueError(f"model.gate_init takes the keys g and d, got {unknown}")
        for key, net in (("g", self.G), ("d", self.D)):
            value = float(gate_init.get(key, 0.0))
            if value != 0.0 and open_gates(net, value) == 0:
                raise ValueError(f"model.gate_init.{key}={value}: the {self.hparams.arch} {key.upper()} has no gates")

    # ----------------------------------------------------------------- public helpers
    @property
    def sampling_generator(self) -> nn.Module:
        """The generator to sample and save: the EMA copy when EMA is on, else G."""
        return self.G_ema if self.G_ema is not None else self.G

    def generator_record(self) -> dict[str, Any]:
        """The lama.checkpoint record of the sampling generator."""
        return generator_record(self.sampling_generator.state_dict(), self.generator_hparams, self.class_names)

    # ----------------------------------------------------------------- setup
    def setup(self, stage: str) -> None:
        names = getattr(self.trainer.datamodule, "class_names", None)
        if names is not None:
            self.class_names = list(names)
        world = self.trainer.world_size
        if self.sync_batchnorm and world > 1:
            if self.trainer.strategy.root_device.type == "cpu":
                rank_zero_warn("SyncBatchNorm needs GPUs; on CPU every process keeps its own BatchNorm statistics")
            else:
                self.G = nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
        self._choose_fast_path(self.trainer.strategy.root_device)

    def _choose_fast_path(self, device: torch.device) -> None:
        self.fast = choose_fast_path(self.fast_config, device)
        apply_fp32_precision(self.fast, device)
        for net in (self.G, self.D, self.G_ema):
            if net is not None:
                prepare_module(net, self.fast)
        self.hparams["fast"] = self.fast.as_config()  # the choice, not "auto", is what the checkpoint records
        if self.trainer.global_rank == 0:
            log.info(self.fast.describe(device))

    def on_fit_start(self) -> None:
        # every rank was seeded alike (same initial weights); give each its own latents and noise.
        # After a resume the checkpointed per-rank states replace these at the first step.
        if self.trainer.world_size > 1:
            seed = (torch.initial_seed() + 1_000_003 * self.trainer.global_rank) % 2**32
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)

    def on_train_start(self) -> None:
        # through the progress bar (rank 0 only): a plain print would land inside the bar's line on a terminal
        self.print(span_line(self.trainer, self.iteration, self.max_iterations))
        if self._reached_max_iterations():
            self.trainer.should_stop = True  # resumed from a run that already stopped there (epochs: Lightning's own)

    def _reached_max_iterations(self) -> bool:
        return self.max_iterations is not None and self.max_iterations >= 0 and self.iteration >= self.max_iterations

    def configure_optimizers(self):
        opt_g = build_optimizer(self.G, self.optimizer_g, self.lr_mult_g)
        opt_d = build_optimizer(self.D, self.optimizer_d, self.lr_mult_d)
        if self.scheduler is None:
            return [opt_g, opt_d]
        return [opt_g, opt_d], [self.scheduler(opt_g), self.scheduler(opt_d)]

    # ----------------------------------------------------------------- training
    def _sync_schedulers(self) -> None:
        # schedulers follow the epoch number (idempotent, so any resume point gives the same rates)
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
            while sched.last_epoch < self.current_epoch:
                with warnings.catch_warnings():  # Lightning's wrapped step hides the optimiser steps
                    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                    sched.step()

    def _check_finite(self, terms: dict[str, torch.Tensor], batch_idx: int) -> None:
        values = torch.stack([v.detach().float() for v in terms.values()])
        bad = (~torch.isfinite(values)).any().float()
        if self.trainer.world_size > 1:  # all ranks must stop together, or the others hang
            bad = self.trainer.strategy.reduce(bad, reduce_op="sum")
        if bad.item() > 0:
            names = [f"{k}={v.item()}" for k, v in terms.items() if not torch.isfinite(v.detach()).all()]
            where = ", ".join(f"train/{n}" for n in names) or "a loss on another process"
            raise NonFiniteLossError(
                f"non-finite loss {where} at iteration {self.iteration} (epoch {self.current_epoch}, "
                f"batch {batch_idx}, global step {self.global_step}); stopped before this update, "
                "so the last checkpoint holds finite weights"
            )

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        if self._pending_rng is not None:  # resume: continue the random streams where the checkpoint left them
            restore_rng_state(self._pending_rng)
            self._pending_rng = None
        self._sync_schedulers()
        opt_g, opt_d = self.optimizers()
        images, labels, boxes = batch["image"], batch["labels"], batch["boxes"]
        images = prepare_images(images, self.fast)
        g_step = batch_idx > self.d_only_iters

        # discriminator step (the authors' order: real pass, then latents, fakes, fake pass)
        with forward_context(self.fast, images.device):
            d_img_real, d_obj_real = self.D(images, boxes, labels)
            z_obj = torch.randn(labels.shape[0], labels.shape[1], self.G.z_dim, device=images.device)
            with torch.set_grad_enabled(g_step):
                fakes = self.G(z_obj, boxes, labels)
            d_img_fake, d_obj_fake = self.D(fakes.detach(), boxes, labels)
        # losses in float32 (a no-op on the exact path)
        d_img_real, d_obj_real, d_img_fake, d_obj_fake = (
            t.float() for t in (d_img_real, d_obj_real, d_img_fake, d_obj_fake)
        )
        d_terms = d_hinge_terms(d_img_real, d_obj_real, d_img_fake, d_obj_fake)
        d_loss = d_hinge_loss(d_terms, self.lambda_obj, self.lambda_img)
        self._check_finite({"d_loss": d_loss, **d_terms}, batch_idx)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        logs = {"d_loss": d_loss, **d_terms}
        logs.update(
            d_img_real=d_img_real.mean(),
            d_img_fake=d_img_fake.mean(),
            d_obj_real=d_obj_real.mean(),
            d_obj_fake=d_obj_fake.mean(),
        )

        # generator step on the same fakes, D frozen
        if g_step:
            self.toggle_optimizer(opt_g)
            with forward_context(self.fast, images.device):
                g_img_fake, g_obj_fake = self.D(fakes, boxes, labels)
            g_terms = g_hinge_terms(g_img_fake.float(), g_obj_fake.float())
            g_loss = g_hinge_loss(g_terms, self.lambda_obj, self.lambda_img)
            if self.reconstruction.enabled:
                recon = self.reconstruction.terms(fakes.float(), images.float())
                g_loss, g_terms = g_loss + self.reconstruction.loss(recon), {**g_terms, **recon}
            self._check_finite({"g_loss": g_loss, **g_terms}, batch_idx)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            if self.G_ema is not None:
                ema_update(self.G_ema, self.G, self.ema_decay)
            logs.update(g_loss=g_loss, **g_terms)

        self.iteration += 1
        if self.check_weights_every > 0 and self.iteration % self.check_weights_every == 0:
            self._check_weights("after")
        if self._reached_max_iterations():
            self.trainer.should_stop = True  # Lightning ends the epoch and the fit after this batch
        self._log_step(logs, images.shape[0], opt_g, opt_d)

    def _log_step(self, logs: dict[str, torch.Tensor], batch_size: int, opt_g, opt_d) -> None:
        metrics = {f"train/{k}": v.detach() for k, v in logs.items()}
        if (self.iteration - 1) % max(1, self.trainer.log_every_n_steps) == 0:
            metrics.update(self._gates_and_rates(opt_g, opt_d))
        now = time.perf_counter()
        if self._last_step_time is not None:
            metrics["perf/images_per_s"] = batch_size * self.trainer.world_size / (now - self._last_step_time)
        self._last_step_time = now
        metrics["train/iteration"] = float(self.iteration)
        self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=batch_size, sync_dist=False)
        self.log("d_loss", logs["d_loss"].detach(), prog_bar=True, logger=False, batch_size=batch_size)
        if "g_loss" in logs:
            self.log("g_loss", logs["g_loss"].detach(), prog_bar=True, logger=False, batch_size=batch_size)

    def _gates_and_rates(self, opt_g, opt_d) -> dict[str, float]:
        """Mean learnt gate per kind (e.g. gates/g_ISLANorm.rho) and every parameter group's lr."""
        metrics: dict[str, float] = {}
        for prefix, net in (("g", self.G), ("d", self.D)):
            groups: dict[str, list[float]] = {}
            kinds = {name: type(m).__name__ for name, m in net.named_modules()}
            for name, value in learnt_gates(net).items():
                parent, leaf = name.rsplit(".", 1) if "." in name else ("", name)
                groups.setdefault(f"gates/{prefix}_{kinds.get(parent, 'root')}.{leaf}", []).append(value)
            metrics.update({k: sum(v) / len(v) for k, v in groups.items()})
        for prefix, opt in (("g", opt_g), ("d", opt_d)):
            for group in opt.optimizer.param_groups:
                metrics[f"lr/{prefix}_{group.get('name', 'base')}"] = group["lr"]
        return metrics

    # ----------------------------------------------------------------- checkpoints
    def _check_weights(self, when: str) -> None:
        """Stop (NonFiniteLossError) when a weight, buffer or optimiser state of G, D or G_ema is NaN/inf."""
        tensors = [(f"{prefix}.{n}", t) for prefix, net in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema))
                   if net is not None for n, t in net.state_dict().items()]  # fmt: skip
        if self._trainer is not None:
            for name, opt in zip(("optimizer_g", "optimizer_d"), self.trainer.optimizers):
                tensors += optimizer_tensors(name, opt)
        if all_finite(tensors):
            return
        bad = non_finite_names(tensors)
        raise NonFiniteLossError(
            f"non-finite values in {len(bad)} tensors ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}) {when} "
            f"iteration {self.iteration} (epoch {self.current_epoch}); no checkpoint is written with them, so "
            "the last checkpoint holds finite weights (a learning rate too high? model.optimizer_g.lr / optimizer_d.lr)"
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._check_weights("at the checkpoint of")  # never write a poisoned checkpoint
        rng = capture_rng_state()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            states: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(states, rng)  # every rank's streams, for an exact resume
        else:
            states = [rng]
        checkpoint[STATE_KEY] = {
            "iteration": self.iteration,
            "rng_states": states,
        }
        checkpoint[LIGHTNING_KEY] = self.generator_record()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if LIGHTNING_KEY in checkpoint:  # before Lightning loads the weights: another model is a clear error
            check_arch_matches(checkpoint[LIGHTNING_KEY], self.generator_hparams["arch"], "the checkpoint")
        state = checkpoint.get(STATE_KEY)
        if state is None:
            rank_zero_warn("checkpoint has no LAMA training state; iteration counters and RNG restart")
            return
        self.iteration = int(state["iteration"])
        states = state["rng_states"]
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        if len(states) == world:
            self._pending_rng = states[rank]
        else:
            rank_zero_warn(f"checkpoint saved by {len(states)} processes, resumed on {world}: RNG streams restart")
