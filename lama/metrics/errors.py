"""Why a metric did not run: CannotRun is a missing input (weights, masks, repeats, data), reported with its
reason; any other exception inside a metric is a bug and is reported as an error, never as a skip."""

from __future__ import annotations


class CannotRun(RuntimeError):
    """A metric cannot run on these inputs. str() is the full reason with the fix; `short` is the table's reason."""

    def __init__(self, message: str, short: str | None = None) -> None:
        super().__init__(message)
        self.short = short or message
