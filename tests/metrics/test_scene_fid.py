"""SceneFID: FID between object crop sets (random Inception made by the tests, small FID layer)."""

import pytest
import torch_fidelity

from lama.metrics.errors import CannotRun
from lama.metrics.images import MappedImages
from lama.metrics.scene_fid import scene_crops, scene_fid
from tests.metrics.conftest import random_images

LABELS = [[3, 0, 7], [9, 4, 0]]
BOXES = [[[0.0, 0.0, 0.5, 0.5], [-0.6, -0.6, 0.5, 0.5], [0.25, 0.25, 0.75, 0.5]],
         [[0.5, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 0.5], [-0.6, -0.6, 0.5, 0.5]]]


def _crops(seed, offset=0.0):
    images = random_images(2, 32, seed=seed, offset=offset)
    return scene_crops(MappedImages(lambda i: images[i], 2), LABELS, BOXES, size=224)


def test_scene_fid_is_torch_fidelity_fid_of_the_crop_sets(inception_weights):
    fake, real = _crops(0), _crops(1, offset=0.2)
    assert len(fake) == 4 and fake[0].shape == (3, 224, 224)
    ours = scene_fid(fake, real, weights_path=inception_weights, loader_workers=False, fid_features="64",
                     verbose=False)
    theirs = torch_fidelity.calculate_metrics(
        input1=fake, input2=real, fid=True, feature_extractor="inception-v3-compat", feature_layer_fid="64",
        feature_extractor_weights_path=str(inception_weights), cuda=False, cache=False, save_cpu_ram=True,
        verbose=False)["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=1e-6) and ours > 1e-3
    same = scene_fid(real, _crops(1, offset=0.2), weights_path=inception_weights, loader_workers=False,
                     fid_features="64", verbose=False)
    assert abs(same) < 1e-3


def test_scene_fid_needs_two_crops():
    images = random_images(1, 16, seed=0)
    one = scene_crops(MappedImages(lambda i: images[i], 1), [[1]], [[[0, 0, 1, 1]]])
    with pytest.raises(CannotRun, match="at least 2 crops"):
        scene_fid(one, one)
