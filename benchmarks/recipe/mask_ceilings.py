"""How far hand-made masks get above the filled-box floor on the synthetic validation layouts: every thing
drawn as the ellipse inscribed in its box, or as its class's mean visible shape (the per-class template a
class-conditioned mask network could learn without knowing an object's rotation). Stuff gets a flat mask
below the things', so the things own their masks. Scored with MaskIoU, exactly as MaskMetrics scores the
generator. Prints one line per (dataset, mask) with the things' gain and the thing-overlap gain.

    .venv/bin/python benchmarks/recipe/mask_ceilings.py [overrides ...]   # e.g. data.generate.rotate=false
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from lama.metrics.mask_iou import COCO_LAST_THING, MaskIoU  # noqa: E402
from lama.models.masks import MASK_SIZE, paste_masks  # noqa: E402

NUM_LAYOUTS = 500
STUFF_VALUE = 0.5  # below a thing's 1, so a thing owns its own mask where it overlaps stuff


def box_grid(boxes: torch.Tensor) -> torch.Tensor:
    """(O, S, S, 2) grid_sample coordinates of a MASK_SIZE x MASK_SIZE lattice inside each (x0, y0, w, h) box."""
    u = (torch.arange(MASK_SIZE) + 0.5) / MASK_SIZE
    x0, y0, w, h = (t[:, None, None] for t in boxes.unbind(-1))
    gx = (x0 + u[None, None, :] * w) * 2 - 1
    gy = (y0 + u[None, :, None] * h) * 2 - 1
    return torch.stack([gx.expand(-1, MASK_SIZE, MASK_SIZE), gy.expand(-1, MASK_SIZE, MASK_SIZE)], -1)


def class_templates(labels: torch.Tensor, boxes: torch.Tensor, true: torch.Tensor, things: torch.Tensor) -> dict:
    """Per thing class: its objects' visible masks resampled into box coordinates, averaged, thresholded at 0.5."""
    out = {}
    for c in labels[things].unique().tolist():
        sel = labels == c
        in_box = F.grid_sample(true[sel][:, None].float(), box_grid(boxes[sel]), align_corners=False)[:, 0]
        out[c] = (in_box.mean(0) > 0.5).float()
    return out


def main(overrides: list[str]) -> None:
    with initialize_config_dir(str(REPO / "configs"), version_base=None):
        cfg = compose("config", overrides=["experiment=ablation_synthetic", *overrides])
    data = instantiate(cfg.data)
    data.prepare_data()
    data.setup("fit")
    items = [data.val_dataset[i] for i in range(min(NUM_LAYOUTS, len(data.val_dataset)))]
    labels, boxes, true = (torch.stack([item[k] for item in items]) for k in ("labels", "boxes", "masks"))
    things = (labels > 0) & (labels <= COCO_LAST_THING)
    u = (torch.arange(MASK_SIZE) + 0.5) / MASK_SIZE
    ellipse = (((u[None] - 0.5) ** 2 + (u[:, None] - 0.5) ** 2) <= 0.25).float()
    templates = class_templates(labels, boxes, true, things)
    for name, shape_of in (("ellipse", lambda c: ellipse), ("class template", lambda c: templates[c])):
        shapes = torch.zeros(*labels.shape, MASK_SIZE, MASK_SIZE)
        shapes[(labels > 0) & ~things] = STUFF_VALUE
        for b, o in things.nonzero().tolist():
            shapes[b, o] = shape_of(int(labels[b, o]))
        masks = paste_masks(shapes, boxes, true.shape[-1])
        meter = MaskIoU()
        meter.update(masks, masks, true, labels, boxes)
        v = meter.compute()
        print(f"{data.root.name} ({len(items)} layouts), {name}: things {v['mask_iou_things']:.3f} vs boxes "
              f"{v['mask_iou_things_box']:.3f} ({v['mask_iou_things'] - v['mask_iou_things_box']:+.3f}); "
              f"where thing boxes overlap {v['mask_iou_things_overlap']:.3f} vs {v['mask_iou_things_overlap_box']:.3f} "
              f"({v['mask_iou_things_overlap'] - v['mask_iou_things_overlap_box']:+.3f})")


if __name__ == "__main__":
    main(sys.argv[1:])
