"""Diversity Score (DS): LPIPS (torchmetrics' AlexNet LPIPS, linear calibration v0.1) between two
samples of the same layout; mean and standard deviation over layouts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lama.metrics.weights import WeightsUnavailable, ensure_downloaded, load_state_dict_file
from lama.progress import stage_bar
from lama.sampling.images import to_unit_range

LPIPS_OPTION = "metrics.lpips_weights"
ALEXNET_URL = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url


def build_lpips(weights_path: str | Path | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """torchmetrics' LPIPS network (AlexNet) with the ImageNet AlexNet from torchvision's download or a
    local torchvision AlexNet state dict; called as net(a, b) on [-1, 1] images -> (N, 1, 1, 1) distances."""
    # torchmetrics keeps the LPIPS module private; its linear layers ship inside torchmetrics itself.
    from torchmetrics.functional.image.lpips import _NoTrainLpips

    if weights_path is None:
        ensure_downloaded(ALEXNET_URL, metric="DS (LPIPS AlexNet)", option=LPIPS_OPTION)
        return _NoTrainLpips(net="alex").to(device)
    state = load_state_dict_file(weights_path, LPIPS_OPTION)
    net = _NoTrainLpips(net="alex", pnet_rand=True)
    load_alexnet_features(net.net, state, f"{LPIPS_OPTION}={weights_path}")
    return net.to(device)


def load_alexnet_features(slices: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy torchvision AlexNet `features.<i>.*` weights into LPIPS's slices (which keep the index i)."""
    for name, param in slices.named_parameters():
        _, index, kind = name.split(".")  # slice<k>.<i>.<weight|bias>
        key = f"features.{index}.{kind}"
        if key not in state:
            raise WeightsUnavailable(f"{source} is not a torchvision AlexNet state dict (no {key!r})")
        if state[key].shape != param.shape:
            raise WeightsUnavailable(f"{source}: {key} has shape {tuple(state[key].shape)}, expected {tuple(param.shape)}")
        with torch.no_grad():
            param.copy_(state[key])


class _Pairs(Dataset):
    def __init__(self, first: Dataset, second: Dataset):
        if len(first) != len(second):
            raise ValueError(f"DS needs aligned pairs, got {len(first)} and {len(second)} images")
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first)

    def __getitem__(self, i: int):
        return self.first[i], self.second[i]


@torch.no_grad()
def lpips_distances(
    first: Dataset, second: Dataset, net: nn.Module, batch_size: int = 32, device: str | torch.device = "cpu",
    progress: bool = True,
) -> torch.Tensor:
    """LPIPS between first[i] and second[i] (uint8 (3, H, W) images), (N,) float."""
    loader = DataLoader(_Pairs(first, second), batch_size=batch_size)
    out = []
    with stage_bar("ds", len(first), "pair", desc="DS (LPIPS)", disable=not progress) as bar:
        for a, b in loader:
            d = net(to_unit_range(a).to(device), to_unit_range(b).to(device))
            out.append(d.reshape(-1).cpu())
            bar.update(a.shape[0])
    return torch.cat(out) if out else torch.zeros(0)


def diversity_score(distances: torch.Tensor) -> dict[str, float]:
    """{ds_mean, ds_std} over layouts from per-layout LPIPS distances (population std)."""
    if distances.numel() == 0:
        raise ValueError("DS needs at least one layout sampled twice (metrics.repeats >= 2)")
    return {"ds_mean": float(distances.mean()), "ds_std": float(distances.std(unbiased=False))}


def diversity_protocol(weights_path: str | Path | None, num_pairs: int, repeats: Sequence[int]) -> dict[str, Any]:
    """What stands behind a DS number, for results.json."""
    return {
        "implementation": "torchmetrics LPIPS (AlexNet, linear layers v0.1)",
        "weights": str(weights_path) if weights_path else Path(ALEXNET_URL).name,
        "pairs": num_pairs,
        "repeats_compared": list(repeats),
        "resize": "none (LPIPS on the generated images at their resolution)",
        "std": "population (ddof 0) over layouts",
    }
