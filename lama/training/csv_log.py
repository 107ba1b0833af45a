"""A CSV logger that continues its metrics.csv: Lightning's deletes an existing one when it starts, which
would throw away a resumed run's earlier curves (resume=true writes into the same run directory)."""

from __future__ import annotations

import csv
import os

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

ITERATION = "train/iteration"  # every row of a LAMA run carries it


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
            before = _before_first_of(self.metrics)
            with open(self.metrics_file_path, newline="") as file:
                rows = [row for row in csv.DictReader(file) if before(row)]
            with open(self.metrics_file_path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            self._continuing = False
        super().save()


def _before_first_of(new_rows: list[dict]):
    """Whether an old row was logged before the first of new_rows: by `train/iteration` where both have it
    (the run's own unit; runs of before 2026-12-07 logged mask metrics at another step than their training
    rows), else by Lightning's step."""
    def value(row, key):
        return float(row[key]) if row.get(key) not in (None, "") else None

    first_step = min(value(m, "step") for m in new_rows)
    iterations = [it for it in (value(m, ITERATION) for m in new_rows) if it is not None]
    first_iteration = min(iterations) if iterations else None

    def before(row) -> bool:
        iteration, step = value(row, ITERATION), value(row, "step")
        if iteration is not None and first_iteration is not None:
            return iteration < first_iteration
        return step is not None and step < first_step

    return before


class ContinuingCSVLogger(CSVLogger):
    """Lightning's CSVLogger writing through ContinuingExperimentWriter."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
