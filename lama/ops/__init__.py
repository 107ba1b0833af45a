"""Custom ops: each a pure-PyTorch reference plus dispatch to a compiled kernel in lama/csrc."""

from lama.ops.isla import isla_modulate, isla_modulate_ref

__all__ = ["isla_modulate", "isla_modulate_ref"]
