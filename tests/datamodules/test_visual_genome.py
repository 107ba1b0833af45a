"""VG preprocessing on the 100 genuine VG records (thresholds lowered to fit them) and the
VisualGenome loader: vocabulary, kept objects, slot order, __image__ slot, padding, flipping."""

import json
import shutil
from collections import Counter
from pathlib import Path

import h5py
import pytest
import torch

from lama.datamodules import DataError, VisualGenome
from lama.datamodules.vg_prep import VGPrepConfig, load_aliases, packaged_splits, preprocess
from lama.layout import PAD_BOX

# The 100 genuine records are a subset: the other split ids are skipped on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:.*split image ids are not in image_data.json")

LOW = dict(min_object_instances=10, min_attribute_instances=10, min_relationship_instances=5,
           expected_num_objects=None, allow_missing_images=True)  # fmt: skip


@pytest.fixture(scope="module")
def vg_root(realdata_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vg")
    for f in (realdata_dir / "vg").iterdir():
        shutil.copyfile(f, root / f.name)
    summary = preprocess(root, config=VGPrepConfig(**LOW), progress=False)
    assert summary["images"]["train"] > 0
    return root


def _raw(root: Path, name: str) -> dict:
    return {r["image_id"]: r for r in json.loads((root / name).read_text())}


def test_packaged_splits_are_the_reference(reference_dir: Path) -> None:
    assert json.loads(packaged_splits().read_text()) == json.loads((reference_dir / "vg_splits.json").read_text())


def test_object_vocabulary_counts(vg_root: Path) -> None:
    vocab = json.loads((vg_root / "vocab.json").read_text())
    aliases = load_aliases(vg_root / "object_alias.txt")
    train = set(json.loads(packaged_splits().read_text())["train"])
    images = _raw(vg_root, "image_data.json")
    counts = Counter()
    for image_id, rec in _raw(vg_root, "objects.json").items():
        if image_id in train and min(images[image_id]["width"], images[image_id]["height"]) >= 200:
            for obj in rec["objects"]:
                counts.update({aliases.get(n, n) for n in obj["names"]})
    names = vocab["object_idx_to_name"]
    assert names[0] == "__image__"
    assert set(names[1:]) == {n for n, c in counts.items() if c >= 10}
    assert [counts[n] for n in names[1:]] == sorted((counts[n] for n in names[1:]), reverse=True)
    assert vocab["pred_idx_to_name"][0] == "__in_image__"


def test_kept_objects_match_raw_json(vg_root: Path) -> None:
    vocab = json.loads((vg_root / "vocab.json").read_text())["object_name_to_idx"]
    aliases = load_aliases(vg_root / "object_alias.txt")
    objects = _raw(vg_root, "objects.json")
    with h5py.File(vg_root / "train.h5") as f:
        ids, n_obj = f["image_ids"][()], f["objects_per_image"][()]
        names, boxes, n_rel = f["object_names"][()], f["object_boxes"][()], f["relationships_per_image"][()]
        paths = [p.decode() for p in f["image_paths"][()]]
    for row, image_id in enumerate(ids.tolist()):
        expected = []
        for obj in objects[image_id]["objects"]:
            name = next((aliases.get(n, n) for n in obj["names"] if aliases.get(n, n) in vocab), None)
            if name is not None and obj["w"] >= 32 and obj["h"] >= 32:
                expected.append((vocab[name], [obj["x"], obj["y"], obj["w"], obj["h"]]))
        assert 3 <= n_obj[row] == len(expected) <= 30 and n_rel[row] >= 1
        assert names[row, : n_obj[row]].tolist() == [e[0] for e in expected]
        assert boxes[row, : n_obj[row]].tolist() == [e[1] for e in expected]
        assert (names[row, n_obj[row]:] == -1).all()
        url = _raw(vg_root, "image_data.json")[image_id]["url"]
        assert paths[row] == "/".join(url.split("/")[-2:])  # e.g. VG_100K_2/1.jpg


def test_loader_slots(vg_root: Path) -> None:
    ds = VisualGenome(vg_root, "train", resolution=32)
    images = _raw(vg_root, "image_data.json")
    with h5py.File(vg_root / "train.h5") as f:
        data = {k: f[k][()] for k in f if k != "image_paths"}
    assert ds.num_slots == 11 and ds.class_names[0] == "__image__"
    for i, image_id in enumerate(ds.image_ids):
        labels, boxes = ds.layout(i)
        n_rel = data["relationships_per_image"][i]
        related = sorted(set(data["relationship_subjects"][i, :n_rel]) | set(data["relationship_objects"][i, :n_rel]))
        others = [k for k in range(data["objects_per_image"][i]) if k not in related]
        chosen = related[:10] if len(related) > 9 else (related + others)[:9]
        n = len(chosen)
        assert labels[:n].tolist() == data["object_names"][i, chosen].tolist()
        w, h = images[image_id]["width"], images[image_id]["height"]
        expect = torch.tensor(data["object_boxes"][i, chosen], dtype=torch.float64) / torch.tensor([w, h, w, h])
        torch.testing.assert_close(boxes[:n], expect.float())
        assert labels[n] == 0 and boxes[n].tolist() == [0.0, 0.0, 1.0, 1.0]  # __image__ slot
        assert (labels[n + 1:] == 0).all() and (boxes[n + 1:] == torch.tensor(PAD_BOX)).all()


def test_loader_reads_and_flips_images(prepared_vg: Path) -> None:
    vg = prepared_vg
    ds = VisualGenome(vg, "train", resolution=16, flip=True)
    assert len(ds) == 2 * len(ds.image_ids)
    a, b = ds[0], ds[len(ds.image_ids)]
    assert a["image"].shape == (3, 16, 16) and a["image"].min() >= -1 and a["image"].max() <= 1
    torch.testing.assert_close(b["image"], a["image"].flip(-1))
    real = a["labels"] != 0
    torch.testing.assert_close(b["boxes"][real, 0], 1 - a["boxes"][real, 0] - a["boxes"][real, 2])
    assert torch.equal(a["boxes"][~real], b["boxes"][~real])  # __image__ and padding unchanged


def test_vocabulary_size_is_checked(vg_root: Path, tmp_path: Path) -> None:
    for name in ("image_data.json", "objects.json", "attributes.json", "relationships.json",
                 "object_alias.txt", "relationship_alias.txt"):  # fmt: skip
        shutil.copyfile(vg_root / name, tmp_path / name)
    with pytest.raises(DataError, match="object vocabulary has 1 entries, the released checkpoints expect 179"):
        preprocess(tmp_path, config=VGPrepConfig(allow_missing_images=True), progress=False)
    with pytest.raises(DataError, match="not in image_data.json"):
        preprocess(tmp_path, config=VGPrepConfig(), progress=False)


def test_missing_and_bad_files(vg_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="task=prepare data=vg"):
        VisualGenome(tmp_path, "train", resolution=32)
    with pytest.raises(DataError, match="no instance masks"):
        VisualGenome(vg_root, "train", resolution=32, return_masks=True)
    (tmp_path / "objects.json").write_text("[{\"image_id\": 1}]")
    for name in ("image_data.json", "attributes.json", "relationships.json", "object_alias.txt",
                 "relationship_alias.txt"):  # fmt: skip
        shutil.copyfile(vg_root / name, tmp_path / name)
    with pytest.raises(DataError, match=r"objects.json: record \[0\] lacks required field\(s\) 'objects'"):
        preprocess(tmp_path, config=VGPrepConfig(**LOW), progress=False)
