"""Loader throughput: `python -m lama.datamodules.throughput ROOT [--resolution 64 128] [--workers 0 2]`
prints images/s of CocoStuff(ROOT, val) through a DataLoader (decode + resize + layout + collate);
`--cache` also writes the split's image cache to a temporary directory and times the cached loader."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from lama.datamodules.coco_stuff import CocoStuff


def images_per_second(dataset: Dataset, num_items: int, num_workers: int = 0, batch_size: int = 16) -> float:
    """Items per second through one DataLoader epoch of `num_items` (the dataset repeated as
    needed), worker start-up included."""
    repeated = Subset(dataset, [i % len(dataset) for i in range(num_items)])
    loader = DataLoader(repeated, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    seen, start = 0, time.perf_counter()
    for batch in loader:
        seen += len(batch["image"])
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--resolution", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--workers", type=int, nargs="+", default=[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--max-objects", type=int, default=8)
    parser.add_argument("--jpeg-draft", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    parser.add_argument("--cache", action="store_true", help="also time the loader reading the image cache")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for res in args.resolution:
        ds = CocoStuff(args.root, args.split, res, flip=True, max_objects=args.max_objects, jpeg_draft=args.jpeg_draft)
        for workers in args.workers:
            rate = images_per_second(ds, args.items, workers)
            print(f"{args.root} {args.split} {res}px workers={workers} draft={args.jpeg_draft}: {rate:.0f} images/s")
        if args.cache:
            from lama.datamodules.cache import cache_name, write_image_cache

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / cache_name(args.split, res, args.jpeg_draft)
                write_image_cache(ds.image_dir, ds.image_names(), out, res, draft=args.jpeg_draft)
                ds.use_image_cache(out)
                for workers in args.workers:
                    rate = images_per_second(ds, args.items, workers)
                    print(f"{args.root} {args.split} {res}px workers={workers} cached: {rate:.0f} images/s")


if __name__ == "__main__":
    main()
