"""`python run.py [experiment=...]`: train LAMA, write checkpoints, a stand-alone generator and
sample grids into the run directory; `ckpt_path=.../last.ckpt` resumes exactly (`resume=true`: in
that run's directory), and so does a run directory that already holds checkpoints/last.ckpt."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from lama.checkpoint import CheckpointError, save_generator
from lama.tasks import TaskError
from lama.tasks.inputs import data_name
from lama.training.run_dir import RunDirError, launched_as_rank_zero, resume_target, run_dir_lock


def _instantiate_group(node: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a callbacks/logger group that has a _target_ (null entries are off)."""
    if not node:
        return []
    return [instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


def _argv_for_ddp_children() -> None:
    """Lightning starts DDP ranks 1.. by re-running sys.argv; inside a Hydra multirun that would start
    a whole sweep per rank, so give the children this job's overrides instead."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        sys.argv = [sys.argv[0], *hc.overrides.task, f"hydra.run.dir={hc.runtime.output_dir}"]


def _optimized_value(cfg: DictConfig, trainer: pl.Trainer) -> float:
    """The metric a Hydra sweeper minimises/maximises (cfg.optimized_metric), as last logged."""
    name = cfg.optimized_metric
    value = trainer.callback_metrics.get(name)
    if value is None:
        raise TaskError(
            f"optimized_metric={name} was never logged (logged: {', '.join(sorted(trainer.callback_metrics))}); "
            "for val/fid set callbacks.val_fid.every_n_epochs <= trainer.max_epochs"
        )
    return float(value)


def _ddp_strategy(cfg: DictConfig) -> None:
    """Several devices need DDP that finds unused parameters (each backward pass reaches only G or
    only D, and D's object branch can skip a path); Lightning's plain ddp would fail at step 2."""
    strategy = cfg.trainer.get("strategy", "auto")
    devices = cfg.trainer.get("devices", 1)
    if strategy in ("auto", "ddp") and devices not in (1, "1", [0]):
        with open_dict(cfg):
            cfg.trainer.strategy = "ddp_find_unused_parameters_true"


def _leave_distributed(environ: dict[str, str]) -> None:
    """Close the process group and drop the variables Lightning's DDP launcher set (LOCAL_RANK,
    WORLD_SIZE, MASTER_PORT...), so the next job of a multirun starts its own processes again."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    os.environ.update(environ)


def _build_trainer(cfg: DictConfig, callbacks: list[Any], loggers: list[Any]) -> tuple[pl.Trainer, int | None]:
    """The Trainer from cfg.trainer, and trainer.max_iterations (ours, not a Trainer argument)."""
    with open_dict(cfg.trainer):
        max_iterations = cfg.trainer.pop("max_iterations", None)
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
        cfg.trainer.max_iterations = max_iterations
    return trainer, max_iterations


def _instantiate_model(cfg: DictConfig):
    """The LightningModule of cfg.model; a model the config cannot build (a resolution the architecture
    lacks, unusable model.vgg_weights) is a one-line error."""
    from hydra.errors import InstantiationException

    try:
        return instantiate(cfg.model)
    except InstantiationException as err:
        if isinstance(err.__cause__, ValueError):  # the builders' and the VGG loader's refusals
            raise TaskError(f"model={cfg.model.get('arch', 'lama')}: {err.__cause__}") from None
        raise


def _evaluate(cfg: DictConfig, generator_path: Path) -> Any:
    """Run task=evaluate on the freshly saved generator with the configured metrics."""
    try:
        from lama.tasks import evaluate
    except ImportError as err:
        print(f"evaluation skipped: {err}")
        return None
    eval_cfg = cfg.copy()
    OmegaConf.set_struct(eval_cfg, False)
    eval_cfg.task = "evaluate"
    eval_cfg.checkpoint = str(generator_path)
    return evaluate.run(eval_cfg)


def _fit(cfg: DictConfig, ckpt_path: Path | None) -> tuple[pl.Trainer, Any, list[Any], list[Any]]:
    """Build data, model, callbacks, loggers and trainer from cfg and train (from ckpt_path if given)."""
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
    datamodule = instantiate(cfg.data, seed=int(cfg.get("seed") or 0))
    module = _instantiate_model(cfg)
    callbacks = _instantiate_group(cfg.get("callbacks"))
    loggers = _instantiate_group(cfg.get("logger"))
    _argv_for_ddp_children()
    _ddp_strategy(cfg)
    trainer, module.max_iterations = _build_trainer(cfg, callbacks, loggers)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    environ = dict(os.environ)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    finally:
        _leave_distributed(environ)
    return trainer, module, callbacks, loggers


def run(cfg: DictConfig) -> dict[str, Any] | float:
    """Train; returns the paths of what was written (run dir, checkpoints, generator, samples), or
    the value of cfg.optimized_metric when a sweep asks for one."""
    from lama.datamodules.common import DataError
    from lama.training import NonFiniteLossError

    try:
        ckpt_path, run_dir = resume_target(cfg.get("ckpt_path"), bool(cfg.get("resume", False)), Path(cfg.paths.run_dir))
        with run_dir_lock(run_dir) if launched_as_rank_zero() else contextlib.nullcontext():
            if ckpt_path is not None:
                print(f"resuming from {ckpt_path}, writing into {run_dir}")
            with open_dict(cfg):
                cfg.paths.run_dir = str(run_dir)  # callbacks and loggers write where the run continues
            return _train_and_report(cfg, ckpt_path, run_dir)
    except (NonFiniteLossError, DataError, CheckpointError, RunDirError) as err:  # diverged, bad data, other model, busy dir
        raise TaskError(str(err)) from None


def _train_and_report(cfg: DictConfig, ckpt_path: Path | None, run_dir: Path) -> dict[str, Any] | float:
    """Train, then save the generator, evaluate if asked, and list the outputs (rank 0)."""
    trainer, module, callbacks, loggers = _fit(cfg, ckpt_path)
    outputs: dict[str, Any] = {"run_dir": str(run_dir)}
    if trainer.global_rank != 0:
        return outputs
    if trainer.interrupted:
        print(f"training interrupted; continue it with ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'} resume=true")
        return outputs
    generator = save_generator(
        run_dir / "generator.pt", module.sampling_generator, module.generator_hparams, module.class_names
    )
    outputs["generator"] = str(generator)
    for cb in callbacks:
        if hasattr(cb, "every_n_epochs") and hasattr(cb, "dirpath"):
            outputs["checkpoints"] = str(cb.dirpath)
        if getattr(cb, "last_path", None) is not None:
            outputs["sample_grid"] = str(cb.last_path)
    for logger in loggers:
        outputs[f"logs_{type(logger).__name__}"] = str(logger.log_dir or logger.save_dir)
    if cfg.get("evaluate_after_training", False):
        results = _evaluate(cfg, generator)
        if results is not None:
            outputs["results"] = str(run_dir / "results.json")
    print("\nTraining finished. Outputs:")
    for key, value in outputs.items():
        print(f"  {key:<22} {value}")
    print(f"\nDraw layouts for it in the browser:\n  python run.py task=serve checkpoint={generator} "
          f"resolution={cfg.resolution} data={data_name(cfg)}")
    if cfg.get("optimized_metric"):
        return _optimized_value(cfg, trainer)
    return outputs
