"""IS / FID through torch-fidelity with a random Inception the test makes itself (few tiny images)."""

import urllib.error

import pytest
import torch
import torch_fidelity

from lama.metrics import WeightsUnavailable
from lama.metrics.fidelity import INCEPTION_FILE, fidelity_metrics, real_stats_cache_name
from lama.metrics.images import ImageFiles
from lama.sampling.images import write_image
from tests.metrics.conftest import random_images


def _folder(path, images):
    path.mkdir()
    for k, img in enumerate(images):
        write_image(path / f"{k}.png", img)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid")
    return _folder(root / "fake", random_images(3, 32, seed=0)), _folder(root / "real", random_images(3, 32, seed=1, offset=0.2))


def test_fid_and_is_equal_torch_fidelity_on_the_same_folders(folders, inception_weights, tmp_path):
    """FID on the 64-d first pooled layer (pool3's 2048x2048 eigen-decomposition takes ~10 s per FID on a
    shared CPU: the slow test below covers it); everything else is the production path."""
    fake, real = folders
    name = real_stats_cache_name("toy", "val", 32, 3, inception_weights, features="64")
    ours = fidelity_metrics(ImageFiles(sorted(fake.glob("*.png"))), str(real), weights_path=inception_weights,
                            real_cache_name=name, cache_dir=tmp_path, isc_splits=1, loader_workers=False,
                            fid_features="64", verbose=False)
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake), input2=str(real), isc=True, fid=True, feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(inception_weights), feature_layer_fid="64", isc_splits=1, cuda=False, cache=False,
        save_cpu_ram=True, verbose=False)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6, abs=1e-6)
    assert ours["is_mean"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours["fid"] > 1e-3  # different image sets are at a positive distance
    # The real statistics were cached under the protocol's name; FID(real, real) from the cache is ~0.
    cached = list(tmp_path.glob("lama-toy-val-images-32px-n3-tf1-bilinear-299-random_inception-*-pool64-*stat-fid-64.pt"))
    assert len(cached) == 1
    same = fidelity_metrics(str(real), str(real), isc=False, fid=True, weights_path=inception_weights,
                            real_cache_name=name, cache_dir=tmp_path, loader_workers=False, fid_features="64",
                            verbose=False)
    assert abs(same["fid"]) < 1e-3


@pytest.mark.slow
def test_pool3_fid_equals_torch_fidelity_and_real_vs_real_is_zero(folders, inception_weights):
    fake, real = folders
    ours = fidelity_metrics(str(fake), str(real), isc=False, weights_path=inception_weights, loader_workers=False,
                            verbose=False)
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake), input2=str(real), fid=True, feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(inception_weights), cuda=False, cache=False, save_cpu_ram=True,
        verbose=False)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    same = fidelity_metrics(str(real), str(real), isc=False, weights_path=inception_weights, loader_workers=False,
                            verbose=False)
    assert abs(same["fid"]) < 1e-2


def test_cache_name_holds_everything_that_changes_the_statistics(inception_weights):
    a = real_stats_cache_name("coco_stuff", "val", 128, 3097)
    assert all(part in a for part in ("coco_stuff", "val", "128px", "n3097", "tf1-bilinear-299", "inception-2015-12-05"))
    assert real_stats_cache_name("coco_stuff", "val", 256, 3097) != a
    assert real_stats_cache_name("coco_stuff", "val", 128, 3097, inception_weights) != a


def test_offline_fid_fails_naming_the_weights_file_and_the_option(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailable) as err:
        fidelity_metrics(random_images(2, 8, 0), random_images(2, 8, 1), verbose=False)
    assert INCEPTION_FILE in str(err.value) and "metrics.inception_weights=" in str(err.value)
    with pytest.raises(WeightsUnavailable, match="metrics.inception_weights=.*no such weights file"):
        fidelity_metrics(random_images(2, 8, 0), weights_path=tmp_path / "missing.pth", fid=False, verbose=False)
