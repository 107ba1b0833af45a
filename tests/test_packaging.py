"""pyproject.toml: every runtime dependency is used by the package, and each extra holds what its name says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
MODULE = {"pytorch-lightning": "pytorch_lightning", "hydra-core": "hydra", "torch-fidelity": "torch_fidelity",
          "pillow": "PIL", "pyyaml": "yaml"}  # fmt: skip
# Used without an import statement of their own.
INDIRECT = {"wandb": "configs/logger/wandb.yaml (Lightning's WandbLogger)",
            "ninja": "lama/ops/extension.py (torch.utils.cpp_extension builds the op at run time)"}  # fmt: skip


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def _imported_modules() -> set[str]:
    sources = [REPO / "run.py", *(REPO / "lama").rglob("*.py")]
    pattern = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", re.M)
    return {m for path in sources for m in pattern.findall(path.read_text())}


def test_every_runtime_dependency_is_used():
    imported = _imported_modules()
    unused = [dep for dep in map(_name, PROJECT["dependencies"])
              if dep not in INDIRECT and MODULE.get(dep, dep).replace("-", "_") not in imported]  # fmt: skip
    assert not unused, f"dependencies nothing imports: {unused}"


def test_extras_are_named_by_what_they_hold():
    extras = {name: {_name(r) for r in reqs} for name, reqs in PROJECT["optional-dependencies"].items()}
    assert extras["tensorboard"] == {"tensorboard"}
    assert extras["slurm"] == {"hydra-submitit-launcher"}
    assert extras["optuna"] == {"hydra-optuna-sweeper"}
    assert "ninja" in map(_name, PROJECT["dependencies"])  # needed at run time, not only by developers
