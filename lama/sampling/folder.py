"""Sample folders: images/<image_id>_<repeat>.png, optional masks/<image_id>_<repeat>.npz, manifest.jsonl
(one JSON object per image: file, image_id, repeat, labels, boxes) and info.json (how they were made)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lama.layout import PAD_LABEL
from lama.progress import stage_bar
from lama.sampling.generate import SampleBatch
from lama.sampling.images import write_image

MANIFEST = "manifest.jsonl"
INFO = "info.json"


@dataclass
class SampleRecord:
    """One generated image: its file, layout id, repeat index and its non-padding objects (boxes in fractions)."""

    file: Path
    image_id: int
    repeat: int
    labels: list[int]
    boxes: list[list[float]]
    masks: Path | None = None


def image_name(image_id: int, repeat: int) -> str:
    """The file stem of one sample: maps back to its layout's image id and repeat."""
    return f"{int(image_id)}_{int(repeat)}"


def record_line(file: str, image_id: int, repeat: int, labels: torch.Tensor, boxes: torch.Tensor,
                masks: str | None = None) -> str:
    """One manifest line (JSON) for a sample; padding slots are left out."""
    real = labels != PAD_LABEL
    entry: dict[str, Any] = {"file": file, "image_id": int(image_id), "repeat": int(repeat),
                             "labels": labels[real].tolist(), "boxes": [[round(float(v), 6) for v in b]
                                                                        for b in boxes[real].tolist()]}
    if masks is not None:
        entry["masks"] = masks
    return json.dumps(entry)


def save_masks(path: Path, labels: torch.Tensor, masks: torch.Tensor, raw_masks: torch.Tensor) -> None:
    """Store one sample's adapted and raw masks of its non-padding objects ((n, R, R) float16, npz)."""
    real = labels != PAD_LABEL
    np.savez_compressed(path, masks=masks[real].half().numpy(), raw_masks=raw_masks[real].half().numpy())


def load_masks(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(masks, raw_masks) of one sample, each (n, R, R) float32, n = its non-padding objects."""
    with np.load(path) as data:
        return torch.from_numpy(data["masks"].astype(np.float32)), torch.from_numpy(data["raw_masks"].astype(np.float32))


def read_manifest(samples_dir: str | Path) -> list[SampleRecord]:
    """Read <samples_dir>/manifest.jsonl; errors name the file, the line and the field."""
    samples_dir = Path(samples_dir)
    path = samples_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: samples=DIR must hold a {MANIFEST} (written by task=sample)")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err})") from None
        missing = [k for k in ("file", "image_id", "repeat", "labels", "boxes") if k not in entry]
        if missing:
            raise ValueError(f"{path}:{number}: missing {missing}")
        if len(entry["labels"]) != len(entry["boxes"]) or any(len(b) != 4 for b in entry["boxes"]):
            raise ValueError(f"{path}:{number}: labels and boxes must pair up, boxes as [x0, y0, w, h] fractions")
        file = samples_dir / entry["file"]
        if not file.is_file():
            raise FileNotFoundError(f"{path}:{number}: image {file} does not exist")
        masks = samples_dir / entry["masks"] if entry.get("masks") else None
        records.append(SampleRecord(file, int(entry["image_id"]), int(entry["repeat"]),
                                    [int(v) for v in entry["labels"]], [[float(v) for v in b] for b in entry["boxes"]],
                                    masks))
    if not records:
        raise ValueError(f"{path} lists no samples")
    return records


def read_info(samples_dir: str | Path) -> dict[str, Any]:
    """<samples_dir>/info.json (sampling settings), or {} for samples made elsewhere."""
    path = Path(samples_dir) / INFO
    return json.loads(path.read_text()) if path.is_file() else {}


def write_sample_folder(out_dir: Path, batches: Iterable[SampleBatch], info: dict[str, Any], total: int,
                        with_masks: bool = False) -> Path:
    """Write generated batches as a sample folder: images/, masks/ (with_masks: the batches carry masks),
    manifest.jsonl and info.json (`info`: how the samples were made); `total` images for the progress bar."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    if with_masks:
        (out_dir / "masks").mkdir(exist_ok=True)
    with (out_dir / MANIFEST).open("w") as manifest, stage_bar("sampling", total, "img") as bar:
        for batch in batches:
            for k, (image_id, rep) in enumerate(zip(batch.image_ids, batch.repeats)):
                stem = image_name(image_id, rep)
                write_image(out_dir / "images" / f"{stem}.png", batch.images[k])
                mask_file = None
                if with_masks:
                    mask_file = f"masks/{stem}.npz"
                    save_masks(out_dir / mask_file, batch.layout.labels[k], batch.masks[k], batch.raw_masks[k])
                manifest.write(record_line(f"images/{stem}.png", image_id, rep, batch.layout.labels[k],
                                           batch.layout.boxes[k], mask_file) + "\n")
            bar.update(len(batch.image_ids))
    (out_dir / INFO).write_text(json.dumps(info, indent=1))
    return out_dir
