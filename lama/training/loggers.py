"""Logger construction that never blocks: W&B goes offline when no credentials are present."""

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


def wandb_logger(
    project: str,
    save_dir: str,
    name: str | None = None,
    group: str = "",
    tags: list[str] | None = None,
    mode: str = "auto",
) -> WandbLogger:
    """A WandbLogger that is online only with credentials; offline runs are kept under save_dir/wandb."""
    resolved = wandb_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        project=project,
        save_dir=save_dir,
        name=name,
        group=group or None,
        tags=list(tags or []),
        mode=resolved,
        anonymous="never",  # never the interactive "create an account?" prompt
        settings={"init_timeout": 30},
    )
