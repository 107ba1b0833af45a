"""Bad checkpoints (issue 15.7): each is a one-line CheckpointError naming the file and what is wrong, found
before anything is built (a resume's ckpt_path before the data, model and trainer are set up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from lama.checkpoint import (
    LIGHTNING_KEY,
    CheckpointError,
    check_training_checkpoint,
    generator_record,
    load_generator,
    read_generator_record,
    save_generator,
)
from lama.models import build_generator
from tests.conftest import REPO

HP = dict(resolution=64, num_classes=184, ch=4, z_dim=16, lama=True)


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "generator.pt"
    save_generator(path, build_generator(**HP), HP, None)
    return path


def _training_checkpoint(path: Path, **hparams) -> Path:
    """What a Lightning checkpoint of ours holds for the pre-check: a state_dict and the generator record."""
    hp = {**HP, **hparams}
    record = generator_record(build_generator(**hp).state_dict(), hp)
    torch.save({"state_dict": {}, "epoch": 0, LIGHTNING_KEY: record}, path)
    return path


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert text and "\n" not in text
    return text


def test_empty_file_says_empty(tmp_path):
    (tmp_path / "g.pt").write_bytes(b"")
    with pytest.raises(CheckpointError) as err:
        read_generator_record(tmp_path / "g.pt")
    assert "is empty (0 bytes)" in _one_line(err)


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_damaged_file_is_one_line(tmp_path, generator_file, damage):
    data = generator_file.read_bytes()
    bad = data[: len(data) // 2] if damage == "truncated" else os.urandom(4096)
    (tmp_path / "g.pt").write_bytes(bad)
    for check in (read_generator_record, lambda p: check_training_checkpoint(p, {})):
        with pytest.raises(CheckpointError) as err:
            check(tmp_path / "g.pt")
        assert "cannot be read with torch.load(weights_only=True)" in _one_line(err)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("resolution", 100, "hparams resolution=100 is not one of (64, 128, 256)"),
     ("ch", 4096, "hparams ch=4096 is not an integer in [1, 1024]"),
     ("lama", "maybe", "hparams lama='maybe' is not true or false"),
     ("z_dim", -1, "hparams z_dim=-1")],
)
def test_tampered_hparams_are_refused_before_building(tmp_path, generator_file, key, value, message):
    record = torch.load(generator_file, weights_only=True)
    record["hparams"][key] = value
    torch.save(record, tmp_path / "g.pt")
    with pytest.raises(CheckpointError) as err:
        load_generator(tmp_path / "g.pt")
    assert message in _one_line(err)


def test_hparams_wider_than_the_weights_are_refused(tmp_path, generator_file):
    record = torch.load(generator_file, weights_only=True)
    record["hparams"]["ch"] = 64  # the weights are ch=4
    torch.save(record, tmp_path / "g.pt")
    with pytest.raises(CheckpointError) as err:
        load_generator(tmp_path / "g.pt")
    assert "does not fit the generator its hparams describe" in _one_line(err)


def test_nan_weights_are_refused(tmp_path, generator_file):
    record = torch.load(generator_file, weights_only=True)
    name = next(k for k, v in record["state_dict"].items() if v.is_floating_point())
    record["state_dict"][name] = torch.full_like(record["state_dict"][name], float("nan"))
    torch.save(record, tmp_path / "g.pt")
    with pytest.raises(CheckpointError) as err:
        load_generator(tmp_path / "g.pt")
    assert f"holds non-finite weights (NaN/inf) in 1 tensor(s), e.g. {name}" in _one_line(err)


def test_resume_checkpoint_of_another_width_says_which_override(tmp_path):
    path = _training_checkpoint(tmp_path / "last.ckpt", ch=8)
    with pytest.raises(CheckpointError) as err:
        check_training_checkpoint(path, {"ch": 16, "resolution": 64, "lama": True})
    assert "was trained with ch=8, but the config builds ch=16: add model.ch=8" in _one_line(err)
    check_training_checkpoint(path, {"ch": 8, "resolution": 64, "lama": True})


def test_generator_file_as_resume_checkpoint_is_refused(generator_file):
    with pytest.raises(CheckpointError) as err:
        check_training_checkpoint(generator_file, {})
    assert "is a stand-alone generator, not a training checkpoint" in _one_line(err)


def test_bad_ckpt_path_fails_before_setup(tmp_path):
    """run.py with a random-bytes ckpt_path: one line, exit 2, and no run directory (no data generated)."""
    (tmp_path / "last.ckpt").write_bytes(os.urandom(1000))
    env = {**os.environ, "LAMA_OUTPUT_DIR": str(tmp_path / "out"), "LAMA_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "run.py", "experiment=demo", f"ckpt_path={tmp_path / 'last.ckpt'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: checkpoint {tmp_path / 'last.ckpt'} cannot be read")
    assert not (tmp_path / "data").exists() and not list((tmp_path / "out").rglob("*.hydra"))


def test_layout_class_beyond_a_nameless_checkpoints_classes(tmp_path):
    """A checkpoint without class names samples a layout named with the dataset's names: a label the
    model has no embedding for was an IndexError."""
    from lama.tasks import TaskError, run_task

    hp = {**HP, "num_classes": 10}
    save_generator(tmp_path / "g.pt", build_generator(**hp), hp, None)
    layout = tmp_path / "layout.yaml"
    layout.write_text(yaml.safe_dump({"objects": [{"class": "sky", "box": [0, 0, 1, 0.5]}]}))
    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=[
            f"paths.data_dir={tmp_path / 'data'}", f"paths.run_dir={tmp_path / 'run'}",
            f"paths.cache_dir={tmp_path / 'cache'}", "data.generate.num_train=2", "data.generate.num_val=2",
            "task=sample", f"checkpoint={tmp_path / 'g.pt'}", f"layout={layout}", "metrics.device=cpu"])
    with pytest.raises(TaskError, match=r"objects\[0\].class 'sky' is label \d+, but the model knows only 10"):
        run_task(cfg)
