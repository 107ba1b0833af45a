"""LAMA: layout-to-image synthesis with locality-aware mask adaption."""

__version__ = "0.1.0"
