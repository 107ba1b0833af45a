"""Every config option composes: each yaml of each group, each experiment preset, the launchers and
the Optuna search; presets set what the paper set-up needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class
from omegaconf import OmegaConf

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
GROUPS = sorted(p.name for p in CONFIGS.iterdir() if p.is_dir() and p.name not in ("hydra", "experiment"))
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONFIGS / g).glob("*.yaml"))]
EXPERIMENTS = sorted(f.stem for f in (CONFIGS / "experiment").glob("*.yaml"))
LAUNCHERS = sorted(f.stem for f in (CONFIGS / "hydra" / "launcher").glob("*.yaml"))


def _compose(overrides: list[str], hydra_cfg: bool = False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=hydra_cfg)


def _resolvable(cfg) -> None:
    """Resolve everything that does not need a running Hydra job (paths.run_dir does)."""
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    cfg.paths.run_dir = "/tmp/run"
    if "hydra" in cfg:
        del cfg["hydra"]
    OmegaConf.resolve(cfg)


def test_every_group_and_experiment_is_found():
    assert {"model", "trainer", "logger", "callbacks", "hparams_search"} <= set(GROUPS)
    assert {"coco_64", "coco_128", "coco_256", "vg_64", "vg_128", "vg_256", "demo"} <= set(EXPERIMENTS)
    assert {"slurm", "local"} <= set(LAUNCHERS)
    assert {"cpu", "gpu", "ddp", "ddp_cpu"} <= {o for g, o in OPTIONS if g == "trainer"}
    assert {"wandb", "tensorboard", "csv"} <= {o for g, o in OPTIONS if g == "logger"}


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes(group, option):
    if group == "hparams_search":
        cfg = _compose([f"{group}={option}"], hydra_cfg=True)
        assert cfg.hydra.sweeper.params
    else:
        cfg = _compose([f"{group}={option}"])
    _resolvable(cfg)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("lama", [True, False])
def test_every_experiment_composes(experiment, lama):
    cfg = _compose([f"experiment={experiment}", f"model.lama={lama}"])
    _resolvable(cfg)
    assert cfg.model.lama is lama
    assert cfg.model.resolution == cfg.resolution == cfg.data.resolution


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launchers_compose_with_the_gpu_count(launcher):
    cfg = _compose([f"hydra/launcher={launcher}", "experiment=coco_128", "trainer.devices=4"], hydra_cfg=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher" if "slurm" in launcher else "LocalLauncher")
    if "slurm" in launcher:
        assert cfg.hydra.launcher.tasks_per_node == 4 and cfg.hydra.launcher.gpus_per_node == 4


@pytest.mark.parametrize(("experiment", "data", "resolution"), [
    (f"{d}_{r}", name, r) for d, name in (("coco", "coco_stuff"), ("vg", "vg")) for r in (64, 128, 256)
])
def test_paper_presets_follow_the_authors_recipe(experiment, data, resolution):
    cfg = _compose([f"experiment={experiment}"])
    assert get_class(cfg.data._target_).name == data and cfg.resolution == resolution
    assert cfg.trainer.strategy == "ddp_find_unused_parameters_true" and cfg.trainer.accelerator == "gpu"
    assert cfg.trainer.max_epochs == 200
    m = cfg.model
    assert (m.ch, m.z_dim, m.lama, m.d_only_iters, m.lambda_obj, m.lambda_img) == (64, 128, True, 30, 1.0, 0.1)
    assert m.optimizer_g.lr == 1e-4 and m.optimizer_d.lr == 3e-4
    assert list(m.optimizer_g.betas) == [0.0, 0.999] and list(m.optimizer_d.betas) == [0.0, 0.999]
    assert dict(m.lr_mult_g) == {"mapping": 0.1, "rho": 0.1} and dict(m.lr_mult_d) == {"alpha": 0.2}
    assert list(m.scheduler.milestones) == [120, 160] and m.scheduler.gamma == 0.1
    assert m.ema.enabled is False


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e not in ("demo", "ablation_synthetic")])  # CPU presets
def test_preset_header_and_readme_give_the_same_device_count(experiment):
    import re

    header = (CONFIGS / "experiment" / f"{experiment}.yaml").read_text()
    readme = (CONFIGS.parent / "README.md").read_text()
    in_header = re.findall(rf"run\.py experiment={experiment} trainer\.devices=(\d+)", header)
    in_readme = re.findall(rf"run\.py experiment={experiment} trainer\.devices=(\d+)", readme)
    assert in_header, f"{experiment}.yaml does not say its set-up"
    assert set(in_readme) <= set(in_header), (experiment, in_header, in_readme)
