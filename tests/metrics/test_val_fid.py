"""ValFID callback: val/fid every N epochs with real features kept, equal to a direct torchmetrics FID."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from lama.metrics import ValFID
from lama.sampling import sample_layouts
from lama.sampling.images import to_uint8


class TinyG(nn.Module):
    """A generator stand-in: colour from the first latent, so images change with the weights."""

    z_dim = 4

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, z_obj, boxes, labels, z_im=None, return_masks=False):
        b = z_obj.shape[0]
        colour = torch.tanh(self.w * z_im[:, :3])[:, :, None, None]
        return colour.expand(b, 3, 16, 16)


class Layouts:
    num_images = 4

    def layout(self, i):
        return torch.tensor([1, 0]), torch.tensor([[0.1, 0.1, 0.5, 0.5], [-0.6, -0.6, 0.5, 0.5]])

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"image": torch.rand(3, 16, 16, generator=g) * 2 - 1}


class Module(SimpleNamespace):
    def log(self, name, value, **kwargs):
        self.logged.append((name, value))


def test_val_fid_logs_every_n_epochs_and_matches_torchmetrics(inception_weights):
    dataset = Layouts()
    trainer = SimpleNamespace(datamodule=SimpleNamespace(val_dataset=dataset), current_epoch=0, is_global_zero=True)
    module = Module(sampling_generator=TinyG(), device=torch.device("cpu"), logged=[])
    callback = ValFID(every_n_epochs=2, num_images=3, batch_size=2, seed=5, inception_weights=str(inception_weights),
                      feature=64)
    callback.on_train_epoch_end(trainer, module)
    assert module.logged == []  # epoch 1 of every 2
    trainer.current_epoch = 1
    callback.on_train_epoch_end(trainer, module)
    assert [name for name, _ in module.logged] == ["val/fid"]
    # Independent: the same real images and the same seeded samples through torchmetrics directly.
    fid = FrechetInceptionDistance(feature=64, feature_extractor_weights_path=str(inception_weights))
    fid.update(to_uint8(torch.stack([dataset[i]["image"] for i in range(3)])), real=True)
    labels, boxes = zip(*(dataset.layout(i) for i in range(3)))
    for batch in sample_layouts(module.sampling_generator, [0, 1, 2], torch.stack(labels), torch.stack(boxes),
                                seed=5, batch_size=2):
        fid.update(to_uint8(batch.images), real=False)
    assert module.logged[0][1] == pytest.approx(float(fid.compute()), rel=1e-4)
    # Real features are kept between evaluations; a changed generator changes the value.
    with torch.no_grad():
        module.sampling_generator.w.fill_(3.0)
    trainer.current_epoch = 3
    callback.on_train_epoch_end(trainer, module)
    assert callback.metric.real_features_num_samples == 3
    assert module.logged[1][1] != pytest.approx(module.logged[0][1])


def test_val_fid_switches_off_with_a_warning_when_weights_are_missing(tmp_path):
    trainer = SimpleNamespace(datamodule=SimpleNamespace(val_dataset=Layouts()), current_epoch=0, is_global_zero=True)
    module = Module(sampling_generator=TinyG(), device=torch.device("cpu"), logged=[])
    callback = ValFID(every_n_epochs=1, num_images=2, inception_weights=str(tmp_path / "missing.pth"))
    with pytest.warns(UserWarning, match="val/fid is switched off.*metrics.inception_weights"):
        callback.on_train_epoch_end(trainer, module)
    assert callback.disabled and module.logged == []


def test_val_fid_is_an_entry_of_the_callbacks_group_that_the_optuna_search_switches_on():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from tests.conftest import REPO

    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        off = compose("config", overrides=["paths.run_dir=/tmp/run"])
        cfg = compose("config", overrides=["paths.run_dir=/tmp/run", "hparams_search=optuna", "seed=3",
                                           "metrics.truncation=1.5", "metrics.inception_weights=/w.pth"])
    assert instantiate(off.callbacks.val_fid).disabled
    callback = instantiate(cfg.callbacks.val_fid)
    assert isinstance(callback, ValFID) and not callback.disabled
    assert (callback.every_n_epochs, callback.num_images, callback.seed, callback.truncation) == (5, 500, 3, 1.5)
    assert callback.weights == "/w.pth"
