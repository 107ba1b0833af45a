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
