"""Config values are checked before anything is built: one `error:` line naming the key, exit 2, and no
run directory left behind (issue 18.3, 18.7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from lama.config_checks import CHECKS, ConfigValueError, check_accelerator, check_values
from tests.conftest import REPO


def _compose(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_default_and_preset_configs_pass():
    for preset in ("demo", "coco_64", "vg_256"):
        check_values(_compose(f"experiment={preset}"))
    check_values(_compose())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("resolution=96", "resolution must be one of 64, 128, 256, got 96"),
        ("data.batch_size=0", "data.batch_size must be a positive integer, got 0"),
        ("data.batch_size=2.5", "data.batch_size must be a positive integer, got 2.5"),
        ("model.lama=maybe", "model.lama must be true or false, got 'maybe'"),
        ("model.lama=1", "model.lama must be true or false, got 1"),
        ("model.ch=-8", "model.ch must be a positive integer"),
        ("model.fast.isla_impl=fused", "model.fast.isla_impl must be one of auto, ref, ext, got 'fused'"),
        ("model.optimizer_g.lr=fast", "model.optimizer_g.lr must be a number > 0"),
        ("trainer.max_epochs=-3", "trainer.max_epochs must be an integer >= 0 (or -1"),
        ("trainer.limit_train_batches=1.5", "trainer.limit_train_batches must be a fraction"),
        ("metrics.repeats=0", "metrics.repeats must be a positive integer"),
        ("metrics.num_layouts=all", "metrics.num_layouts must be a positive integer (or null)"),
        ("data.flip=yes please", "data.flip must be true or false"),
    ],
)
def test_bad_value_names_key_and_value(override, message):
    with pytest.raises(ConfigValueError) as info:
        check_values(_compose(override))
    assert message in str(info.value)


def test_every_checked_key_exists_in_some_config():
    """A check for a key no config has would never run: the table follows the configs."""
    from omegaconf import OmegaConf

    models = sorted(f.stem for f in (REPO / "configs" / "model").glob("*.yaml"))
    cfgs = [_compose(), _compose("experiment=demo"), *(_compose(f"model={m}") for m in models)]
    absent = [k for k in CHECKS if all(OmegaConf.select(c, k, default="<absent>") == "<absent>" for c in cfgs)]
    assert absent == []


def test_gpu_preset_without_gpu_says_add_trainer_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigValueError, match="no GPU visible: add trainer=cpu"):
        check_accelerator(_compose("experiment=coco_64"))
    check_accelerator(_compose("experiment=coco_64", "trainer=cpu"))


def _run(*args: str, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAMA_OUTPUT_DIR": str(out), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, "run.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("resolution=96",), "error: resolution must be one of 64, 128, 256, got 96"),
        (("experiment=coco_64",), "no GPU visible: add trainer=cpu"),
        (("task=paint",), "error: unknown task 'paint'"),
    ],
)
def test_early_error_is_one_line_and_leaves_no_run_dir(tmp_path, args, message):
    proc = _run(*args, out=tmp_path / "outputs")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0] and message in proc.stderr
    assert "wandb" not in proc.stdout + proc.stderr
    left = [p for p in (tmp_path / "outputs").rglob("*")] if (tmp_path / "outputs").exists() else []
    assert left == [], f"left behind: {left}"


def test_unwritable_output_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where a directory should be: unwritable even for root
    proc = _run("task=bench", out=blocker / "outputs")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {blocker}/outputs"), proc.stderr
