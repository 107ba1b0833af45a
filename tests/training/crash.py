"""A callback that SIGKILLs its own process after a given GAN iteration (a crash for the resume test)."""

import os
import signal

import pytorch_lightning as pl


class KillAt(pl.Callback):
    """Kill -9 the training process right after iteration `iteration` (no cleanup, no final save)."""

    def __init__(self, iteration: int) -> None:
        self.iteration = int(iteration)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.iteration == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)
