"""`python run.py task=prepare data=synthetic|coco_stuff|vg`: generate the synthetic scenes, or
download (resumable, verified), extract and build what the COCO-Stuff / Visual Genome loaders need;
then cache every split's images resized to the training resolution (data.image_cache, see cache.py)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from lama.datamodules.common import DataError
from lama.tasks import TaskError


def run(cfg: DictConfig) -> dict:
    """Prepare the dataset named by cfg.data.name under cfg.data.root; returns a summary."""
    data = cfg.data
    name = data.get("name")
    steps = {"synthetic": lambda: _synthetic(data, int(cfg.resolution)), "coco_stuff": lambda: _coco_stuff(data),
             "vg": lambda: _vg(data)}  # fmt: skip
    if name not in steps:
        raise TaskError(f"task=prepare does not know data.name={name!r}; choose data=synthetic, coco_stuff or vg")
    try:
        summary = steps[name]()
        summary["image_caches"] = write_caches(data)
    except DataError as err:
        raise TaskError(str(err)) from None
    return summary


def write_caches(data: DictConfig) -> dict[str, str]:
    """Write the image cache of every split the data module serves (train, val[, test]) where
    data.image_cache points (nothing when it is null); returns {split: cache directory}."""
    from hydra.utils import instantiate

    from lama.datamodules.cache import write_image_cache
    from lama.datamodules.datamodule import SPLITS

    datamodule = instantiate(data)
    written: dict[str, str] = {}
    if datamodule.image_cache is None:
        print("data.image_cache=null: no image cache written (the loaders decode every image)")
        return written
    for stage, split in SPLITS[datamodule.name].items():
        if split in written:
            continue  # test = val for COCO-Stuff and synthetic
        dataset = datamodule.make_dataset(stage, use_cache=False, check_classes=False)
        out = datamodule.cache_path(split)
        write_image_cache(dataset.image_dir, dataset.image_names(), out, datamodule.resolution,
                          draft=dataset.jpeg_draft)  # fmt: skip
        print(f"image cache of {split} ({dataset.num_images} images at {datamodule.resolution} px): {out}")
        written[split] = str(out)
    return written


def _section(data: DictConfig, key: str) -> dict:
    node = data.get(key)
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


def _synthetic(data: DictConfig, resolution: int) -> dict:
    from lama.datamodules.synthetic import MARKER, generate, is_generated

    root = Path(data.root)
    params = {"num_train": 2000, "num_val": 500, "seed": 0, **_section(data, "generate")}
    wanted = {**params, "resolution": resolution}
    if is_generated(root):
        import json

        have = json.loads((root / MARKER).read_text())
        if have == wanted:
            print(f"synthetic dataset already at {root} ({have})")
            return {"root": str(root), **have}
        print(f"regenerating {root}: it holds {have}, asked for {wanted}")
    generate(root, resolution=resolution, **params)
    print(f"wrote synthetic dataset to {root}")
    return {"root": str(root), **wanted}


def _fetch_all(data: DictConfig, dest: Path) -> list[Path]:
    """Download (or reuse) every configured archive, then extract it into `dest`."""
    from lama.datamodules.download import download, extract

    section = _section(data, "download")
    if section.get("skip"):
        print("download.skip=true: using the files already under", dest)
        return []
    archive_dir = Path(section.get("dir") or dest / "downloads")
    paths = []
    for entry in section.get("archives", []):
        if "url" not in entry:
            raise TaskError(f"data.download.archives entry {entry} lacks 'url'")
        path = download(entry["url"], archive_dir, entry.get("size"), entry.get("md5"))
        if entry.get("md5") is None and entry.get("size") is None:
            print(f"note: {path.name} has no published size or checksum; it was not verified")
        extract(path, dest)
        paths.append(path)
    return paths


def _coco_stuff(data: DictConfig) -> dict:
    from lama.datamodules.coco_stuff import CocoStuff, annotation_paths

    root = Path(data.root)
    _fetch_all(data, root)
    kwargs = _section(data, "dataset")
    for split in ("train", "val"):
        for path in annotation_paths(root, split, kwargs.get("stuff_challenge", False)):
            if not path.exists():
                raise TaskError(f"{path} is missing after extraction; check the archives under data.download.dir")
    # Building the validation layouts checks the files end to end; the paper's filter keeps 3097.
    val = CocoStuff(root, "val", resolution=int(data.resolution), **kwargs)
    print(f"COCO-Stuff val2017: {len(val.image_ids)} layouts pass the filter (the papers' full split: 3097)")
    return {"root": str(root), "val_layouts": len(val.image_ids)}


def _vg(data: DictConfig) -> dict:
    from lama.datamodules.vg_prep import VGPrepConfig, preprocess

    root = Path(data.root)
    _fetch_all(data, root)
    prep = _section(data, "prep")
    splits_json = prep.pop("splits_json", None)
    try:
        config = VGPrepConfig(**prep)
    except TypeError as err:
        raise TaskError(f"bad data.prep key: {err}") from None
    summary = preprocess(root, root, splits_json=splits_json, config=config)
    print(f"Visual Genome: {summary['num_objects']} object classes (incl. __image__), images per split {summary['images']}")
    return {"root": str(root), **summary}
