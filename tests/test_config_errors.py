"""lama.config_errors: the nearest key or preset a one-line Hydra composition error suggests."""

from lama.config_errors import nearest, override_key, unknown_key_line

KEYS = ["seed", "trainer", "trainer.max_epochs", "trainer.max_iterations", "model", "model.ch",
        "model.optimizer_g", "model.optimizer_g.lr", "experiment"]


def test_nearest_prefers_the_nearest_number_then_spelling():
    presets = ["coco_128", "coco_256", "coco_64", "demo", "vg_256"]
    assert nearest("coco_512", presets) == ["coco_256"]
    assert nearest("coco_100", presets) == ["coco_128"]
    assert nearest("dmeo", presets) == ["demo"]
    assert nearest("zzz", presets) == []


def test_override_key_strips_prefixes_packages_and_values():
    assert [override_key(o) for o in ("+a.b=1", "++a.b=1", "~a.b", "data@x=vg", "seed=1,2")] == [
        "a.b", "a.b", "a.b", "data", "seed"]


def test_unknown_key_suggestions_at_each_depth():
    assert unknown_key_line("seeed", KEYS).startswith("seeed is not a config key; did you mean seed?")
    assert "did you mean experiment?" in unknown_key_line("experment", KEYS)
    assert "did you mean trainer.max_iterations?" in unknown_key_line("trainr.max_iterations", KEYS)
    assert "did you mean model.optimizer_g.lr?" in unknown_key_line("model.optimzer_g.lr", KEYS)
    assert unknown_key_line("model.ch.x", KEYS) == "model.ch.x is not a config key (model.ch holds a value, not keys)"
    assert unknown_key_line("trainer.zzz", KEYS) == (
        "trainer.zzz is not a config key (trainer has: max_epochs, max_iterations; +trainer.zzz=... adds it as a new key)")
    assert unknown_key_line("trainer.max_epoch", KEYS, delete=True) == (
        "trainer.max_epoch is not a config key; did you mean ~trainer.max_epochs?")
