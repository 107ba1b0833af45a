"""Sampling: truncated latents (the authors' evaluation protocol) and layouts -> images in batches,
deterministic for a seed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lama.layout import Layout, check_layout_tensors


def truncated_normal(shape: Sequence[int], threshold: float | None, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """z ~ N(0, 1) where every component with |z| > threshold is replaced by ONE fresh N(0, 1) draw
    (once, not repeatedly, so the result may still exceed the threshold). threshold None or <= 0: no truncation."""
    z = torch.randn(tuple(shape), generator=generator)
    if threshold is None or threshold <= 0:
        return z
    fresh = torch.randn(tuple(shape), generator=generator)
    return torch.where(z.abs() > threshold, fresh, z)


def sample_seed(seed: int, image_id: int, repeat: int) -> int:
    """A 63-bit seed for one (image id, repeat), so a sample's latents do not depend on batching or order."""
    digest = hashlib.sha256(f"lama:{int(seed)}:{int(image_id)}:{int(repeat)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_latents(num_slots: int, z_dim: int, threshold: float | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample's truncated latents from its own seed: z_obj (num_slots, z_dim), z_im (z_dim,)."""
    gen = torch.Generator().manual_seed(int(seed))
    z_obj = truncated_normal((num_slots, z_dim), threshold, gen)
    z_im = truncated_normal((z_dim,), threshold, gen)
    return z_obj, z_im


class NonFiniteOutputError(ValueError):
    """The generator produced NaN or inf: such an image is never saved."""


@dataclass
class SampleBatch:
    """Generated images (B, 3, R, R) in [-1, 1] with their layouts; masks (B, O, R, R) when asked for."""

    image_ids: list[int]
    repeats: list[int]
    layout: Layout
    images: torch.Tensor
    masks: torch.Tensor | None = None
    raw_masks: torch.Tensor | None = None


@torch.no_grad()
def generate(generator: nn.Module, layout: Layout, z_obj: torch.Tensor, z_im: torch.Tensor,
             return_masks: bool = False):
    """Run G on a layout batch with given latents: images (B, 3, R, R) in [-1, 1], or
    (images, masks, raw_masks) with masks (B, O, R, R)."""
    device = next(generator.parameters()).device
    out = generator(z_obj.to(device), layout.boxes.to(device), layout.labels.to(device), z_im=z_im.to(device),
                    return_masks=return_masks)
    return out


def sample_layouts(
    generator: nn.Module,
    image_ids: Sequence[int],
    labels: torch.Tensor,
    boxes: torch.Tensor,
    *,
    repeats: int = 1,
    truncation: float | None = 2.0,
    seed: int = 0,
    batch_size: int = 32,
    return_masks: bool = False,
) -> Iterator[SampleBatch]:
    """Generate `repeats` images for each layout (labels (N, O), boxes (N, O, 4) fractions), batch by batch.
    Latents come from (seed, image id, repeat); G's noise injection from (seed, batch index), under a forked
    RNG so the caller's random state is untouched: the output is a function of seed and batch size."""
    check_layout_tensors(labels, boxes)
    if len(image_ids) != labels.shape[0]:
        raise ValueError(f"{len(image_ids)} image ids for {labels.shape[0]} layouts")
    if repeats < 1 or batch_size < 1:
        raise ValueError(f"repeats and batch_size must be >= 1, got {repeats} and {batch_size}")
    jobs = [(i, r) for r in range(repeats) for i in range(labels.shape[0])]
    device = next(generator.parameters()).device
    z_dim = int(generator.z_dim)
    for batch_index, start in enumerate(range(0, len(jobs), batch_size)):
        chunk = jobs[start : start + batch_size]
        idx = torch.tensor([i for i, _ in chunk])
        ids = [int(image_ids[i]) for i, _ in chunk]
        reps = [r for _, r in chunk]
        latents = [sample_latents(labels.shape[1], z_dim, truncation, sample_seed(seed, i, r)) for i, r in zip(ids, reps)]
        z_obj = torch.stack([z for z, _ in latents])
        z_im = torch.stack([z for _, z in latents])
        layout = Layout(labels[idx], boxes[idx].float())
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(sample_seed(seed, -1, batch_index))
            out = generate(generator, layout, z_obj, z_im, return_masks=return_masks)
        images = out[0] if return_masks else out
        if not torch.isfinite(images).all():
            raise NonFiniteOutputError(
                f"the generator produced non-finite pixels for image id {ids[0]}..{ids[-1]} (NaN/inf weights or "
                "an extreme box?): nothing of this batch was saved"
            )
        if return_masks:
            images, masks, raw = out
            yield SampleBatch(ids, reps, layout, images.cpu(), masks.cpu(), raw.cpu())
        else:
            yield SampleBatch(ids, reps, layout, out.cpu())
