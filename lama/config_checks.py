"""Typed checks of the config values, run before anything is built: a wrong value is one `error:` line
naming the key, not a traceback from deep inside a constructor seconds (or a whole setup) later."""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

_ABSENT = object()
RESOLUTIONS = (64, 128, 256)


class ConfigValueError(ValueError):
    """A config value of the wrong type or range; the message names the key and the value."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool)


def boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def positive_int(value: object) -> str | None:
    return None if _is_int(value) and value > 0 else "must be a positive integer"


def non_negative_int(value: object) -> str | None:
    return None if _is_int(value) and value >= 0 else "must be an integer >= 0"


def int_or_minus_one(value: object) -> str | None:
    return None if _is_int(value) and value >= -1 else "must be an integer >= 0 (or -1 for no limit)"


def positive_number(value: object) -> str | None:
    return None if _is_number(value) and value > 0 else "must be a number > 0"


def non_negative_number(value: object) -> str | None:
    return None if _is_number(value) and value >= 0 else "must be a number >= 0"


def gate_value(value: object) -> str | None:
    """A gate's start: the forward passes clamp most gates to [-1, 1], so a start outside means nothing."""
    return None if _is_number(value) and -1 <= value <= 1 else "must be a number from -1 to 1"


def optional(check: Callable[[object], str | None]) -> Callable[[object], str | None]:
    """`check`, but null is allowed too."""
    def allow_null(value: object) -> str | None:
        reason = check(value)
        return None if value is None or reason is None else f"{reason} (or null)"
    return allow_null


def auto_or(check: Callable[[object], str | None]) -> Callable[[object], str | None]:
    """`check`, but the string `auto` is allowed too."""
    def allow_auto(value: object) -> str | None:
        reason = check(value)
        return None if value == "auto" or reason is None else f"{reason} or auto"
    return allow_auto


def choice(*options: object) -> Callable[[object], str | None]:
    """One of `options` (compared with their types, so `64` and `"64"` differ)."""
    def one_of(value: object) -> str | None:
        ok = any(value == o and type(value) is type(o) for o in options)
        names = (str(o).lower() if isinstance(o, bool) else str(o) for o in options)
        return None if ok else f"must be one of {', '.join(names)}"
    return one_of


def port_number(value: object) -> str | None:
    """A TCP port a server can listen on."""
    return None if _is_int(value) and 1 <= value <= 65535 else "must be a port number in 1..65535"


def batches_limit(value: object) -> str | None:
    """Lightning's limit_*_batches: a fraction in [0, 1] or a batch count."""
    if _is_int(value) and value >= 0 or isinstance(value, float) and 0.0 <= value <= 1.0:
        return None
    return "must be a fraction in [0, 1] or a number of batches >= 0"


# Key -> check, for the keys whose type the code relies on. Keys missing from a config are skipped
# (a task or preset may not have them); extend this table with any new typed option.
CHECKS: dict[str, Callable[[object], str | None]] = {
    "resolution": choice(*RESOLUTIONS),
    "seed": optional(non_negative_int),
    "evaluate_after_training": boolean,
    "resume": boolean,
    "data.batch_size": positive_int,
    "data.val_batch_size": positive_int,
    "data.num_workers": non_negative_int,
    "data.num_classes": positive_int,
    "data.pin_memory": boolean,
    "data.persistent_workers": boolean,
    "data.prefetch_factor": optional(positive_int),
    "data.flip": boolean,
    "data.drop_last": boolean,
    "data.return_masks": boolean,
    "data.dataset.max_objects": positive_int,
    "data.dataset.min_objects": non_negative_int,
    "data.dataset.max_bad_images": non_negative_int,
    "data.dataset.cache": boolean,
    "model.arch": choice("lama", "lostgan_v2"),
    "model.ch": positive_int,
    "model.z_dim": positive_int,
    "model.mask_ch": positive_int,
    "model.d_ch": optional(positive_int),
    "model.gate_init.g": gate_value,
    "model.gate_init.d": gate_value,
    "model.lama": boolean,
    "model.lambda_obj": non_negative_number,
    "model.lambda_img": non_negative_number,
    "model.lambda_l1": non_negative_number,
    "model.lambda_vgg": non_negative_number,
    "model.d_only_iters": int_or_minus_one,  # -1: G updates from the first iteration (LostGAN-V2)
    "model.optimizer_g.lr": positive_number,
    "model.optimizer_d.lr": positive_number,
    "model.ema.enabled": boolean,
    "model.ema.decay": positive_number,
    "model.sync_batchnorm": boolean,
    "model.fast.enabled": choice(True, False, "auto"),
    "model.fast.bf16": choice(True, False, "auto"),
    "model.fast.channels_last": choice(True, False, "auto"),
    "model.fast.compile": boolean,
    "model.fast.isla_impl": choice("auto", "ref", "ext"),
    "trainer.max_epochs": int_or_minus_one,
    "trainer.max_steps": int_or_minus_one,
    "trainer.max_iterations": optional(positive_int),
    "trainer.num_nodes": positive_int,
    "trainer.log_every_n_steps": positive_int,
    "trainer.limit_train_batches": batches_limit,
    "trainer.deterministic": boolean,
    "trainer.enable_model_summary": boolean,
    "callbacks.checkpoint.every_n_iterations": non_negative_int,
    "callbacks.checkpoint.every_n_epochs": non_negative_int,
    "callbacks.sample_grid.every_n_iterations": non_negative_int,
    "callbacks.sample_grid.num_layouts": positive_int,
    "metrics.repeats": auto_or(positive_int),
    "metrics.num_layouts": optional(positive_int),
    "metrics.batch_size": positive_int,
    "metrics.truncation": optional(non_negative_number),
    "metrics.save_masks": boolean,
    "metrics.is_splits": positive_int,
    "metrics.detection.ground_truth": choice("full", "layout"),
    "metrics.detection.score_threshold": non_negative_number,
    "callbacks.val_fid.every_n_epochs": non_negative_int,
    "callbacks.val_fid.num_images": positive_int,
    "bench.batch": positive_int,
    "bench.objects": positive_int,
    "bench.threads": non_negative_int,  # 0: torch's default
    "bench.warmup": non_negative_int,
    "bench.warmup_tol": positive_number,
    "bench.time_s": non_negative_number,
    "bench.rounds": positive_int,
    "bench.max_rounds": positive_int,
    "bench.iters": positive_int,
    "bench.slow_factor": positive_number,
    "bench.sample_iters": positive_int,
    "bench.matmul_size": positive_int,
    "bench.fma_units": positive_int,
    "bench.peak_flops": optional(positive_number),
    "bench.peak_flops_bf16": optional(positive_number),
    "bench.loader.images": positive_int,
    "bench.loader.timed_images": positive_int,
    "bench.loader.batch": positive_int,
    "serve.port": port_number,
}


def check_values(cfg: DictConfig, checks: dict[str, Callable[[object], str | None]] = CHECKS) -> None:
    """Raise ConfigValueError for the first key of `checks` whose (resolved) value fails its check."""
    for key, check in checks.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
        if value is _ABSENT or OmegaConf.is_config(value):
            continue
        reason = check(value)
        if reason is not None:
            raise ConfigValueError(f"{key} {reason}, got {value!r}")


def check_accelerator(cfg: DictConfig) -> None:
    """A GPU trainer preset on a machine without a visible GPU: say what to add instead of Lightning's
    "No supported gpu backend found!" after the whole setup."""
    if cfg.get("task") != "train":
        return
    accelerator = OmegaConf.select(cfg, "trainer.accelerator", default=None)
    if accelerator not in ("gpu", "cuda"):
        return
    import torch

    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        raise ConfigValueError(f"trainer.accelerator={accelerator} but no GPU visible: add trainer=cpu")


def check_resume_checkpoint(cfg: DictConfig) -> None:
    """task=train with ckpt_path: the file is read (memory-mapped) and matched against the model config now,
    not after the data, model and trainer were set up. Raises lama.checkpoint.CheckpointError."""
    path = cfg.get("ckpt_path")
    if cfg.get("task") != "train" or path is None:
        return
    from lama.checkpoint import HPARAM_KEYS, check_training_checkpoint

    model = cfg.get("model") or {}
    keys = {k for arch_keys in HPARAM_KEYS.values() for k in arch_keys}
    expected = {k: model[k] for k in sorted(keys) if k in model and not OmegaConf.is_config(model[k])}
    check_training_checkpoint(path, expected)


def check_config(cfg: DictConfig) -> None:
    """Every check of a resolved config that needs nothing built; raises ConfigValueError or CheckpointError."""
    check_values(cfg)
    check_accelerator(cfg)
    check_resume_checkpoint(cfg)
