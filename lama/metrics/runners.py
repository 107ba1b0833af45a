"""The runner of each metric: EvalInputs -> (numbers, protocol). A missing input raises CannotRun with the
reason; the registry (lama.metrics.registry) names each runner with its result keys and needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lama.metrics.errors import CannotRun
from lama.metrics.images import ImageFiles, ObjectCrops, object_entries
from lama.metrics.inputs import EvalInputs
from lama.progress import stage_bar, timed_stage

Result = tuple[dict[str, float], dict[str, Any]]


def _inception(inp: EvalInputs):
    """The evaluation's one Inception network (IS, FID and SceneFID share it), built on first use."""
    if "inception" not in inp._cache:
        from lama.metrics.inception import Inception, loader_workers

        with timed_stage("inception/load", items=1):
            inp._cache["inception"] = Inception(inp.opt("inception_weights"), inp.device,
                                                inp.opt("fidelity_batch_size"), loader_workers(inp.opt("loader_workers")))
    return inp._cache["inception"]


def _real_images(inp: EvalInputs, cache_name: str):
    """The real images for real statistics named cache_name: decoded once per evaluation, or, when the
    statistics are cached (and so never read), left undecoded."""
    from lama.metrics.inception import stats_file

    if inp.cache_dir is not None and stats_file(inp.cache_dir, cache_name).is_file():
        return inp.real.images(inp.real_ids)
    return inp.real_images()


def _fake_features(inp: EvalInputs) -> dict[str, Any]:
    """Inception features of the measured generated images: one pass for IS and FID together."""
    if "fake_features" not in inp._cache:
        inp._cache["fake_features"] = _inception(inp).features(inp.fakes(), "is_fid/fake", inp.progress)
    return inp._cache["fake_features"]


def _fidelity_protocol(inp: EvalInputs) -> dict[str, Any]:
    from lama.metrics.fidelity import fidelity_protocol

    proto = fidelity_protocol(inp.opt("inception_weights"))
    proto.update(num_fake=len(inp.measured), repeats=inp.measured_repeats_found)
    return proto


def inception_score(inp: EvalInputs) -> Result:
    """IS of the generated images (is_mean, is_std)."""
    from lama.metrics.inception import inception_score as compute

    values = compute(_fake_features(inp), inp.opt("is_splits"))
    return values, {**_fidelity_protocol(inp), "is_splits": inp.opt("is_splits")}


def fid(inp: EvalInputs) -> Result:
    """FID between the generated images and the real images of the same layouts."""
    from lama.metrics.fidelity import real_stats_cache_name

    cache_name = real_stats_cache_name(inp.dataset, inp.split, inp.resolution, len(inp.real_ids),
                                       inp.opt("inception_weights"))
    net = _inception(inp)
    fake = _fake_features(inp)
    real = net.real_statistics(_real_images(inp, cache_name), "fid/real", cache_name, inp.cache_dir, inp.progress)
    return ({"fid": net.fid(fake, real)},
            {**_fidelity_protocol(inp), "num_real": len(inp.real_ids), "real_stats_cache": cache_name})


def scene_fid(inp: EvalInputs) -> Result:
    """FID between object crops of the generated and the real images."""
    from lama.metrics.fidelity import real_stats_cache_name
    from lama.metrics.scene_fid import CROP_SIZE, scene_crops, scene_fid_protocol
    from lama.metrics.scene_fid import scene_fid as compute

    weights = inp.opt("inception_weights")
    fake = scene_crops(inp.fakes(), [r.labels for r in inp.measured], [r.boxes for r in inp.measured], CROP_SIZE)
    labels, boxes = inp.real_layouts()
    entries = object_entries(labels, boxes)
    cache_name = real_stats_cache_name(inp.dataset, inp.split, inp.resolution, len(inp.real_ids), weights,
                                       kind=f"objects{len(entries)}-crop{CROP_SIZE}bicubic")
    real = ObjectCrops(_real_images(inp, cache_name), entries, CROP_SIZE)
    value = compute(fake, real, real_cache_name=cache_name, cache_dir=inp.cache_dir, verbose=inp.progress,
                    inception=_inception(inp))
    proto = scene_fid_protocol(weights, len(fake), len(real))
    proto.update(repeats=inp.measured_repeats_found, real_stats_cache=cache_name)
    return {"scene_fid": value}, proto


def diversity(inp: EvalInputs) -> Result:
    """DS: LPIPS between repeats 0 and 1 of each layout."""
    from lama.metrics.diversity import build_lpips, diversity_protocol, diversity_score, lpips_distances

    by_key = {(r.image_id, r.repeat): r for r in inp.records}
    pairs = [(by_key[(i, 0)].file, by_key[(i, 1)].file) for i in inp.real_ids if (i, 0) in by_key and (i, 1) in by_key]
    if not pairs:
        raise CannotRun("DS needs two samples of each layout (repeats 0 and 1): set metrics.repeats >= 2",
                        short="needs metrics.repeats >= 2")
    weights = inp.opt("lpips_weights")
    net = build_lpips(weights, inp.device)
    dist = lpips_distances(ImageFiles([a for a, _ in pairs]), ImageFiles([b for _, b in pairs]), net,
                           batch_size=inp.opt("ds_batch_size"), device=inp.device, progress=inp.progress)
    return diversity_score(dist), diversity_protocol(weights, len(pairs), [0, 1])


def classification_accuracy(inp: EvalInputs) -> Result:
    """CAS: a classifier trained on crops of the generated objects, tested on the real ones."""
    from lama.metrics.cas import CAS_CROP, cas_protocol, classification_accuracy_score

    train = ObjectCrops(inp.fakes(), object_entries([r.labels for r in inp.measured], [r.boxes for r in inp.measured]),
                        CAS_CROP, with_labels=True)
    labels, boxes = inp.real_layouts()
    test = ObjectCrops(inp.real_images(), object_entries(labels, boxes), CAS_CROP, with_labels=True)
    settings = dict(inp.opt("cas"))
    seed = int(inp.opt("seed"))
    acc = classification_accuracy_score(train, test, inp.num_classes, seed=seed, device=inp.device,
                                        progress=inp.progress, **settings)
    return {"cas": acc}, cas_protocol(len(train), len(test), seed=seed, repeats=inp.measured_repeats_found, **settings)


def yolo_score(inp: EvalInputs) -> Result:
    """YOLO score: COCOeval AP of a COCO detector's detections on the generated images."""
    from lama.metrics.detection import (
        build_detector,
        coco_ap,
        detect,
        detection_protocol,
        full_ground_truth,
        ground_truth,
        keep_confident,
        read_detections,
        to_original_size,
    )

    first = [r for r in inp.records if r.repeat == 0]
    ids = [r.image_id for r in first]
    max_thing = int(inp.opt("detection.max_thing_label"))
    truth, threshold = inp.opt("detection.ground_truth"), float(inp.opt("detection.score_threshold"))
    size = ImageFiles([first[0].file])[0].shape[-1]
    if truth == "full":
        gt = full_ground_truth(instances_file(inp), ids)
    elif truth == "layout":
        gt = ground_truth(ids, [r.labels for r in first], [r.boxes for r in first], size, size, max_thing)
    else:
        raise CannotRun(f"metrics.detection.ground_truth must be full or layout, got {truth!r}",
                        short="bad metrics.detection.ground_truth")
    det_file = inp.opt("detection.detections_file")
    if det_file:
        dets, source = read_detections(det_file), f"detections file {det_file}"
    else:
        name, weights = inp.opt("detection.model"), inp.opt("detection.weights")
        model = build_detector(name, weights, inp.device)
        dets = detect(model, ImageFiles([r.file for r in first]), [r.image_id for r in first],
                      batch_size=inp.opt("detection.batch_size"), device=inp.device, progress=inp.progress)
        source = f"torchvision {name} ({weights or 'COCO_V1 weights'})"
    dets = keep_confident(dets, threshold)
    if truth == "full":
        dets = to_original_size(dets, gt["images"], size)
    return coco_ap(gt, dets), detection_protocol(source, len(first), len(gt["annotations"]), max_thing, truth, threshold)


def instances_file(inp: EvalInputs) -> Path:
    """The COCO instances file of the evaluated split (the real dataset's root/annotations)."""
    from lama.datamodules.coco_stuff import annotation_paths

    root = getattr(inp.real.dataset, "root", None)
    if root is None:
        raise CannotRun("metrics.detection.ground_truth=full needs a COCO-Stuff dataset with a root directory",
                        short="needs the COCO instances file")
    return annotation_paths(Path(root), inp.split)[0]


def mask_iou(inp: EvalInputs) -> Result:
    """Mask IoU of the generator's adapted and raw masks against the true instance masks."""
    from lama.metrics.mask_iou import MaskIoU
    from lama.sampling.folder import load_masks

    meter = MaskIoU()
    bar = stage_bar("mask_iou", len(inp.records), "img", desc="mask IoU", disable=not inp.progress)
    for r in inp.records:
        try:
            true = inp.real.masks(r.image_id)
        except Exception as err:  # noqa: BLE001 - datasets without masks raise their own error type
            raise CannotRun(f"mask IoU needs true instance masks: {err}",
                            short="needs data with true instance masks (the synthetic scenes)") from None
        masks, raw = load_masks(r.masks)
        labels, boxes = inp.real.layout(r.image_id)
        real = labels != 0
        true, labels, boxes = true[real], labels[real], boxes[real]
        if masks.shape != true.shape:
            raise CannotRun(f"{r.masks}: masks {tuple(masks.shape)} do not match the true masks {tuple(true.shape)}",
                            short="sample masks do not match the data's masks")
        meter.update(masks[None], raw[None], true[None], labels[None], boxes[None])
        bar.update(1)
    bar.close()
    return meter.compute(), meter.protocol()
