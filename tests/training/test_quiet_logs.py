"""A training run's output is what a user needs to read (issue 18.4): no Lightning adverts, no
`weights_only` notice per checkpoint, no internal deprecations, no model summary with a FLOPs column of
zeros, but one line on the networks."""

from __future__ import annotations

from tests.training.conftest import run_py, tiny_overrides

NOISE = ("💡 Tip", "weights_only", "LeafSpec", "FLOPs", "no `validation_step`")


def test_training_output_has_no_third_party_noise(tmp_path):
    overrides = [o for o in tiny_overrides(tmp_path / "data") if not o.startswith("trainer.enable_model_summary")]
    proc = run_py([*overrides, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()  # checkpoints were written, silently
    for noise in NOISE:
        assert noise not in output, (noise, output[-3000:])
    assert "networks: G Generator" in output and "D Discriminator" in output
