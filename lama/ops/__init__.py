"""Custom ops: each a pure-PyTorch reference plus dispatch to a compiled kernel in lama/csrc."""

from lama.ops.isla import get_impl, isla_modulate, isla_modulate_ext, isla_modulate_ref, set_impl

__all__ = ["get_impl", "isla_modulate", "isla_modulate_ext", "isla_modulate_ref", "set_impl"]
