"""Weights the metric tests make themselves (random init, saved to temp files) and tiny image sets."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
import torch
from torch import nn


def _gain_preserving_init(module: nn.Module, seed: int) -> None:
    """Kaiming-normal convs/linears so activations stay O(1) through a deep random network."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()


def random_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict torch-fidelity's inception-v3-compat accepts as feature_extractor_weights_path:
    build the extractor with its weight loading switched off, re-initialise, read back its state."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    with mock.patch.object(fe, "load_state_dict_from_url", return_value={}), mock.patch.object(
        fe.FeatureExtractorInceptionV3, "load_state_dict", return_value=None
    ):
        model = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    _gain_preserving_init(model, seed)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "random_inception.pth"
    torch.save(random_inception_state_dict(), path)
    return path


@pytest.fixture(scope="session")
def alexnet_weights(tmp_path_factory) -> Path:
    """A randomly initialised torchvision AlexNet state dict (the LPIPS backbone)."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random_alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def random_images(n: int, size: int, seed: int, offset: float = 0.0) -> torch.Tensor:
    """(n, 3, size, size) uint8 smooth random images; `offset` shifts their brightness."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=gen)
    images = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return ((images * 0.8 + offset).clamp(0, 1) * 255).round().to(torch.uint8)

