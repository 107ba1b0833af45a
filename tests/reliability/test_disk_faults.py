"""Full disks and unwritable places (issue 15.8): one `error:` line naming the path; a failed checkpoint
write keeps the previous file and leaves no *.tmp behind once the next write succeeds."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fsspec.implementations.local import LocalFileOpener
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from lama.checkpoint import save_generator
from lama.cli import disk_error_line, is_disk_error
from lama.training.callbacks import PeriodicCheckpoint
from tests.conftest import REPO


def _trainer(state: dict) -> SimpleNamespace:
    """The part of a Trainer PeriodicCheckpoint.save uses, writing through Lightning's own checkpoint writer."""
    return SimpleNamespace(global_rank=0,
                           save_checkpoint=lambda path, weights_only=False: TorchCheckpointIO().save_checkpoint(dict(state), path),
                           strategy=SimpleNamespace(barrier=lambda name: None))


def _fail_writes(monkeypatch, code: int) -> None:
    """Every write fails like a full disk (ENOSPC) or an unwritable place (EACCES, EROFS: at open)."""
    def write(self, data):
        raise OSError(code, os.strerror(code))

    real_open = Path.open

    def open_(self, mode="r", *args, **kwargs):
        if "w" in mode and code != errno.ENOSPC:
            raise OSError(code, os.strerror(code), str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(LocalFileOpener, "write", write)
    monkeypatch.setattr(Path, "open", open_)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, code):
    ckpts = tmp_path / "checkpoints"
    callback = PeriodicCheckpoint(str(ckpts))
    callback.save(_trainer({"step": torch.tensor(1)}), "last.ckpt")
    (ckpts / "epoch_0005.ckpt.tmp").write_bytes(b"partial")  # a write killed earlier
    with monkeypatch.context() as m:
        _fail_writes(m, code)
        with pytest.raises(OSError) as info:
            callback.save(_trainer({"step": torch.tensor(2)}), "last.ckpt")
    err = info.value
    assert err.errno == code and err.filename == str(ckpts / "last.ckpt") and is_disk_error(err)
    line = disk_error_line(err)
    assert line.startswith(f"cannot write {ckpts / 'last.ckpt'}: {os.strerror(code)} (the previous last.ckpt is kept)")
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["step"] == 1
    assert not (ckpts / "last.ckpt.tmp").exists()
    callback.save(_trainer({"step": torch.tensor(3)}), "last.ckpt")
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["step"] == 3
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt"]


def test_failed_generator_save_keeps_the_previous_file(tmp_path, monkeypatch):
    from lama.models import build_generator

    hp = dict(resolution=64, num_classes=10, ch=4, z_dim=16, lama=True)
    g = build_generator(**hp)
    path = save_generator(tmp_path / "generator.pt", g, hp)
    before = path.read_bytes()

    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError) as info:
        save_generator(path, g, hp)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["generator.pt"]


def test_unwritable_cache_dir_is_one_line(tmp_path):
    """A cache directory that cannot be made (a file in the way: unwritable for root too)."""
    (tmp_path / "file").write_text("")
    env = {**os.environ, "LAMA_OUTPUT_DIR": str(tmp_path / "out"), "LAMA_DATA_DIR": str(tmp_path / "data"),
           "LAMA_CACHE_DIR": str(tmp_path / "file" / "cache")}
    proc = subprocess.run([sys.executable, "run.py", "task=prepare", "data.generate.num_train=2",
                           "data.generate.num_val=2"], cwd=REPO, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot write {tmp_path / 'file' / 'cache'}")
    assert "Traceback" not in proc.stderr
