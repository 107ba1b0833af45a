"""The metrics registry is the one list of metrics: config names, the README table and result keys follow it."""

import pytest

from lama.metrics import registry
from tests.conftest import REPO


def test_readme_metric_table_is_the_registry_table():
    assert registry.reference_table() in (REPO / "README.md").read_text()


def test_names_select_registry_entries_and_unknown_names_are_listed():
    assert [m.name for m in registry.select("all")] == list(registry.NAMES)
    assert [m.name for m in registry.select(["fid", "is", "fid"])] == ["fid", "is"]
    with pytest.raises(ValueError, match="unknown metric.*'bogus'.*choose from is, fid"):
        registry.select(["fid", "bogus"])


def test_a_metric_reporting_keys_it_does_not_register_is_an_error():
    from lama.metrics.suite import run_metrics

    odd = registry.Metric("odd", ("a",), lambda inp: ({"a": 1.0, "b": 2.0}, {}), how="")

    class Inputs:
        dataset, repeats, records, requested = "synthetic", 1, [], ()

    out = run_metrics([odd], Inputs())
    assert out.values == {} and "['b']" in out.errors["odd"] and out.not_run == {}


def test_each_protocol_records_the_choices_that_change_its_number():
    from lama.metrics.cas import cas_protocol
    from lama.metrics.detection import detection_protocol
    from lama.metrics.diversity import diversity_protocol
    from lama.metrics.fidelity import fidelity_protocol
    from lama.metrics.scene_fid import scene_fid_protocol

    assert {"weights", "weights_tag", "resize"} <= set(fidelity_protocol(None))
    assert {"weights", "resize", "crop_window", "crop_resize"} <= set(scene_fid_protocol(None, 4, 4))
    cas = cas_protocol(4, 4, epochs=1, batch_size=2, lr=0.1, arch="resnet10", augment=True, seed=0, repeats=1)
    assert {"crop_window", "crop_resize", "repeats", "epochs", "arch"} <= set(cas)
    assert {"resize", "repeats_compared"} <= set(diversity_protocol(None, 3, [0, 1]))
    det = detection_protocol("d", 2, 3, 90, "full", 0.25)
    assert (det["ground_truth"], det["score_threshold"], det["repeats"]) == ("full", 0.25, 1)
