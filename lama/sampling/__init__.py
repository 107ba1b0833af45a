"""Sampling: truncated latents and layouts -> images (generate), image tensors and files (images), and the
sample-folder format that task=sample writes and task=evaluate reads (folder)."""

from lama.sampling.generate import (
    NonFiniteOutputError,
    SampleBatch,
    generate,
    sample_latents,
    sample_layouts,
    sample_seed,
    truncated_normal,
)

__all__ = ["NonFiniteOutputError", "SampleBatch", "generate", "sample_latents", "sample_layouts", "sample_seed", "truncated_normal"]
