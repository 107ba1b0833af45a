"""DS: LPIPS (torchmetrics AlexNet) between two samples of a layout, with a random AlexNet the test saves."""

import urllib.error
from unittest import mock

import pytest
import torch
import torchvision

from lama.metrics import WeightsUnavailable
from lama.metrics.diversity import build_lpips, diversity_score, lpips_distances
from lama.metrics.images import MappedImages
from lama.sampling.images import to_unit_range
from tests.metrics.conftest import random_images


def _set(images):
    return MappedImages(lambda i: images[i], len(images))


def test_ds_of_identical_pairs_is_zero_and_of_different_pairs_positive(alexnet_weights):
    net = build_lpips(alexnet_weights)
    a, b = random_images(4, 32, seed=0), random_images(4, 32, seed=1)
    same = lpips_distances(_set(a), _set(a), net, batch_size=3, progress=False)
    assert same.shape == (4,) and torch.all(same.abs() < 1e-6)
    diff = lpips_distances(_set(a), _set(b), net, batch_size=3, progress=False)
    assert torch.all(diff > 1e-4)
    ds = diversity_score(diff)
    assert ds["ds_mean"] == pytest.approx(float(diff.mean()), rel=1e-6)
    assert ds["ds_std"] == pytest.approx(float(diff.std(unbiased=False)), rel=1e-5)
    assert diversity_score(same)["ds_mean"] == pytest.approx(0.0, abs=1e-6)


def test_local_alexnet_equals_torchmetrics_lpips_with_that_backbone(alexnet_weights):
    """Independent route: torchmetrics' public LPIPS metric, its AlexNet download replaced by our file."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    state = torch.load(alexnet_weights, weights_only=True)
    build = torchvision.models.alexnet

    def local_alexnet(weights=None, **kwargs):
        model = build(weights=None)
        model.load_state_dict(state)
        return model

    with mock.patch.object(torchvision.models, "alexnet", local_alexnet):
        metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="none")
    a, b = random_images(3, 32, seed=2), random_images(3, 32, seed=3)
    expected = metric(to_unit_range(a), to_unit_range(b))
    ours = lpips_distances(_set(a), _set(b), build_lpips(alexnet_weights), progress=False)
    assert torch.allclose(ours, expected.reshape(-1), atol=1e-6)


def test_offline_lpips_names_the_alexnet_file_and_the_option(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        mock.Mock(side_effect=urllib.error.URLError("no network")))
    with pytest.raises(WeightsUnavailable, match=r"alexnet-owt-7be5be79\.pth.*metrics\.lpips_weights="):
        build_lpips(None)
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailable, match="metrics.lpips_weights=.*bad.pth"):
        build_lpips(tmp_path / "bad.pth")


def test_ds_needs_pairs():
    with pytest.raises(ValueError, match="repeats >= 2"):
        diversity_score(torch.zeros(0))
