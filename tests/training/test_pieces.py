"""Small parts: per-object mask colouring, W&B mode choice, SyncBN switch."""

from __future__ import annotations

import pytest
import torch

from lama.layout import object_color
from lama.sampling.images import color_masks
from lama.training.grid import TITLE_HEIGHT, sample_grid
from lama.training.loggers import wandb_logged_in, wandb_mode


def test_color_masks_mixes_object_colours_by_mask_value():
    masks = torch.zeros(3, 4, 4)
    masks[0, :2] = 1.0
    masks[1, 1:3] = 0.5
    labels = torch.tensor([5, 9, 0])  # the last slot is padding
    image = color_masks(masks, labels)
    c5, c9 = torch.tensor(object_color(5)).float(), torch.tensor(object_color(9)).float()
    torch.testing.assert_close(image[:, 0, 0].float(), c5.round())
    torch.testing.assert_close(image[:, 1, 0].float(), ((c5 + 0.5 * c9) / 1.5).round())
    torch.testing.assert_close(image[:, 2, 0].float(), (0.5 * c9).round())
    assert image[:, 3].sum() == 0


def test_sample_grid_has_four_upscaled_tiles_per_layout():
    b, o, r = 2, 3, 32
    labels = torch.tensor([[1, 2, 0], [3, 0, 0]])
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.5]] * 3] * 2)
    grid = sample_grid(torch.zeros(b, 3, r, r), torch.zeros(b, 3, r, r), torch.rand(b, o, r, r),
                       torch.rand(b, o, r, r), labels, boxes, min_size=64)
    title = TITLE_HEIGHT
    assert grid.dtype == torch.uint8 and grid.shape == (3, title + 2 + b * 66, 2 + 4 * 66)
    strip = grid[:, :title]
    for k in range(4):  # each column has its title: dark pixels on the white strip above it
        column = strip[:, :, 2 + k * 66: 2 + (k + 1) * 66]
        assert (column < 128).any(), f"column {k} has no title"
    assert (strip[:, :, 0] == 255).all() and (grid[:, title:title + 2] == 255).all()  # white margins


def test_wandb_goes_online_only_with_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert not wandb_logged_in() and wandb_mode("auto") == "offline"
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert wandb_logged_in() and wandb_mode("auto") == "online"
    (tmp_path / "netrc").write_text("machine example.com\n  login user\n  password abc\n")
    assert wandb_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode("auto") == "offline" and wandb_mode("online") == "online"
    with pytest.raises(ValueError, match="logger.wandb.mode"):
        wandb_mode("sometimes")


def test_sync_batchnorm_only_on_gpu_processes(monkeypatch):
    from lama.training import LamaGAN

    class FakeTrainer:
        world_size = 2
        datamodule = None

        class strategy:  # noqa: N801 - mimics trainer.strategy
            class root_device:  # noqa: N801
                type = "cuda"

    module = LamaGAN(resolution=64, num_classes=5, ch=4)
    monkeypatch.setattr(LamaGAN, "trainer", property(lambda self: FakeTrainer))
    # the fake root device is not a real GPU: the fast-path choice would query CUDA, which is not what this tests
    monkeypatch.setattr(LamaGAN, "_choose_fast_path", lambda self, device: None)
    module.setup("fit")
    kinds = {type(m).__name__ for m in module.G.modules()}
    assert "SyncBatchNorm" in kinds and "BatchNorm2d" not in kinds
    assert not any(type(m).__name__ == "SyncBatchNorm" for m in module.D.modules())


@pytest.mark.slow
def test_wandb_logger_without_credentials_runs_offline_and_never_prompts(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "from lama.training.loggers import wandb_logger\n"
        f"lg = wandb_logger(project='lama', save_dir={str(tmp_path / 'run')!r})\n"
        "lg.log_metrics({'train/d_loss': 1.0}, step=0)\n"
        "lg.experiment.finish()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), NETRC=str(tmp_path / "netrc"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
