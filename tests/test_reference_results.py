"""Reference results on the real data (slow: minutes). Run with `make test-slow`."""
import json

import pytest

from bioplastic import cli

from conftest import REPO


@pytest.mark.slow
@pytest.mark.data
def test_supervised_stdp_alltd_reaches_80_percent_after_100_images(real_data, tmp_path):
    """The dissertation reports ~80 % after only 100 images with adaptive threshold (3 MNIST classes)."""
    out = tmp_path / "run"
    assert cli.main(["run", str(REPO / "experiments" / "supervised_stdp_alltd.yaml"), "--quick",
                     "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    curve = metrics["variants"]["adaptive_threshold"]
    assert curve["n_train_images"][1] == 100
    assert min(seed[1] for seed in curve["class_sets"][0]["accuracy_per_seed"].values()) >= 80
    assert curve["accuracy_mean"][-1] >= 85
