"""Task dispatch: `task=NAME` runs `lama.tasks.NAME.run(cfg)`."""

from __future__ import annotations

import importlib

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

TASKS = ("train", "sample", "evaluate", "convert", "prepare", "bench", "compare", "serve")


class TaskError(Exception):
    """A user-facing error: run.py prints its message as one line and exits with status 2."""


def run_task(cfg: DictConfig) -> object:
    """Resolve the config, then run the task it names; user errors become TaskError."""
    task = cfg.get("task")
    if task not in TASKS:
        raise TaskError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise TaskError(
            f"missing required value(s) {', '.join(missing)}: set them on the command line (key=value)"
        )
    try:
        OmegaConf.resolve(cfg)
    except MissingMandatoryValue as err:
        raise TaskError(f"missing required value {err.full_key!r}: set it on the command line") from None
    from lama.checkpoint import CheckpointError
    from lama.config_checks import ConfigValueError, check_config
    from lama.layout import LayoutError
    from lama.quiet_logs import quiet_third_party_logs
    from lama.sampling import NonFiniteOutputError

    user_errors = (ConfigValueError, CheckpointError, LayoutError, NonFiniteOutputError)
    quiet_third_party_logs()
    try:
        check_config(cfg)
        module = importlib.import_module(f"lama.tasks.{task}")
        return module.run(cfg)
    except user_errors as err:  # bad values, files or outputs: one line, never a traceback
        raise TaskError(str(err)) from None


def require(cfg: DictConfig, key: str, hint: str = "") -> object:
    """Return cfg[key] or raise TaskError naming the key (and a hint) when it is unset."""
    value = OmegaConf.select(cfg, key, default=None)
    if value is None or value == "???":
        raise TaskError(f"task={cfg.task} needs {key}=...{' ' + hint if hint else ''}")
    return value


def task_device(cfg: DictConfig, key: str):
    """The torch.device config value `key` names (lama.device.pick_device), a bad value as a TaskError."""
    from lama.device import pick_device

    try:
        return pick_device(OmegaConf.select(cfg, key, default=None), key)
    except ValueError as err:
        raise TaskError(str(err)) from None
