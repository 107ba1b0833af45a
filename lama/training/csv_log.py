"""A CSV logger that continues its metrics.csv: Lightning's deletes an existing one when it starts, which
would throw away a resumed run's earlier curves (resume=true writes into the same run directory)."""

from __future__ import annotations

import csv
import os

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

ITERATION = "train/iteration"  # on training and mask-metric rows (not on val/fid's)


class ContinuingExperimentWriter(ExperimentWriter):
    """Keeps the rows of an existing metrics.csv that come before the first step this run logs; rows from
    that step on were logged after the checkpoint the run resumes from, and the run logs them again."""

    def _check_log_dir_exists(self) -> None:
        self._continuing = os.path.isfile(self.metrics_file_path)
        if self._continuing:
            with open(self.metrics_file_path, newline="") as file:
                self.metrics_keys = sorted(csv.DictReader(file).fieldnames or [])

    def save(self) -> None:
        if self._continuing and self.metrics:
            first_iteration, first_step = _first(self.metrics, ITERATION), _first(self.metrics, "step")
            with open(self.metrics_file_path, newline="") as file:
                rows = [row for row in csv.DictReader(file) if _logged_before(row, first_iteration, first_step)]
            with open(self.metrics_file_path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            self._continuing = False
        super().save()


def _value(row: dict, key: str) -> float | None:
    return float(row[key]) if row.get(key) not in (None, "") else None


def _first(rows: list[dict], key: str) -> float | None:
    values = [v for v in (_value(row, key) for row in rows) if v is not None]
    return min(values) if values else None


def _logged_before(row: dict, first_iteration: float | None, first_step: float | None) -> bool:
    """Whether an old row came before the new run's first rows: by `train/iteration` where both have it (the
    run's own unit; runs of before 2026-12-07 logged mask metrics at another step than their training rows),
    else by Lightning's step."""
    iteration, step = _value(row, ITERATION), _value(row, "step")
    if iteration is not None and first_iteration is not None:
        return iteration < first_iteration
    return step is not None and first_step is not None and step < first_step


class ContinuingCSVLogger(CSVLogger):
    """Lightning's CSVLogger writing through ContinuingExperimentWriter."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
