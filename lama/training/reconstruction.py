"""LostGAN-V2's reconstruction terms of the generator loss: L1 and a VGG19 perceptual distance between
each generated image and the real image of the same layout."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1: the ends of torchvision's vgg19().features slices
# [0:2], [2:7], [7:12], [12:21], [21:30], with the authors' weights
VGG_CUTS = (2, 7, 12, 21, 30)
VGG_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


class VGGWeightsError(ValueError):
    """VGG19 weights that cannot be used; the message names the file and the option."""


def _features_state(state: dict, path: Path) -> dict[str, torch.Tensor]:
    """torchvision's full vgg19 state dict or one of its `features` (with or without `features.`) ->
    the entries of features[:30]."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise VGGWeightsError(f"model.vgg_weights={path} is not a VGG19 state dict")
    out = {}
    for key, value in state.items():
        key = key.removeprefix("features.")
        index = key.split(".", 1)[0]
        if index.isdigit() and int(index) < VGG_CUTS[-1]:
            out[key] = value
    return out


def load_vgg19_features(path: str | Path | None) -> nn.Sequential:
    """torchvision's VGG19 features up to relu5_1, frozen, in eval mode: the ImageNet weights from
    torchvision's usual download (cached under $TORCH_HOME) when `path` is None, else the file at `path`."""
    from torchvision.models import VGG19_Weights, vgg19

    if path is None:
        return vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features[: VGG_CUTS[-1]].eval().requires_grad_(False)
    path = Path(path)
    if not path.is_file():
        raise VGGWeightsError(
            f"VGG19 weights {path} do not exist (model.vgg_weights=PATH: torchvision's vgg19-dcbb9e9d.pth, "
            "or null to download them)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise VGGWeightsError(f"model.vgg_weights={path} cannot be read with weights_only=True: {err}") from None
    features = vgg19(weights=None).features[: VGG_CUTS[-1]]
    try:
        features.load_state_dict(_features_state(state, path), strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        raise VGGWeightsError(f"model.vgg_weights={path} does not fit torchvision's VGG19: {detail}") from None
    return features.eval().requires_grad_(False)


class ReconstructionLoss:
    """Unweighted terms g_loss_l1 (mean |fake - real|) and g_loss_vgg (sum over relu1_1..relu5_1 of
    w_k * mean |phi_k(fake) - phi_k(real)|, real features detached; images in [-1, 1], no ImageNet
    normalisation, as the authors), and their weighted sum. Not an nn.Module on purpose: the frozen VGG
    must stay out of the LightningModule's state dict (checkpoints) and its optimisers."""

    def __init__(self, lambda_l1: float, lambda_vgg: float, vgg_weights: str | Path | None = None) -> None:
        self.lambda_l1, self.lambda_vgg = float(lambda_l1), float(lambda_vgg)
        self.vgg = load_vgg19_features(vgg_weights) if self.lambda_vgg else None

    @property
    def enabled(self) -> bool:
        """Whether any term has a weight."""
        return bool(self.lambda_l1 or self.lambda_vgg)

    def terms(self, fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted terms that have a weight."""
        terms = {}
        if self.lambda_l1:
            terms["g_loss_l1"] = F.l1_loss(fake, real)
        if self.vgg is not None:
            terms["g_loss_vgg"] = self._vgg_distance(fake, real)
        return terms

    def loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """lambda_l1 * L1 + lambda_vgg * VGG (0.0 when neither is on)."""
        return self.lambda_l1 * terms.get("g_loss_l1", 0.0) + self.lambda_vgg * terms.get("g_loss_vgg", 0.0)

    def _vgg_distance(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        vgg = self.vgg
        if next(vgg.parameters()).device != fake.device:
            self.vgg = vgg = vgg.to(fake.device)
        total = fake.new_zeros(())
        x, y, start = fake, real.detach(), 0
        for cut, weight in zip(VGG_CUTS, VGG_WEIGHTS):
            stage = vgg[start:cut]
            x = stage(x)
            with torch.no_grad():
                y = stage(y)
            total = total + weight * F.l1_loss(x, y)
            start = cut
        return total
