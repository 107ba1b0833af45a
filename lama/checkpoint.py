"""Generator checkpoints that sampling and evaluation read.

One record, `{"format", "hparams", "state_dict", "class_names"}`, holding only tensors and plain
Python values so it loads with `torch.load(weights_only=True)`. It is either a file of its own
(written by `task=convert` or `save_generator`) or stored under the key `lama_generator` inside
a Lightning training checkpoint (the EMA generator when EMA is on)."""

from __future__ import annotations

import errno
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "lama-generator-v1"
LIGHTNING_KEY = "lama_generator"
# build_generator arguments recorded per architecture (records written before `arch` existed are LAMA's)
HPARAM_KEYS = {
    "lama": ("arch", "resolution", "num_classes", "ch", "z_dim", "lama", "mask_ch"),
    "lostgan_v2": ("arch", "resolution", "num_classes", "ch", "z_dim"),
}
# keys added after records were first written, with the value those older records were built with
HPARAM_DEFAULTS = {"lama": {"mask_ch": 128}}
# Sane ranges of the hparams, checked before anything is built: a tampered record must not make
# build_generator allocate tens of GB (ch=4096) or fail deep inside (resolution=100).
RESOLUTIONS = (64, 128, 256)
HPARAM_LIMITS = {"num_classes": (1, 100_000), "ch": (1, 1024), "z_dim": (1, 4096), "mask_ch": (1, 1024)}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and what is wrong."""


def generator_record(
    state_dict: dict[str, torch.Tensor], hparams: dict[str, Any], class_names: list[str] | None = None
) -> dict[str, Any]:
    """Build the record for a generator's state dict and its build_generator arguments."""
    arch = hparams.get("arch", "lama")
    if arch not in HPARAM_KEYS:
        raise CheckpointError(f"generator arch must be one of {sorted(HPARAM_KEYS)}, got {arch!r}")
    hparams = {"arch": arch, **HPARAM_DEFAULTS.get(arch, {}), **hparams}
    keys = HPARAM_KEYS[hparams["arch"]]
    missing = [k for k in keys if k not in hparams]
    if missing:
        raise CheckpointError(f"generator hparams lack {missing}")
    kinds = {"arch": str, "lama": bool}
    return {
        "format": FORMAT,
        "hparams": {k: kinds.get(k, int)(hparams[k]) for k in keys},
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "class_names": list(class_names) if class_names is not None else None,
    }


def save_generator(path: str | Path, generator: nn.Module, hparams: dict[str, Any], class_names=None) -> Path:
    """Write a stand-alone generator checkpoint atomically; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    record = generator_record(generator.state_dict(), hparams, class_names)
    try:
        torch.save(record, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as err:  # full disk, read-only place: keep the old file, drop the partial one
        tmp.unlink(missing_ok=True)
        raise OSError(getattr(err, "errno", None) or errno.EIO, f"saving the generator failed: {err}", str(path)) from None
    return path


def unreadable_reason(err: BaseException) -> str:
    """Why torch.load(weights_only=True) refused a file, in one clause (torch's own message is a paragraph)."""
    text = str(err)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:  # a real pickle, but of Python objects only full unpickling (arbitrary code) builds
        return (f"it holds a Python object ({found.group(1)}) that only unpickling with arbitrary code would "
                "build; where you trust it, re-save just its tensors with torch.save(state_dict, path)")
    if isinstance(err, EOFError) or "central directory" in text:
        return "truncated or corrupt (it ends early: an interrupted copy or download?)"
    return "not a PyTorch checkpoint (or truncated)"


def load_checkpoint_file(path: str | Path) -> Any:
    """torch.load(weights_only=True, memory-mapped) of a checkpoint file; a missing, empty, truncated or
    foreign file is a one-line CheckpointError naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): an interrupted copy or download?")
    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before failing on it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            try:  # memory-mapped: a resume's pre-check reads only the small records, not every tensor
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):
                    raise
                return torch.load(path, map_location="cpu", weights_only=True)  # a legacy (non-zip) file
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise CheckpointError(
            f"checkpoint {path} cannot be read with torch.load(weights_only=True): {unreadable_reason(err)}"
        ) from None


def check_hparams(hparams: Any, where: str) -> dict[str, Any]:
    """The generator hparams of a record, checked for type and range before anything is built."""
    if not isinstance(hparams, dict):
        raise CheckpointError(f"{where}: hparams must be a mapping, got {type(hparams).__name__}")
    arch = hparams.get("arch", "lama")
    if arch not in HPARAM_KEYS:
        raise CheckpointError(f"{where}: hparams arch={arch!r} is not one of {sorted(HPARAM_KEYS)}")
    hparams = {**HPARAM_DEFAULTS.get(arch, {}), **hparams}
    keys = [k for k in HPARAM_KEYS[arch] if k != "arch"]
    missing = [k for k in keys if k not in hparams]
    if missing:
        raise CheckpointError(f"{where}: hparams lack {', '.join(missing)}")
    for key in keys:
        value = hparams[key]
        if key == "lama":
            ok = isinstance(value, bool)
        elif not isinstance(value, int) or isinstance(value, bool):
            ok = False
        elif key == "resolution":
            ok = value in RESOLUTIONS
        else:
            low, high = HPARAM_LIMITS[key]
            ok = low <= value <= high
        if not ok:
            allowed = ("true or false" if key == "lama" else f"one of {RESOLUTIONS}" if key == "resolution"
                       else "an integer in [{}, {}]".format(*HPARAM_LIMITS[key]))
            raise CheckpointError(f"{where}: hparams {key}={value!r} is not {allowed} (a damaged or edited file?)")
    return hparams


def read_generator_record(path: str | Path) -> dict[str, Any]:
    """Load the generator record from a stand-alone file or a Lightning checkpoint; its hparams are checked."""
    path = Path(path)
    obj = load_checkpoint_file(path)
    record = obj.get(LIGHTNING_KEY, obj) if isinstance(obj, dict) else None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a lama generator checkpoint (no '{FORMAT}' record); "
            "an authors' checkpoint must first go through `python run.py task=convert checkpoint=...`"
        )
    hparams = record.get("hparams")
    record["hparams"] = check_hparams({"arch": "lama", **hparams} if isinstance(hparams, dict) else hparams, str(path))
    if not isinstance(record.get("state_dict"), dict):
        raise CheckpointError(f"{path}: the generator record holds no state_dict")
    return record


def check_arch_matches(record: dict[str, Any], arch: str, where: str | Path) -> None:
    """Refuse a generator record of another architecture than `arch` (model=lama vs model=lostgan_v2)."""
    found = record["hparams"].get("arch", "lama")
    if found != arch:
        raise CheckpointError(
            f"{where} holds a {found} generator, but the model is {arch}: "
            f"use model={found} with this checkpoint (or another checkpoint)"
        )


def check_training_checkpoint(path: str | Path, expected: dict[str, Any]) -> None:
    """Before a resume builds anything: `path` must be a Lightning training checkpoint of ours whose
    generator hparams equal `expected` (the keys both have); else a one-line CheckpointError saying what to fix."""
    path = Path(path)
    obj = load_checkpoint_file(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        raise CheckpointError(
            f"ckpt_path={path} is a stand-alone generator, not a training checkpoint: resume from a run's "
            "checkpoints/last.ckpt (a generator.pt is for task=sample/evaluate checkpoint=...)"
        )
    if not isinstance(obj, dict) or "state_dict" not in obj or LIGHTNING_KEY not in obj:
        raise CheckpointError(
            f"ckpt_path={path} is not a training checkpoint of ours (no state_dict and '{LIGHTNING_KEY}' record): "
            "point it at a run's checkpoints/last.ckpt"
        )
    record = obj[LIGHTNING_KEY]
    hparams = record.get("hparams") if isinstance(record, dict) else None
    hparams = check_hparams({"arch": "lama", **hparams} if isinstance(hparams, dict) else hparams, f"ckpt_path={path}")
    differ = [k for k in expected if k in hparams and hparams[k] != expected[k]]
    if differ:
        have = ", ".join(f"{k}={hparams[k]}" for k in differ)
        want = ", ".join(f"{k}={expected[k]}" for k in differ)
        fix = " ".join(f"model.{k}={str(hparams[k]).lower()}" for k in differ)
        raise CheckpointError(f"ckpt_path={path} was trained with {have}, but the config builds {want}: add {fix}")


def non_finite_tensors(state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors that hold NaN or inf."""
    return [k for k, v in state_dict.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]


def load_generator(
    path: str | Path, resolution: int | None = None, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the generator a checkpoint describes, load its weights strictly, return (G in eval mode, record).
    With `resolution` given, a checkpoint for another resolution is refused."""
    from lama.models import build_generator

    record = read_generator_record(path)
    hp = record["hparams"]
    if resolution is not None and int(resolution) != hp["resolution"]:
        raise CheckpointError(
            f"{path} holds a {hp['resolution']} px generator, but resolution={resolution} was asked for"
        )
    bad = non_finite_tensors(record["state_dict"])
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights (NaN/inf) in {len(bad)} tensor(s), e.g. {bad[0]}: "
                              "the run diverged before it was saved; use an earlier checkpoint")
    try:
        shapes = _generator_shapes(hp)
        if shapes is not None:
            _check_shapes(path, hp, shapes, record["state_dict"])
        generator = build_generator(**hp)
    except ValueError as err:  # hparams in range but not a valid combination (build_generator says why)
        raise CheckpointError(f"{path}: hparams {hp} do not describe a generator: {err}") from None
    try:
        generator.load_state_dict(record["state_dict"], strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path} does not fit the generator its hparams describe: {first}") from None
    return generator.to(map_location).eval(), record


def _generator_shapes(hp: dict[str, Any]) -> dict[str, tuple[int, ...]] | None:
    """The state-dict shapes of build_generator(**hp), built from fake tensors (no memory), so a record
    whose hparams claim a far wider network than its weights is refused before allocating it.
    None when this torch cannot build it that way (then loading the state dict checks the shapes)."""
    from lama.models import build_generator

    try:
        from torch._subclasses.fake_tensor import FakeTensorMode
    except ImportError:  # a private torch API: without it the real build and load check the shapes
        return None
    try:
        with FakeTensorMode():
            return {k: tuple(v.shape) for k, v in build_generator(**hp).state_dict().items()}
    except ValueError:
        raise
    except Exception:  # noqa: BLE001 - this torch cannot fake the build: the real build and load check instead
        return None


def _check_shapes(path: Path, hp: dict[str, Any], shapes: dict[str, tuple[int, ...]],
                  state_dict: dict[str, torch.Tensor]) -> None:
    """One line saying how a state dict differs from the generator its hparams describe."""
    missing = sorted(set(shapes) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(shapes))
    wrong = [k for k in shapes if k in state_dict and tuple(state_dict[k].shape) != shapes[k]]
    if not (missing or unexpected or wrong):
        return
    if wrong:
        k = wrong[0]
        detail = f"{len(wrong)} tensor(s) of another shape, e.g. {k}: {tuple(state_dict[k].shape)} vs {shapes[k]}"
    else:
        detail = f"{len(missing)} missing and {len(unexpected)} unexpected tensor(s), e.g. {(missing or unexpected)[0]}"
    args = ", ".join(f"{k}={v}" for k, v in hp.items())
    raise CheckpointError(f"{path} does not fit the generator its hparams describe ({args}): {detail}")
