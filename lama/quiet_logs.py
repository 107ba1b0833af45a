"""Third-party messages that say nothing to a user of this project, silenced in one place (issue 18.4).
Each filter names why the message does not apply here."""

from __future__ import annotations

import logging
import warnings

# Lightning's adverts for its cloud products ("💡 Tip: ... litlogger / litmodels"), printed at every fit.
_ADVERT_PREFIX = "💡 Tip"
_LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")
_WARNINGS = (
    # Raised inside Lightning's own use of torch's pytree API: nothing a user (or we) call.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # The data module's validation loader feeds callbacks (sample grids, mask metrics, val/fid), not a
    # validation_step, so Lightning's "skipping val loop" is the intended behaviour.
    r"You passed in a `val_dataloader` but have no `validation_step`",
)


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_ADVERT_PREFIX)


def quiet_third_party_logs() -> None:
    """Drop Lightning's product tips and the warnings above; idempotent."""
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message)
