"""Logger construction that never blocks: W&B goes offline when no credentials are present, and each job
of a multirun gets its own W&B run, named after its overrides and grouped by its sweep."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger


def wandb_logged_in() -> bool:
    """True when W&B credentials exist (WANDB_API_KEY, or ~/.netrc / $NETRC holding api.wandb.ai)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if not path.is_file():
        return False
    try:
        hosts = netrc.netrc(str(path)).hosts
    except (netrc.NetrcParseError, OSError):
        return False
    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    host = base.split("://", 1)[-1].split("/", 1)[0]
    return host in hosts


def wandb_mode(mode: str = "auto") -> str:
    """Resolve auto|online|offline|disabled; WANDB_MODE in the environment wins over `auto`."""
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ValueError(f"logger.wandb.mode must be auto, online, offline or disabled, got {mode!r}")
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE")
    if env in ("online", "offline", "disabled", "dryrun"):
        return "offline" if env == "dryrun" else env
    return "online" if wandb_logged_in() else "offline"


class JobWandbLogger(WandbLogger):
    """A WandbLogger whose W&B run ends with its fit (finalize -> run.finish), so that the next job of a
    multirun in the same process starts its own run instead of reusing this one (Lightning reuses an open run)."""

    def finalize(self, status: str) -> None:
        super().finalize(status)
        if self._experiment is not None and hasattr(self._experiment, "finish"):
            self._experiment.finish(exit_code=0 if status == "success" else 1)
            self._experiment = None


def hydra_job_identity(name: str | None, group: str) -> tuple[str | None, str]:
    """(run name, group) for this Hydra job: name = its overrides ("model.lama=false,seed=1", paths and hydra
    keys left out) unless given; in a multirun the group gets the sweep's directory name, so each sweep is one
    group. Outside a Hydra job both stay as given."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return name, group
    hc = HydraConfig.get()
    if name is None:
        overrides = [o for o in hc.overrides.task if not o.split("=", 1)[0].lstrip("+~").startswith(("paths.", "hydra."))]
        name = ",".join(overrides) or None
    if hc.mode == RunMode.MULTIRUN:
        sweep = Path(hc.sweep.dir).name
        group = f"{group}-{sweep}" if group else sweep
    return name, group


def wandb_logger(
    project: str,
    save_dir: str,
    name: str | None = None,
    group: str = "",
    tags: list[str] | None = None,
    mode: str = "auto",
) -> WandbLogger:
    """A WandbLogger that is online only with credentials (offline runs are kept under save_dir/wandb), one
    W&B run per job: a run a previous job left open is finished first."""
    import wandb

    resolved = wandb_mode(mode)
    if wandb.run is not None:  # e.g. a previous job of this multirun that ended without finalize
        wandb.finish()
    name, group = hydra_job_identity(name, group)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return JobWandbLogger(
        project=project,
        save_dir=save_dir,
        name=name,
        group=group or None,
        tags=list(tags or []),
        mode=resolved,
        anonymous="never",  # never the interactive "create an account?" prompt
        settings={"init_timeout": 30},
    )
