"""The layout batch type: `labels` (B, O) int64 with 0 as padding, `boxes` (B, O, 4) as
normalised (x0, y0, w, h) fractions of the image -- the authors' convention, so their
checkpoints and our code read the same tensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from lama.pixels import object_color, to_uint8  # object_color stays importable from here

PAD_LABEL = 0
# Lies entirely outside the image, so the pasted mask of a padding slot is zero everywhere.
PAD_BOX = (-0.6, -0.6, 0.5, 0.5)


class LayoutError(ValueError):
    """A layout that breaks the batch convention; the message names the slot and value."""


@dataclass
class Layout:
    """A batch of layouts: `labels` (B, O) int64, `boxes` (B, O, 4) float (x0, y0, w, h) fractions."""

    labels: torch.Tensor
    boxes: torch.Tensor

    def __post_init__(self) -> None:
        check_layout_tensors(self.labels, self.boxes)

    @classmethod
    def from_batch(cls, batch: Mapping[str, torch.Tensor]) -> Layout:
        """The layout of a data batch (dict with `labels`, `boxes`); a single item's (O,) labels
        and (O, 4) boxes get a batch dimension."""
        labels, boxes = batch["labels"], batch["boxes"]
        if labels.dim() == 1:
            labels, boxes = labels[None], boxes[None]
        return cls(labels, boxes)

    @property
    def num_objects(self) -> torch.Tensor:
        """Non-padding objects per image, (B,)."""
        return (self.labels != PAD_LABEL).sum(dim=1)

    def to(self, device: torch.device | str) -> Layout:
        return Layout(self.labels.to(device), self.boxes.to(device))

    def flip(self) -> Layout:
        """Mirror left-right: x0 -> 1 - x0 - w for real objects; padding keeps its box."""
        return Layout(self.labels, flip_boxes(self.boxes, self.labels))

    def validate(self, num_classes: int | None = None) -> Layout:
        """Raise LayoutError on non-finite values, w or h <= 0, or labels outside [0, num_classes)."""
        validate_layout(self.labels, self.boxes, num_classes)
        return self


def check_layout_tensors(labels: torch.Tensor, boxes: torch.Tensor) -> None:
    """Cheap shape and dtype check, run before any computation touches a layout."""
    if not isinstance(labels, torch.Tensor) or not isinstance(boxes, torch.Tensor):
        raise LayoutError(
            f"labels and boxes must be tensors, got {type(labels).__name__} and {type(boxes).__name__}"
        )
    if labels.dim() != 2:
        raise LayoutError(f"labels must be (B, O), got shape {tuple(labels.shape)}")
    if labels.dtype != torch.int64:
        raise LayoutError(f"labels must be int64, got {labels.dtype}")
    if boxes.dim() != 3 or boxes.shape[-1] != 4 or boxes.shape[:2] != labels.shape:
        raise LayoutError(
            f"boxes must be (B, O, 4) matching labels {tuple(labels.shape)}, got {tuple(boxes.shape)}"
        )
    if not boxes.is_floating_point():
        raise LayoutError(f"boxes must be floating point, got {boxes.dtype}")


def validate_layout(labels: torch.Tensor, boxes: torch.Tensor, num_classes: int | None = None) -> None:
    """Raise LayoutError naming the first bad (image, slot) and its value."""
    check_layout_tensors(labels, boxes)
    real = labels != PAD_LABEL
    checks = [
        (~torch.isfinite(boxes).all(-1), "non-finite box"),
        (real & ((boxes[..., 2] <= 0) | (boxes[..., 3] <= 0)), "box with w or h <= 0"),
        (labels < 0, "negative label"),
    ]
    if num_classes is not None:
        checks.append((labels >= num_classes, f"label >= num_classes ({num_classes})"))
    for bad, what in checks:
        if bad.any():
            b, o = (int(i) for i in bad.nonzero()[0])
            raise LayoutError(
                f"{what} at image {b}, slot {o}: label {int(labels[b, o])}, box {boxes[b, o].tolist()}"
            )


def flip_boxes(boxes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Left-right flip of (..., O, 4) boxes; padding slots keep the padding box."""
    flipped = boxes.clone()
    flipped[..., 0] = 1.0 - boxes[..., 0] - boxes[..., 2]
    return torch.where((labels == PAD_LABEL).unsqueeze(-1), boxes, flipped)


def pad_objects(
    labels: Sequence[int], boxes: Sequence[Sequence[float]], num_slots: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad one image's objects to `num_slots`: (O,) int64 labels and (O, 4) float32 boxes."""
    if len(labels) != len(boxes):
        raise LayoutError(f"{len(labels)} labels but {len(boxes)} boxes")
    if len(labels) > num_slots:
        raise LayoutError(f"{len(labels)} objects do not fit in {num_slots} slots")
    out_labels = torch.full((num_slots,), PAD_LABEL, dtype=torch.int64)
    out_boxes = torch.tensor(PAD_BOX, dtype=torch.float32).repeat(num_slots, 1)
    if len(labels):
        out_labels[: len(labels)] = torch.as_tensor(list(labels), dtype=torch.int64)
        out_boxes[: len(boxes)] = torch.as_tensor([list(b) for b in boxes], dtype=torch.float32)
    return out_labels, out_boxes


def pixel_to_fraction(box: Sequence[float], width: float, height: float) -> list[float]:
    """(x0, y0, w, h) in pixels -> (x0, y0, w, h) as fractions of the image size."""
    x0, y0, w, h = (float(v) for v in box)
    return [x0 / width, y0 / height, w / width, h / height]


def layout_from_objects(
    objects: Sequence[tuple[str, Sequence[float]]],
    class_names: Sequence[str] | dict[int, str],
    num_slots: int,
    image_size: tuple[float, float] | None = None,
) -> Layout:
    """One layout from (class name, box) pairs; boxes are pixels when `image_size` = (W, H) is given,
    fractions otherwise. Class names index `class_names` (a list by label, or a {label: name} map)."""
    by_name = name_to_label(class_names)
    labels, boxes = [], []
    for name, box in objects:
        if name not in by_name:
            known = ", ".join(sorted(by_name)[:20])
            raise LayoutError(f"unknown class name {name!r}; known names include: {known}, ...")
        if len(box) != 4:
            raise LayoutError(f"box for {name!r} must have 4 numbers (x0, y0, w, h), got {list(box)}")
        labels.append(by_name[name])
        boxes.append(pixel_to_fraction(box, *image_size) if image_size else [float(v) for v in box])
    lab, box = pad_objects(labels, boxes, num_slots)
    layout = Layout(lab[None], box[None])
    return layout.validate(num_classes=max(by_name.values()) + 1)


def collate_layouts(layouts: Sequence[Layout]) -> Layout:
    """Stack single- or multi-image layouts with the same slot count into one batch."""
    slots = {layout.labels.shape[1] for layout in layouts}
    if len(slots) != 1:
        raise LayoutError(f"cannot collate layouts with different slot counts {sorted(slots)}")
    return Layout(torch.cat([x.labels for x in layouts]), torch.cat([x.boxes for x in layouts]))


def boxes_to_pixels_xyxy(boxes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(..., 4) (x0, y0, w, h) fractions -> (..., 4) (x0, y0, x1, y1) pixels."""
    x0, y0, w, h = boxes.unbind(-1)
    return torch.stack([x0 * width, y0 * height, (x0 + w) * width, (y0 + h) * height], dim=-1)


def draw_layout(
    image: torch.Tensor,
    labels: torch.Tensor,
    boxes: torch.Tensor,
    class_names: Sequence[str] | dict[int, str] | None = None,
    width: int = 1,
    min_size: int = 0,
) -> torch.Tensor:
    """Draw one image's boxes and class names: image (3, H, W) uint8 or float in [-1, 1] -> uint8.
    An image smaller than `min_size` px is first upscaled (nearest, whole factor) so the names stay legible.
    Boxes are clipped to the image; one wholly outside it is not drawn."""
    from torchvision.utils import draw_bounding_boxes

    if image.is_floating_point():
        image = to_uint8(image)
    scale = -(-min_size // max(image.shape[-2:])) if min_size else 1
    if scale > 1:
        image = image.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    height, width_px = image.shape[-2:]
    xyxy = boxes_to_pixels_xyxy(boxes.float(), width_px, height).cpu()
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width_px - 1)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height - 1)
    real = (labels.cpu() != PAD_LABEL) & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    if not real.any():
        return image.cpu()
    xyxy = xyxy[real]
    ids = labels.cpu()[real].tolist()
    names = [_label_name(class_names, i) for i in ids]
    colors = [object_color(i) for i in ids]
    return draw_bounding_boxes(image.cpu(), xyxy, labels=names, colors=colors, width=width)


def _label_name(class_names: Sequence[str] | dict[int, str] | None, label: int) -> str:
    if class_names is None:
        return str(label)
    if isinstance(class_names, dict):
        return class_names.get(label, str(label))
    return class_names[label] if 0 <= label < len(class_names) else str(label)


def name_to_label(class_names: Sequence[str] | dict[int, str]) -> dict[str, int]:
    """{class name: label} of a list by label or a {label: name} map (empty names skipped)."""
    items = class_names.items() if isinstance(class_names, dict) else enumerate(class_names)
    return {name: int(i) for i, name in items if name}
