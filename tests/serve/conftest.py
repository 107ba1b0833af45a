"""A tiny random-init generator checkpoint and the app serving it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lama.checkpoint import save_generator

CLASS_NAMES = ["__pad__", "sky", "grass", "circle", "square", "big ring"]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from lama.models import build_generator

    torch.manual_seed(0)
    hp = dict(resolution=64, num_classes=len(CLASS_NAMES), ch=8, z_dim=16, lama=True)
    return save_generator(tmp_path_factory.mktemp("serve") / "g.pt", build_generator(**hp), hp, CLASS_NAMES)


@pytest.fixture(scope="session")
def served(tiny_checkpoint):
    from lama.checkpoint import load_generator
    from lama.layout import Layout
    from lama.serve.model import ServedModel

    generator, record = load_generator(tiny_checkpoint)
    validation = [Layout(torch.tensor([[1, 3, 0]]), torch.tensor([[[0, 0, 1, .4], [.2, .3, .5, .5], [-.6, -.6, .5, .5]]]))]
    return ServedModel(generator, record, CLASS_NAMES, max_objects=3, checkpoint=str(tiny_checkpoint)), validation
