"""task=convert end to end: an authors' checkpoint file in, a checkpoint of ours out that reproduces
the authors' outputs."""

import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from lama.checkpoint import load_generator, read_generator_record
from lama.tasks import TaskError
from lama.tasks.convert import run
from tests.conftest import REPO


@pytest.fixture(scope="module")
def fixture64(reference_dir):
    return torch.load(reference_dir / "original_generator64_ch8_seed0.pt", weights_only=True)


def cfg_for(checkpoint, out, resolution=64, num_classes=184):
    return OmegaConf.create(
        {
            "task": "convert",
            "checkpoint": str(checkpoint),
            "resolution": resolution,
            "out": str(out),
            "data": {"num_classes": num_classes},
        }
    )


@pytest.mark.parametrize("wrap", ["raw", "netG"])
def test_converted_checkpoint_reproduces_authors_outputs(fixture64, tmp_path, wrap, capsys):
    state = {"module." + k: v for k, v in fixture64["state_dict"].items()}  # as saved from DDP training
    src = tmp_path / "G_200.pth"
    torch.save(state if wrap == "raw" else {"netG": state, "epoch": 200}, src)
    dst = run(cfg_for(src, tmp_path / "ours.pt"))
    assert str(dst) in capsys.readouterr().out
    G, record = load_generator(dst, resolution=64)
    assert record["hparams"] == {
        "arch": "lama", "resolution": 64, "num_classes": 184, "ch": 8, "z_dim": 128, "lama": True, "mask_ch": 128
    }
    inp, out = fixture64["inputs"], fixture64["outputs"]
    with torch.no_grad():
        image, mask, raw = G(inp["z_obj"], inp["bbox"], inp["labels"], z_im=inp["z_im"], return_masks=True)
    assert (image - out["image"]).abs().max() < 1e-4
    assert (mask - out["mask"]).abs().max() < 1e-4 and (raw - out["raw_mask"]).abs().max() < 1e-4


def test_refusals_are_task_errors(fixture64, tmp_path):
    src = tmp_path / "G.pth"
    torch.save(fixture64["state_dict"], src)
    with pytest.raises(TaskError, match="not a 128 px generator.*add resolution=64"):
        run(cfg_for(src, tmp_path / "a.pt", resolution=128))
    with pytest.raises(
        TaskError, match=r"first mismatching key 'label_embedding.weight'.*\(184, 128\).*\(179, 128\)"
    ):
        run(cfg_for(src, tmp_path / "b.pt", num_classes=179))
    with pytest.raises(TaskError, match="does not exist"):
        run(cfg_for(tmp_path / "nope.pth", tmp_path / "c.pt"))
    torch.save({"optimizer": {"lr": torch.tensor(1.0)}, "epoch": 3}, src)
    with pytest.raises(TaskError, match="no generator state dict found.*'optimizer'"):
        run(cfg_for(src, tmp_path / "d.pt"))
    assert not any((tmp_path / n).exists() for n in ("a.pt", "b.pt", "c.pt", "d.pt"))


def test_command_line_writes_into_the_run_dir(fixture64, tmp_path):
    src = tmp_path / "G_200.pth"
    torch.save({"module." + k: v for k, v in fixture64["state_dict"].items()}, src)
    env = {**os.environ, "LAMA_OUTPUT_DIR": str(tmp_path / "outputs"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "run.py", "task=convert", f"checkpoint={src}", "resolution=64", "data=coco_stuff"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    written = proc.stdout.strip().splitlines()[-1].removeprefix("converted generator written to ")
    assert written.startswith(str(tmp_path / "outputs" / "convert" / "runs")) and written.endswith(
        "generator.pt"
    )
    assert read_generator_record(written)["hparams"]["num_classes"] == 184


@pytest.fixture(scope="module")
def lostgan128(reference_dir):
    path = reference_dir / "lostgan_v2" / "lostgan_v2_generator128_ch8_seed0.pt"
    if not path.is_file():
        pytest.skip(f"LostGAN-V2 fixtures not found at {path.parent}")
    return torch.load(path, weights_only=True)


def test_lostgan_v2_conversion_reproduces_and_samples(lostgan128, tmp_path):
    from lama.tasks import run_task
    from tests.metrics.test_tasks import _cfg

    src = tmp_path / "G_coco.pth"
    torch.save({"module." + k: v for k, v in lostgan128["state_dict"].items()}, src)
    cfg = cfg_for(src, tmp_path / "G_coco.pt", resolution=128)
    with pytest.raises(TaskError, match="it is a lostgan_v2 generator: add model=lostgan_v2"):
        run(cfg)
    cfg.model = {"arch": "lostgan_v2"}
    dst = run(cfg)
    G, record = load_generator(dst, resolution=128)
    assert record["hparams"] == {"arch": "lostgan_v2", "resolution": 128, "num_classes": 184, "ch": 8, "z_dim": 128}
    inp = lostgan128["inputs"]
    with torch.no_grad():
        image = G(inp["z_obj"], inp["bbox"], inp["labels"], z_im=inp["z_im"])
    assert (image - lostgan128["outputs"]["image"]).abs().max() < 1e-4
    # task=sample takes it as it takes a LAMA generator: sample folder, and a layout file with its masks
    (tmp_path / "g.pt").write_bytes(dst.read_bytes())
    common = ("task=sample", "resolution=128", "metrics.num_layouts=2", "metrics.repeats=1")
    run_task(_cfg(tmp_path, "s", *common))
    assert len(list((tmp_path / "s" / "generated" / "images").glob("*.png"))) == 2
    layout = tmp_path / "layout.json"
    layout.write_text('{"objects": [{"class": "circle", "box": [0.1, 0.2, 0.5, 0.7]}]}')
    run_task(_cfg(tmp_path, "l", *common, f"layout={layout}"))
    assert (tmp_path / "l" / "generated" / "masks_0.png").is_file()
    run_task(_cfg(tmp_path, "e", "task=evaluate", "resolution=128", "metrics.names=[mask_iou]",
                  "metrics.num_layouts=2", "metrics.repeats=1"))
    assert "mask_iou" in (tmp_path / "e" / "results.json").read_text()


def test_non_checkpoint_file_is_one_sentence(tmp_path):
    from tests.test_entrypoint import one_error_line, run_py

    src = tmp_path / "notes.pth"
    src.write_text("# my notes\nnot a checkpoint at all\n")
    line = one_error_line(run_py("task=convert", f"checkpoint={src}", "resolution=64", "data=coco_stuff"))
    assert line == (f"error: checkpoint {src} cannot be read with torch.load(weights_only=True): "
                    "not a PyTorch checkpoint (or truncated)")


class Opaque:
    """A class a weights-only load will not build."""


def test_unreadable_files_say_what_is_wrong(tmp_path):
    """Missing, empty, truncated and code-needing files each get their own one-line reason."""
    good = tmp_path / "good.pth"
    torch.save({"w": torch.zeros(64)}, good)
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    torch.save({"w": torch.zeros(1), "extra": Opaque()}, tmp_path / "code.pth")
    expected = {"nope.pth": "does not exist", "empty.pth": "is empty (0 bytes)",
                "cut.pth": "truncated or corrupt (it ends early",
                "code.pth": f"it holds a Python object ({__name__}.Opaque) that only unpickling with arbitrary code"}
    for name, reason in expected.items():
        with pytest.raises(TaskError) as err:
            run(cfg_for(tmp_path / name, tmp_path / "out.pt"))
        text = str(err.value)
        assert reason in text and str(tmp_path / name) in text and "\n" not in text, text
        assert "In PyTorch 2.6" not in text
