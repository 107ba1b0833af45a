"""The one entry point: `python run.py task=train|sample|evaluate|convert|prepare|bench [overrides]`."""

import sys

import hydra
from omegaconf import DictConfig

from lama.tasks import TaskError, run_task


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> object:
    try:
        return run_task(cfg)
    except TaskError as err:
        # A user error (unknown task, missing value, bad file): one clear line, exit status 2.
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
