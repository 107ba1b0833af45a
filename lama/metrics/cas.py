"""Classification Accuracy Score (CAS): a CIFAR-style torchvision ResNet trained on 32 px object crops
of generated images and tested on the same crops of the real images; the last epoch's accuracy."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lama.device import single_threaded
from lama.metrics.errors import CannotRun
from lama.metrics.images import CROP_RESIZE, CROP_WINDOW
from lama.progress import stage_bar
from lama.sampling.images import to_unit_range

CAS_CROP = 32


def cifar_resnet(num_classes: int, arch: str = "resnet18") -> nn.Module:
    """A torchvision ResNet with the CIFAR stem (3x3 stride-1 first conv, no max-pool) for 32 px inputs."""
    if arch == "resnet10":  # torchvision's ResNet with one BasicBlock per stage: a quick variant
        model = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1], num_classes)
    elif arch in ("resnet18", "resnet34", "resnet50"):
        model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    else:
        raise ValueError(f"metrics.cas.arch={arch!r}: choose resnet10, resnet18, resnet34 or resnet50")
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The CIFAR augmentation: random left-right flip and a random 32 px crop of the 4 px padded image."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None].to(x.device), x.flip(-1), x)
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dx, dy = (int(v) for v in torch.randint(0, 9, (2,), generator=gen))
    return padded[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]


def _materialise(crops: Dataset, what: str, progress: bool) -> TensorDataset:
    """Cut every crop once (uint8, ~3 KB each) instead of once per epoch (on one thread: the same pixels,
    and tiny resizes run many times faster that way on a busy CPU)."""
    pairs = []
    with stage_bar("cas/crops", len(crops), "crop", desc=f"CAS {what} crops", disable=not progress) as bar, \
            single_threaded():
        for start in range(0, len(crops), 256):
            pairs += [crops[i] for i in range(start, min(start + 256, len(crops)))]
            bar.update(len(pairs) - bar.done)
    return TensorDataset(torch.stack([x for x, _ in pairs]), torch.tensor([int(y) for _, y in pairs]))


@torch.no_grad()
def _accuracy(model: nn.Module, loader: DataLoader, device: torch.device, progress: bool) -> float:
    model.eval()
    correct = total = 0
    with stage_bar("cas/test", len(loader.dataset), "crop", desc="CAS test", disable=not progress) as bar:
        for x, y in loader:
            pred = model(to_unit_range(x).to(device)).argmax(1).cpu()
            correct += int((pred == y).sum())
            total += y.numel()
            bar.update(y.numel())
    return correct / max(total, 1)


def classification_accuracy_score(
    train_crops: Dataset,
    test_crops: Dataset,
    num_classes: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    arch: str,
    augment: bool,
    weight_decay: float = 5e-4,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> float:
    """Train on (uint8 (3, 32, 32) crop, label) pairs of generated images, return the accuracy (a fraction
    in [0, 1]) on the real images' crops after the last epoch. SGD with momentum, cosine schedule. The schedule
    (epochs, batch_size, lr, arch, augment) has its defaults in configs/metrics/default.yaml (metrics.cas)."""
    if len(train_crops) == 0 or len(test_crops) == 0:
        raise CannotRun(f"CAS needs crops to train and test on, got {len(train_crops)} and {len(test_crops)}")
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = cifar_resnet(num_classes, arch).to(device)
    train = DataLoader(_materialise(train_crops, "train", progress), batch_size=batch_size, shuffle=True,
                       generator=gen)
    test = DataLoader(_materialise(test_crops, "test", progress), batch_size=batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs * len(train), 1))
    # One bar over every training step (a CPU epoch can take a minute), with the epoch and loss beside it.
    bar = stage_bar("cas/train", epochs * len(train), "step", desc="CAS training", disable=not progress)
    for epoch in range(epochs):
        model.train()
        for x, y in train:
            x = to_unit_range(x).to(device)
            if augment:
                x = _augment(x, gen)
            loss = F.cross_entropy(model(x), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
        bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{float(loss.detach()):.3f}")
    bar.close()
    return _accuracy(model, test, device, progress)


def cas_protocol(num_train: int, num_test: int, **settings: Any) -> dict[str, Any]:
    """What stands behind a CAS number, for results.json."""
    return {
        "classifier": f"torchvision {settings['arch']}, CIFAR stem, from scratch",
        "crop": f"{CAS_CROP}x{CAS_CROP} of every non-padding box",
        "crop_window": CROP_WINDOW,
        "crop_resize": CROP_RESIZE,
        "train": f"{num_train} crops of generated images",
        "test": f"{num_test} crops of real validation images",
        "accuracy": "after the last epoch",
        **settings,
    }
