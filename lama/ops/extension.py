"""JIT build of the C++/CUDA kernels in lama/csrc: compiled with ninja on first use into a cache
directory, loaded as a plain shared library whose TORCH_LIBRARY block registers the `lama::` ops."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import torch

CSRC = Path(__file__).resolve().parents[1] / "csrc"
_lock = threading.Lock()
_state: dict[str, object] = {}  # "ok": bool once tried, "error": str when the build failed


def cache_dir() -> Path:
    """Where built extensions live: $LAMA_EXTENSIONS_DIR, else $XDG_CACHE_HOME/lama/torch_extensions."""
    env = os.environ.get("LAMA_EXTENSIONS_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "lama" / "torch_extensions"


def with_cuda() -> bool:
    """Whether the CUDA sources are compiled too: a GPU is visible and nvcc can be found."""
    from torch.utils.cpp_extension import CUDA_HOME

    return torch.cuda.is_available() and CUDA_HOME is not None


def _cpu_flags() -> list[str]:
    """Vector ISA flags matching what this machine supports (the build is local to it and cached per ISA)."""
    capability = torch.backends.cpu.get_cpu_capability()
    return ["-mavx2", "-mfma"] if capability in ("AVX2", "AVX512") else []


def build_name() -> str:
    """Extension name: one build per (CPU ISA, CUDA on/off, torch version) so caches never clash."""
    capability = torch.backends.cpu.get_cpu_capability().lower()
    torch_tag = torch.__version__.split("+")[0].replace(".", "_")
    return f"lama_ops_{capability}_{'cuda' if with_cuda() else 'cpu'}_torch{torch_tag}"


def _build() -> None:
    """Compile (or reuse) the extension and load it into this process; raises on any failure."""
    from torch.utils.cpp_extension import load

    sources = [str(CSRC / "isla.cpp")]
    cuda = with_cuda()
    if cuda:
        sources.append(str(CSRC / "isla_cuda.cu"))
    build_dir = cache_dir() / build_name()
    build_dir.mkdir(parents=True, exist_ok=True)
    load(
        name=build_name(),
        sources=sources,
        extra_cflags=["-O3", "-fopenmp", *_cpu_flags()],
        extra_ldflags=["-fopenmp"],
        extra_cuda_cflags=["-O3", "--use_fast_math"] if cuda else None,
        extra_include_paths=[str(CSRC)],
        build_directory=str(build_dir),
        with_cuda=cuda,
        is_python_module=False,
        verbose=os.environ.get("LAMA_EXTENSIONS_VERBOSE", "0") == "1",
    )


def load_extension() -> bool:
    """Build and load the kernels once per process; on failure warn once and return False thereafter."""
    if "ok" in _state:
        return bool(_state["ok"])
    with _lock:
        if "ok" not in _state:
            try:
                _build()
                _state["ok"] = True
            except Exception as err:  # noqa: BLE001 - any build/load failure means: use the reference
                _state["ok"] = False
                _state["error"] = f"{type(err).__name__}: {err}"
                warnings.warn(
                    "lama.ops: could not build the C++/CUDA kernels in lama/csrc, falling back to the "
                    f"pure-PyTorch reference ({_state['error'].splitlines()[0][:300]})",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return bool(_state["ok"])


def build_error() -> str | None:
    """The message of the last failed build, or None."""
    return _state.get("error")  # type: ignore[return-value]


def reset() -> None:
    """Forget the build outcome so the next call tries again (tests use this to simulate failures)."""
    with _lock:
        _state.clear()
