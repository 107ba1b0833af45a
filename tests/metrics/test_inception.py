"""The evaluation's one Inception: IS and FID from one pass equal torch-fidelity's numbers computed alone
and together (what task=evaluate computed before it had its own passes), real statistics are cached where
torch-fidelity caches them, and loader workers do not change a feature. Random Inception from conftest;
FID on the 64-d first pooled layer (pool3's 2048 x 2048 eigenvalues take ~10 s on a shared CPU)."""

import pytest
import torch

from lama.metrics.fidelity import fidelity_metrics
from lama.metrics.images import MappedImages
from lama.metrics.inception import IS_LAYER, Inception, inception_score, stats_file
from lama.metrics.scene_fid import scene_crops
from lama.progress import StageClock
from tests.metrics.conftest import random_images


def _images(n, seed, offset=0.0):
    images = random_images(n, 32, seed=seed, offset=offset)
    return MappedImages(lambda i: images[i], n)


def test_one_pass_gives_the_is_and_fid_that_torch_fidelity_gives_alone_and_together(inception_weights):
    fake, real = _images(4, seed=0), _images(3, seed=1, offset=0.2)
    net = Inception(inception_weights, fid_layer="64")
    clock = StageClock()
    with clock.active():
        features = net.features(fake, "is_fid/fake", progress=False)
        stats = net.real_statistics(real, "fid/real", None, None, progress=False)
        ours = {**inception_score(features, splits=2), "fid": net.fid(features, stats)}
    common = dict(weights_path=inception_weights, isc_splits=2, loader_workers=False, fid_features="64", verbose=False)
    together = fidelity_metrics(fake, real, isc=True, fid=True, **common)
    is_alone = fidelity_metrics(fake, isc=True, fid=False, **common)
    fid_alone = fidelity_metrics(fake, real, isc=False, fid=True, **common)
    assert ours == together  # exactly: the same batches through the same network
    assert ours["is_mean"] == is_alone["is_mean"] and ours["is_std"] == is_alone["is_std"]
    assert ours["fid"] == fid_alone["fid"] and ours["fid"] > 1e-3
    # One pass over the fakes served both, and each pass was a timed stage of its images.
    assert clock.records["is_fid/fake"].items == 4 and clock.records["fid/real"].items == 3
    assert clock.records["fid/distance"].items == 1
    assert features[IS_LAYER].shape == (4, 1008)


def test_real_statistics_are_cached_in_torch_fidelitys_file_and_read_back(inception_weights, tmp_path):
    real = _images(3, seed=1)
    net = Inception(inception_weights, fid_layer="64", with_is=False)
    first = net.real_statistics(real, "fid/real", "toy-real", tmp_path, progress=False)
    assert stats_file(tmp_path, "toy-real", "64").is_file()
    clock = StageClock()
    with clock.active():
        again = net.real_statistics(real, "fid/real", "toy-real", tmp_path, progress=False)
    assert "fid/real" not in clock.records  # read from the cache: no Inception pass
    assert (again["mu"] == first["mu"]).all() and (again["sigma"] == first["sigma"]).all()
    # torch-fidelity (the path before) writes its FID statistics under the same file name.
    fidelity_metrics(_images(2, seed=0), real, isc=False, fid=True, weights_path=inception_weights,
                     real_cache_name="toy-tf", cache_dir=tmp_path, loader_workers=False, fid_features="64",
                     verbose=False)
    assert stats_file(tmp_path, "toy-tf", "64").is_file()


def test_loader_workers_leave_every_feature_as_it_was(inception_weights):
    crops = scene_crops(_images(2, seed=3), [[3, 7], [9, 0]],
                        [[[0, 0, 0.5, 0.5], [0.2, 0.3, 0.7, 0.5]], [[0.5, 0, 0.5, 1], [0, 0, 0, 0]]], size=224)
    in_process = Inception(inception_weights, fid_layer="64", with_is=False, workers=0)
    with_workers = Inception(inception_weights, fid_layer="64", with_is=False, workers=2)
    a = in_process.features(crops, "scene_fid/fake", progress=False)["64"]
    b = with_workers.features(crops, "scene_fid/fake", progress=False)["64"]
    assert a.shape == (3, 64) and torch.equal(a, b)


def test_a_state_dict_of_another_network_is_reported_as_unusable_weights(tmp_path):
    from lama.metrics import WeightsUnavailable

    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsUnavailable, match="does not fit torch-fidelity"):
        Inception(path)
