"""Sampling: the truncation rule of the spec, per-sample latents, determinism for a seed."""

import pytest
import torch
from torch import nn

from lama.sampling import sample_latents, sample_layouts, sample_seed, truncated_normal


def test_truncation_replaces_each_large_component_once_with_a_fresh_draw():
    t = 1.0
    z = truncated_normal((64, 128), t, torch.Generator().manual_seed(3))
    # The same two draws, made independently: the first N(0,1) tensor, then the replacement tensor.
    gen = torch.Generator().manual_seed(3)
    first, fresh = torch.randn(64, 128, generator=gen), torch.randn(64, 128, generator=gen)
    small = first.abs() <= t
    assert torch.equal(z[small], first[small])
    assert torch.equal(z[~small], fresh[~small])
    # Once, not repeatedly: some replacements still exceed t, at about P(|z|>t)^2 of all components.
    p = float((first.abs() > t).float().mean())
    frac = float((z.abs() > t).float().mean())
    assert (z.abs() > t).any()
    assert abs(frac - p * p) < 0.02


def test_no_truncation_is_a_plain_normal_draw():
    for t in (None, 0):
        z = truncated_normal((5, 7), t, torch.Generator().manual_seed(1))
        assert torch.equal(z, torch.randn(5, 7, generator=torch.Generator().manual_seed(1)))


def test_latents_are_truncated_for_objects_and_image_and_seeded_per_sample():
    z_obj, z_im = sample_latents(4, 16, 2.0, seed=123)
    gen = torch.Generator().manual_seed(123)
    assert torch.equal(z_obj, truncated_normal((4, 16), 2.0, gen))
    assert torch.equal(z_im, truncated_normal((16,), 2.0, gen))
    assert sample_seed(0, 5, 1) != sample_seed(0, 5, 0) != sample_seed(1, 5, 0)


class LatentEcho(nn.Module):
    """A stand-in generator whose image is its latents, plus noise from the global RNG (like noise injection)."""

    z_dim = 12

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, z_obj, boxes, labels, z_im=None, return_masks=False):
        b = z_obj.shape[0]
        img = torch.cat([z_obj.reshape(b, -1), z_im, 0 * torch.randn(b, 1)], 1)
        return img.reshape(b, 1, 1, -1).expand(b, 3, 1, -1) + self.p


def _layouts(n=5, o=3):
    labels = torch.randint(1, 10, (n, o), generator=torch.Generator().manual_seed(0))
    boxes = torch.rand(n, o, 4, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.1
    return list(range(100, 100 + n)), labels, boxes


def _collect(generator, batch_size, seed, repeats=2):
    ids, labels, boxes = _layouts()
    out = {}
    for batch in sample_layouts(generator, ids, labels, boxes, repeats=repeats, seed=seed, batch_size=batch_size):
        for k, (i, r) in enumerate(zip(batch.image_ids, batch.repeats)):
            out[(i, r)] = batch.images[k]
    return out


def test_latents_do_not_depend_on_batching_and_cover_every_layout_and_repeat():
    g = LatentEcho()
    a, b = _collect(g, batch_size=1, seed=7), _collect(g, batch_size=4, seed=7)
    assert set(a) == {(i, r) for i in range(100, 105) for r in range(2)}
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = _collect(g, batch_size=4, seed=8)
    assert not torch.equal(a[(100, 0)], c[(100, 0)])
    assert not torch.equal(a[(100, 0)], a[(100, 1)])


def test_real_generator_is_deterministic_for_a_seed_and_leaves_global_rng_alone():
    from lama.models import build_generator

    torch.manual_seed(0)
    g = build_generator(resolution=64, num_classes=20, ch=8, z_dim=16).eval()
    ids, labels, boxes = _layouts(n=3, o=3)
    state = torch.get_rng_state()

    def run(seed):
        return torch.cat([b.images for b in sample_layouts(g, ids, labels, boxes, repeats=1, seed=seed, batch_size=3)])

    x1, x2, x3 = run(0), run(0), run(1)
    assert torch.equal(torch.get_rng_state(), state)
    assert x1.shape == (3, 3, 64, 64) and x1.min() >= -1 and x1.max() <= 1
    assert torch.equal(x1, x2)
    assert not torch.allclose(x1, x3)


def test_layout_file_in_pixels_or_fractions_json_or_yaml(tmp_path):
    import json

    from lama.layout import PAD_LABEL, LayoutError
    from lama.layout_file import read_layout_file

    names = ["", "person", "dog", "sky"]
    (tmp_path / "a.yaml").write_text("image_size: [200, 100]\nobjects:\n  - {class: dog, box: [20, 10, 100, 50]}\n")
    layout = read_layout_file(tmp_path / "a.yaml", names, num_slots=3)
    assert layout.labels.tolist() == [[2, PAD_LABEL, PAD_LABEL]]
    assert torch.allclose(layout.boxes[0, 0], torch.tensor([0.1, 0.1, 0.5, 0.5]))
    (tmp_path / "b.json").write_text(json.dumps({"objects": [{"class": "sky", "box": [0, 0, 1, 0.4]},
                                                             {"class": "person", "box": [0.2, 0.3, 0.2, 0.6]}]}))
    layout = read_layout_file(tmp_path / "b.json", names)
    assert layout.labels.tolist() == [[3, 1]] and torch.allclose(layout.boxes[0, 1], torch.tensor([0.2, 0.3, 0.2, 0.6]))
    (tmp_path / "c.yaml").write_text("objects:\n  - {class: dog, box: [20, 10, 100, 50]}\n")
    with pytest.raises(LayoutError, match=r"c.yaml: objects\[0\].box looks like pixels; add image_size"):
        read_layout_file(tmp_path / "c.yaml", names)
    (tmp_path / "d.yaml").write_text("objects:\n  - {class: dog, box: [0, 0, 1]}\n")
    with pytest.raises(LayoutError, match=r"d.yaml: objects\[0\].box must be 4 numbers"):
        read_layout_file(tmp_path / "d.yaml", names)
    with pytest.raises(LayoutError, match="does not exist"):
        read_layout_file(tmp_path / "missing.yaml", names)


def test_example_layout_file_uses_coco_stuff_names():
    from pathlib import Path

    import yaml

    from lama.layout_file import read_layout_file

    example = Path(__file__).resolve().parents[1] / "examples" / "layout.yaml"
    names = {n: i + 1 for i, n in enumerate(o["class"] for o in yaml.safe_load(example.read_text())["objects"])}
    layout = read_layout_file(example, {i: n for n, i in names.items()})
    assert layout.labels.shape == (1, 5) and float(layout.boxes.max()) <= 1.0
