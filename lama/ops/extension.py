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


def build_name(cuda: bool) -> str:
    """Extension name: one build per (CPU ISA, CUDA on/off, torch version) so caches never clash."""
    capability = torch.backends.cpu.get_cpu_capability().lower()
    torch_tag = torch.__version__.split("+")[0].replace(".", "_")
    return f"lama_ops_{capability}_{'cuda' if cuda else 'cpu'}_torch{torch_tag}"


def _build(cuda: bool) -> None:
    """Compile (or reuse) the extension and load it into this process; raises on any failure."""
    from torch.utils.cpp_extension import load

    sources = [str(CSRC / "isla.cpp")]
    if cuda:
        sources.append(str(CSRC / "isla_cuda.cu"))
    build_dir = cache_dir() / build_name(cuda)
    build_dir.mkdir(parents=True, exist_ok=True)
    load(
        name=build_name(cuda),
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


def _warn(what: str, error: str) -> None:
    warnings.warn(
        f"lama.ops: could not build the {what} kernels in lama/csrc, falling back to the pure-PyTorch "
        f"reference ({error.splitlines()[0][:300]})",
        RuntimeWarning,
        stacklevel=4,
    )


def load_extension() -> bool:
    """Build and load the kernels once per process; on failure warn once and return False thereafter.
    When only the CUDA part fails, the CPU kernels are still built (CUDA tensors then use the reference)."""
    if "ok" in _state:
        return bool(_state["ok"])
    with _lock:
        if "ok" not in _state:
            cuda = with_cuda()
            try:
                _build(cuda)
                _state.update(ok=True, cuda=cuda)
            except Exception as err:  # noqa: BLE001 - any build/load failure means: use the reference
                _state["error"] = f"{type(err).__name__}: {err}"
                _state.update(ok=False, cuda=False)
                if cuda:
                    try:
                        _build(False)
                        _state["ok"] = True
                    except Exception:  # noqa: BLE001
                        pass
                _warn("CUDA" if _state["ok"] else "C++/CUDA", str(_state["error"]))
    return bool(_state["ok"])


def has_cuda_kernels() -> bool:
    """Whether the loaded extension carries the CUDA kernels."""
    return bool(_state.get("cuda", False))


def build_error() -> str | None:
    """The message of the last failed build, or None."""
    return _state.get("error")  # type: ignore[return-value]


def reset() -> None:
    """Forget the build outcome so the next call tries again (tests use this to simulate failures)."""
    with _lock:
        _state.clear()
