"""CAS: a CIFAR-stem ResNet trained on generated crops, tested on real crops."""

import torch

from lama.metrics.cas import cifar_resnet, classification_accuracy_score
from lama.metrics.images import ObjectCrops, object_entries


def test_cifar_stem_keeps_32px_resolution_into_the_first_stage():
    model = cifar_resnet(5)
    assert model.conv1.stride == (1, 1) and model.conv1.kernel_size == (3, 3)
    assert isinstance(model.maxpool, torch.nn.Identity)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def _scenes(n, seed):
    """Images with a red object (label 1) on the left and a blue one (label 2) on the right."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 40, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
    images[:, 0, :, :16] = 255
    images[:, 2, :, 16:] = 255
    labels = [[1, 2]] * n
    boxes = [[[0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 0.5, 1.0]]] * n
    return ObjectCrops(images, object_entries(labels, boxes), 32, with_labels=True)


def test_cas_is_one_on_crops_a_classifier_separates_perfectly():
    train, test = _scenes(4, seed=0), _scenes(4, seed=1)
    assert len(train) == 8 and train.labels().tolist() == [1, 2] * 4
    acc = classification_accuracy_score(train, test, num_classes=3, epochs=4, batch_size=4, lr=0.05, seed=0,
                                        arch="resnet10", augment=True, progress=False)
    assert acc == 1.0


def test_cas_is_chance_or_worse_when_training_labels_are_swapped():
    train, test = _scenes(4, seed=0), _scenes(4, seed=1)
    train.entries = [(i, 3 - label, box) for i, label, box in train.entries]  # red called 2, blue called 1
    acc = classification_accuracy_score(train, test, num_classes=3, epochs=4, batch_size=4, lr=0.05, seed=0,
                                        arch="resnet10", augment=True, progress=False)
    assert acc <= 0.5


def test_cas_training_shows_its_steps_and_epochs(capsys):
    train, test = _scenes(2, seed=0), _scenes(2, seed=1)
    classification_accuracy_score(train, test, num_classes=3, epochs=2, batch_size=2, lr=0.05, seed=0,
                                  arch="resnet10", augment=False, progress=True)
    err = capsys.readouterr().err
    assert "CAS training" in err and "4/4" in err and "epoch=2/2" in err  # 2 epochs x 2 batches
