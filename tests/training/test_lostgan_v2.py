"""LostGAN-V2 as a training preset: model=lostgan_v2 composes with the paper experiments, trains a few
iterations at 128 px with its L1 + VGG terms (self-made VGG weights), and its checkpoints know their model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.core.global_hydra import GlobalHydra
from torchvision.models.vgg import cfgs, make_layers

from lama.checkpoint import load_generator
from lama.tasks import TaskError
from lama.tasks.train import run
from lama.training.reconstruction import VGG_CUTS, VGG_WEIGHTS, ReconstructionLoss, VGGWeightsError
from tests.training.conftest import CONFIGS, compose_cfg, run_py, tiny_overrides


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """Randomly initialised VGG19 features, saved as torchvision's names (features.N.weight)."""
    torch.manual_seed(0)
    features = make_layers(cfgs["E"])[: VGG_CUTS[-1]]
    path = tmp_path_factory.mktemp("vgg") / "vgg19_random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def lostgan_overrides(data_dir, vgg_file, batches=2):
    base = [o for o in tiny_overrides(data_dir, resolution=128, batches=batches) if "d_only_iters" not in o]
    return ["model=lostgan_v2", *base, f"model.vgg_weights={vgg_file}"]


def test_recipe_composes_with_the_paper_experiment():
    cfg = compose_cfg(["experiment=coco_128", "model=lostgan_v2", "trainer.devices=4"], ".")
    m = cfg.model
    assert (m.arch, m.optimizer_g.lr, m.optimizer_d.lr, m.scheduler, m.d_only_iters) == ("lostgan_v2", 1e-4, 1e-4,
                                                                                         None, -1)
    assert (m.lambda_obj, m.lambda_img, m.lambda_l1, m.lambda_vgg) == (1.0, 0.1, 1.0, 1.0)
    assert cfg.data.batch_size * cfg.trainer.devices == 128 and cfg.data.flip
    lama = compose_cfg(["experiment=coco_128"], ".")
    assert lama.model.arch == "lama" and lama.data.batch_size == 20 and lama.model.optimizer_d.lr == 3e-4
    assert compose_cfg(["model=lama_off"], ".").model.lama is False


@pytest.mark.parametrize("experiment", sorted(f.stem for f in (CONFIGS / "experiment").glob("*.yaml")))
def test_every_experiment_composes_with_lostgan_v2(experiment):
    cfg = compose_cfg([f"experiment={experiment}", "model=lostgan_v2"], ".")
    assert cfg.model.arch == "lostgan_v2" and "lama" not in cfg.model


def test_reconstruction_terms_are_the_authors(vgg_file):
    torch.manual_seed(0)
    loss = ReconstructionLoss(1.0, 2.0, vgg_file)
    fake = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    terms = loss.terms(fake, real)
    expected, x, y = 0.0, fake, real
    for start, cut, weight in zip((0, *VGG_CUTS[:-1]), VGG_CUTS, VGG_WEIGHTS):
        x, y = loss.vgg[start:cut](x), loss.vgg[start:cut](y)
        expected = expected + weight * (x - y).abs().mean()
    torch.testing.assert_close(terms["g_loss_vgg"], expected)
    torch.testing.assert_close(terms["g_loss_l1"], F.l1_loss(fake, real))
    total = loss.loss(terms)
    torch.testing.assert_close(total, terms["g_loss_l1"] + 2 * terms["g_loss_vgg"])
    total.backward()
    assert fake.grad.abs().sum() > 0 and not any(p.requires_grad for p in loss.vgg.parameters())
    assert loss.terms(real, real)["g_loss_vgg"] == 0


def test_vgg_weights_errors_name_the_file_and_option(tmp_path, synthetic_dir):
    with pytest.raises(VGGWeightsError, match=r"nope\.pth do not exist \(model\.vgg_weights=PATH"):
        ReconstructionLoss(1.0, 1.0, tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(2, 2)}, bad)
    with pytest.raises(VGGWeightsError, match="does not fit torchvision's VGG19"):
        ReconstructionLoss(1.0, 1.0, bad)
    GlobalHydra.instance().clear()
    cfg = compose_cfg(lostgan_overrides(synthetic_dir, tmp_path / "nope.pth"), tmp_path / "run")
    with pytest.raises(TaskError, match=r"model=lostgan_v2: VGG19 weights .*nope\.pth do not exist"):
        run(cfg)
    cfg = compose_cfg(lostgan_overrides(synthetic_dir, bad) + ["resolution=64"], tmp_path / "run64")
    with pytest.raises(TaskError, match="resolution must be one of \\[128, 256\\]|LostGAN-V2 has"):
        run(cfg)


def test_trains_at_128px_and_its_checkpoints_refuse_the_other_model(synthetic_dir, vgg_file, tmp_path):
    GlobalHydra.instance().clear()
    cfg = compose_cfg(lostgan_overrides(synthetic_dir, vgg_file) + ["model.ema.enabled=true"], tmp_path)
    outputs = run(cfg)
    G, record = load_generator(outputs["generator"])
    assert record["hparams"] == {"arch": "lostgan_v2", "resolution": 128, "num_classes": 184, "ch": 4, "z_dim": 128}
    assert type(G).__name__ == "LostGANGenerator"
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["lama_generator"]["hparams"]["arch"] == "lostgan_v2"
    # G steps from the first iteration: 2 D steps + 2 G steps
    assert last["lama_training"]["iteration"] == 2 and last["global_step"] == 4
    header = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/g_loss_l1", "train/g_loss_vgg", "train/g_loss_obj", "train/d_loss"} <= set(header)
    assert Path(outputs["sample_grid"]).stat().st_size > 0  # the grid shows its masks like LAMA's

    GlobalHydra.instance().clear()  # resume into the same model: one more epoch of 2 iterations
    again = compose_cfg(lostgan_overrides(synthetic_dir, vgg_file) + ["model.ema.enabled=true", "trainer.max_epochs=2",
                        f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}"], tmp_path / "resumed")
    run(again)
    resumed = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["lama_training"]["iteration"] == 4 and resumed["global_step"] == 8

    GlobalHydra.instance().clear()
    base = [o for o in tiny_overrides(synthetic_dir, resolution=128, batches=2)]
    other = compose_cfg([*base, "trainer.max_epochs=2", f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}"],
                        tmp_path / "lama")
    with pytest.raises(TaskError, match="holds a lostgan_v2 generator, but the model is lama: use model=lostgan_v2"):
        run(other)


def test_sweep_over_both_models(synthetic_dir, vgg_file, tmp_path):
    overrides = [o for o in lostgan_overrides(synthetic_dir, vgg_file, batches=1) if o != "model=lostgan_v2"]
    overrides = [o for o in overrides if not o.startswith(("resolution=", "model.vgg_weights"))]
    proc = run_py(["-m", "experiment=coco_128", "model=lama,lostgan_v2", *overrides,
                   f"++model.vgg_weights={vgg_file}", "callbacks.checkpoint.every_n_iterations=0"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    generators = sorted((tmp_path / "train" / "multiruns").glob("*/*/generator.pt"))
    archs = sorted(load_generator(p)[1]["hparams"]["arch"] for p in generators)
    assert archs == ["lama", "lostgan_v2"]
