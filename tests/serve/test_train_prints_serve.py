"""A finished training run ends by printing the task=serve command for the generator it saved."""

from __future__ import annotations

import re
from pathlib import Path

from tests.training.conftest import run_py, tiny_overrides


def test_training_ends_with_the_serve_command(tmp_path):
    proc = run_py(tiny_overrides(tmp_path / "data", batches=2), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1].strip()
    match = re.fullmatch(r"python run.py task=serve checkpoint=(\S+) resolution=64 data=synthetic", last)
    assert match, proc.stdout[-2000:]
    assert Path(match.group(1)).name == "generator.pt" and Path(match.group(1)).is_file()
