"""Evaluation metrics of the layout-to-image literature, each usable on its own:
fidelity (IS, FID), scene_fid, diversity (DS), cas, detection (YOLO score), mask_iou, and the
ValFID training callback. Pretrained weights download as torchvision/torch-fidelity do, or come from
local files (the *_weights options); offline, a metric fails with WeightsUnavailable naming the fix."""

from lama.metrics.weights import WeightsUnavailable

__all__ = ["ValFID", "WeightsUnavailable"]


def __getattr__(name: str) -> object:
    # Lazy: importing lama.metrics must not pull in Lightning or torch-fidelity.
    if name == "ValFID":
        from lama.metrics.val_fid import ValFID

        return ValFID
    raise AttributeError(name)
