"""A CSV logger that continues its metrics.csv: Lightning's deletes an existing one when it starts, which
would throw away a resumed run's earlier curves (resume=true writes into the same run directory)."""

from __future__ import annotations

import csv
import os

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


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
            first = min(float(m["step"]) for m in self.metrics)
            with open(self.metrics_file_path, newline="") as file:
                rows = [row for row in csv.DictReader(file) if row.get("step") and float(row["step"]) < first]
            with open(self.metrics_file_path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            self._continuing = False
        super().save()


class ContinuingCSVLogger(CSVLogger):
    """Lightning's CSVLogger writing through ContinuingExperimentWriter."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
