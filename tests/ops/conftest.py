"""Fixtures for the custom-op tests: the extension is built once per test session (and cached on disk)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def isla_ext() -> None:
    """Build/load the fused ISLA op once; skip the dependent tests (with the reason) when it cannot be built."""
    from lama.ops import extension
    from lama.ops.isla import ext_available

    if not ext_available():
        pytest.skip(f"lama/csrc extension could not be built: {extension.build_error()}")
