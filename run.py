"""The one entry point: `python run.py task=train|sample|evaluate|convert|prepare|bench|compare [overrides]`."""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from lama.cli import disk_error_line, fail, is_disk_error
from lama.config_errors import one_line_config_errors
from lama.tasks import TaskError, run_task


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> object:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    output_dir = OmegaConf.select(cfg, "paths.output_dir", default=None, throw_on_resolution_failure=False)
    try:
        return run_task(cfg)
    except TaskError as err:
        # A user error (unknown task, bad value, bad file): one clear line, exit status 2, and no run
        # directory left behind when the run made nothing.
        fail(str(err), run_dir, output_dir and Path(output_dir))
    except OSError as err:
        if not is_disk_error(err):
            raise
        fail(disk_error_line(err), run_dir, output_dir and Path(output_dir))


if __name__ == "__main__":
    with one_line_config_errors():  # a mistyped key or unknown preset: one error: line, not Hydra's report
        main()
