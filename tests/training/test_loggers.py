"""W&B, offline: one run per job (a job's run ends with its fit), named after the job's overrides, grouped by sweep."""

from __future__ import annotations

import pytest

from tests.training.conftest import run_py, tiny_overrides

wandb = pytest.importorskip("wandb")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for key in ("WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    yield
    wandb.finish()


def test_each_logger_of_a_process_gets_its_own_run_that_ends_with_its_fit(offline, tmp_path):
    from lama.training.loggers import wandb_logger

    ids = []
    for job, lama in enumerate((True, False)):
        logger = wandb_logger(project="lama-test", save_dir=str(tmp_path / str(job)), name=f"model.lama={lama}")
        logger.log_hyperparams({"model": {"lama": lama}})
        run = logger.experiment
        ids.append(run.id)
        assert run.name == f"model.lama={lama}" and dict(run.config)["model"] == {"lama": lama}
        logger.finalize("success")
        assert wandb.run is None  # the next job's logger cannot reuse it
    assert ids[0] != ids[1]
    runs = [sorted((tmp_path / str(j) / "wandb").glob("offline-run-*")) for j in (0, 1)]
    assert [len(r) for r in runs] == [1, 1] and runs[0][0].name.endswith(ids[0])


def test_a_run_left_open_is_finished_before_the_next_job_starts(offline, tmp_path):
    from lama.training.loggers import wandb_logger

    first = wandb_logger(project="lama-test", save_dir=str(tmp_path / "a")).experiment
    second = wandb_logger(project="lama-test", save_dir=str(tmp_path / "b")).experiment
    assert first.id != second.id


def test_job_identity_is_the_overrides_and_the_sweep(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from lama.training.loggers import hydra_job_identity
    from tests.training.conftest import CONFIGS

    assert hydra_job_identity(None, "g") == (None, "g")  # outside a Hydra job
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("config", overrides=["model.lama=false", "paths.data_dir=/d", "seed=1"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.sweep.dir = str(tmp_path / "2026-01-01_00-00-00")
    HydraConfig.instance().set_config(cfg)
    try:
        assert hydra_job_identity(None, "coco_128") == ("model.lama=false,seed=1", "coco_128-2026-01-01_00-00-00")
        assert hydra_job_identity("mine", "") == ("mine", "2026-01-01_00-00-00")
    finally:
        HydraConfig.instance().cfg = None


@pytest.mark.slow  # two trainings in a subprocess with W&B: about 25 s on two shared cores
def test_a_two_job_multirun_leaves_two_offline_runs_with_their_own_config(tmp_path, synthetic_dir):
    args = ["-m", "model.lama=true,false", *tiny_overrides(synthetic_dir, batches=1), "logger=wandb",
            "model.d_only_iters=0", "callbacks.checkpoint.every_n_iterations=0", "callbacks.sample_grid.every_n_iterations=0"]
    args.remove("logger=csv")
    proc = run_py(args, tmp_path, env={"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_API_KEY": "",
                                       "NETRC": str(tmp_path / "no_netrc")})
    assert proc.returncode == 0, proc.stderr[-4000:]
    (sweep,) = sorted((tmp_path / "train" / "multiruns").iterdir())
    runs = [sorted((sweep / job / "wandb").glob("offline-run-*")) for job in ("0", "1")]
    assert [len(r) for r in runs] == [1, 1] and runs[0][0].name != runs[1][0].name
    for (run,), lama, other in zip(runs, ("true", "false"), ("false", "true")):
        record = next(run.glob("*.wandb")).read_bytes().lower()  # offline, name, group and config are in its log
        assert f'"lama":{lama}'.encode() in record and f'"lama":{other}'.encode() not in record
        assert f"model.lama={lama}".encode() in record and sweep.name.encode() in record
