"""The foundation: run.py dispatch and errors, the Makefile targets, the CI script."""

import os
import re
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import REPO


def run_py(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the entry point as a user would, its outputs under a throw-away directory."""
    env = {**os.environ, "LAMA_OUTPUT_DIR": tempfile.mkdtemp(prefix="lama-test-"), **(env or {})}
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=REPO, capture_output=True, text=True, timeout=120, env=env
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line a user error ends with (exit status 2, nothing else on stderr)."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    return lines[0]


def test_help_lists_config_groups():
    proc = run_py("--help")
    assert proc.returncode == 0, proc.stderr
    for group in ("data", "model", "trainer", "logger", "callbacks", "metrics", "experiment", "hparams_search",
                  "hydra/launcher"):
        assert re.search(rf"^{group}: ", proc.stdout, re.M), (
            f"group {group} missing from --help:\n{proc.stdout}"
        )
    assert re.search(r"^hydra/launcher: .*\bslurm\b", proc.stdout, re.M)
    from lama.tasks import TASKS

    for task in TASKS:
        assert re.search(rf"^{task}\s+\S", proc.stdout, re.M), f"task {task} missing from --help"


def test_unknown_task_is_one_line_and_exit_2():
    proc = run_py("task=paint")
    assert proc.returncode == 2
    assert "unknown task 'paint'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_required_value_is_one_line_and_exit_2():
    proc = run_py("task=train", "+required_here=???")
    assert proc.returncode == 2, proc.stderr
    assert "required_here" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("override", "expected"),
    [("trainer.max_iteratons=3", "error: trainer.max_iteratons is not a config key; did you mean "
      "trainer.max_iterations? (+trainer.max_iteratons=... adds it as a new key)"),
     ("trainr.max_iterations=3", "error: trainr.max_iterations is not a config key; did you mean "
      "trainer.max_iterations?"),
     ("+trainer.max_epochs=3", "error: +trainer.max_epochs: trainer.max_epochs is already a config key; drop the +")],
)
def test_mistyped_key_is_one_line_naming_the_nearest_key(override, expected):
    assert one_error_line(run_py(override)).startswith(expected)


def test_unknown_preset_is_one_line_naming_the_nearest_preset():
    presets = sorted(p.stem for p in (REPO / "configs" / "experiment").glob("*.yaml"))
    line = one_error_line(run_py("experiment=coco_512"))
    assert line == (f"error: experiment=coco_512 is not a preset; did you mean coco_256? "
                    f"(available: {', '.join(presets)})")


def test_config_errors_in_a_multirun_are_one_line_too():
    proc = run_py("-m", "task=paint", "trainer.max_iteratons=1,2")
    assert "did you mean trainer.max_iterations?" in one_error_line(proc)


def test_resolution_override_reaches_the_config():
    proc = run_py("resolution=128", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^resolution: 128$", proc.stdout, re.M)


def test_paths_follow_environment_variables(tmp_path):
    proc = run_py(
        "--cfg",
        "job",
        "--resolve",
        env={"LAMA_DATA_DIR": str(tmp_path / "d"), "LAMA_CACHE_DIR": str(tmp_path / "c")},
    )
    assert proc.returncode == 0, proc.stderr
    assert f"data_dir: {tmp_path / 'd'}" in proc.stdout
    assert f"cache_dir: {tmp_path / 'c'}" in proc.stdout


@pytest.mark.parametrize("target", ["help", "install", "test", "test-full", "demo", "bench", "lint", "clean"])
def test_makefile_has_documented_target(target):
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^{re.escape(target)}:.*## \S", makefile, re.M), (
        f"make {target} missing or undocumented"
    )


def test_make_help_lists_targets():
    proc = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "demo" in proc.stdout and "test" in proc.stdout
    assert "\033" not in proc.stdout, "raw ANSI colour codes in piped `make help`"
    assert "ARGS=" in proc.stdout and "CPU=1" in proc.stdout


@pytest.mark.parametrize(("flag", "cpu_index"), [([], False), (["CPU=1"], True)])
def test_make_install_cpu_uses_pytorch_cpu_index(tmp_path, flag, cpu_index):
    venv = tmp_path / "venv"  # absent, so `make -n` prints every install step
    proc = subprocess.run(["make", "-n", "install", f"VENV={venv}", *flag], cwd=REPO, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    pip = [line for line in proc.stdout.splitlines() if "pip install" in line]
    assert len(pip) == 1 and "-e '.[dev,tensorboard,slurm,optuna,app]'" in pip[0]
    assert ("--extra-index-url https://download.pytorch.org/whl/cpu" in pip[0]) is cpu_index


def test_ci_script_runs_make_test():
    ci = REPO / ".ci" / "run"
    assert ci.is_file() and os.access(ci, os.X_OK)
    text = ci.read_text()
    assert "set -e" in text and "make test" in text


def test_readme_opens_with_the_two_commands():
    head = "\n".join((REPO / "README.md").read_text().splitlines()[:8])
    assert "make demo" in head and "make test" in head
