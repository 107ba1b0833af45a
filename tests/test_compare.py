"""task=compare on a fabricated tiny sweep (2 settings x 2 seeds) whose numbers are known."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lama.tasks import TaskError
from lama.tasks.compare import compare

REPO = Path(__file__).resolve().parents[1]


def _job(root: Path, num: int, lama: bool, seed: int, final: float) -> None:
    run = root / str(num)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        ["experiment=ablation_synthetic", f"model.lama={str(lama).lower()}", f"seed={seed}",
         f"hydra.run.dir=/somewhere/{num}"]))
    (run / "results.json").write_text(json.dumps({"mask_iou": final, "protocol": {"x": 1}, "not_run": {}}))
    (run / "csv").mkdir()
    lines = ["step,train/iteration,train/d_loss,val/mask_iou", "1,2,0.5,", f"3,2,,{final / 2}", f"7,4,,{final}"]
    (run / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def sweep(tmp_path) -> Path:
    for num, (lama, seed, final) in enumerate([(True, 0, 0.6), (True, 1, 0.8), (False, 0, 0.3), (False, 1, 0.5)]):
        _job(tmp_path, num, lama, seed, final)
    return tmp_path


def test_table_has_one_row_per_job_the_differing_overrides_and_seed_statistics(sweep):
    text = compare([sweep], sweep)
    header = next(line for line in text.splitlines() if line.startswith("| job"))
    assert header.split(" | ")[1:3] == ["model.lama", "seed"]  # experiment= and hydra.* are not columns
    assert "| 1 | true | 1 | 4 | 0.8 | 0.8 |" in text  # job, overrides, iterations, results.json, last val/ value
    assert "| true | 2 | 4 ± 0 | 0.7 ± 0.1414 | 0.7 ± 0.1414 |" in text  # mean ± sample std of (0.6, 0.8)
    assert "| false | 2 | 4 ± 0 | 0.4 ± 0.1414 |" in text
    assert (sweep / "comparison.md").read_text() == text
    assert (sweep / "comparison.png").stat().st_size > 1000


def test_a_list_of_run_dirs_writes_into_their_common_parent(sweep):
    text = compare([sweep / "0", sweep / "2"], sweep)
    assert "Mean ± std" not in text and "| 2 | false | 4 | 0.3 | 0.3 |" in text


def test_a_folder_without_runs_is_a_clear_error(tmp_path):
    with pytest.raises(TaskError, match="no run directory"):
        compare([tmp_path], tmp_path)


def test_run_py_task_compare_prints_the_table(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    proc = subprocess.run([sys.executable, "run.py", "task=compare", f"sweep={sweep}"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "LAMA_OUTPUT_DIR": str(out)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| job | model.lama | seed |" in proc.stdout


def _study_run(root: Path, lama: bool, seed: int, things: float, floor: float) -> None:
    """A run folder as benchmarks/ablation/runs/ keeps one: .hydra/overrides.yaml, results.json, metrics.csv."""
    run = root / f"lama_{str(lama).lower()}_seed{seed}"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        ["experiment=ablation_synthetic", f"model.lama={str(lama).lower()}", f"seed={seed}"]))
    metrics = {"mask_iou_things": things, "mask_iou_things_raw": things - 0.01, "mask_iou_things_box": floor}
    (run / "results.json").write_text(json.dumps(metrics))
    keys = ["val/mask_iou", "val/mask_iou_raw", "val/mask_iou_box"]
    lines = ["step,train/iteration," + ",".join(keys)]
    lines += [f"{it},{it},{things * it / 4},{things * it / 4 - 0.01},{floor}" for it in (2, 4)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_a_study_folder_leads_with_the_paired_difference_and_its_95_interval(tmp_path):
    # LAMA-on minus off per seed: 0.1, 0.2, 0.3 -> mean 0.2, sample sd 0.1, t(0.975, 2) = 4.302653
    for seed, (on, off) in enumerate([(0.6, 0.5), (0.7, 0.5), (0.8, 0.5)]):
        _study_run(tmp_path, True, seed, on, 0.55)
        _study_run(tmp_path, False, seed, off, 0.55)
    text = compare([tmp_path], tmp_path)
    assert text.index("Paired difference") < text.index("Every run")
    row = next(line for line in text.splitlines() if line.startswith("| mask_iou_things |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    half = 4.302653 * 0.1 / 3 ** 0.5
    assert cells[1:7] == ["3", "0.7000 ± 0.1000", "0.5000 ± 0.0000", "0.55", "+0.2000",
                          f"[{0.2 - half:+.4f}, {0.2 + half:+.4f}]"]
    assert cells[7] == "+0.100 +0.200 +0.300"
    assert "model.lama=true minus model.lama=false" in text
    # the headline figure (mask IoU with seed bands) is comparison.png; everything else goes to comparison_all.png
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    assert (tmp_path / "comparison_all.png").is_file()


def test_seed_band_is_mean_and_sample_std_at_the_iterations_every_seed_logged(tmp_path):
    from lama.tasks.compare import Job, seed_band

    a = Job(tmp_path, {}, {}, {"val/x": [(2.0, 0.2), (4.0, 0.4)]})
    b = Job(tmp_path, {}, {}, {"val/x": [(2.0, 0.4), (4.0, 0.8), (6.0, 1.0)]})
    xs, mean, std = seed_band([a, b], "val/x")
    assert xs == [2.0, 4.0]
    assert mean == pytest.approx([0.3, 0.6])
    assert std == pytest.approx([0.2 / 2 ** 0.5, 0.4 / 2 ** 0.5])  # sample std of two values: their gap / sqrt(2)
