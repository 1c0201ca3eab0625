"""A small forgetting study on synthetic digits and letters, end to end through the CLI."""
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from bioplastic import cli
from bioplastic.data.idx import write_idx

from conftest import REPO


def bands(n, n_classes, rng):
    labels = np.arange(n) % n_classes
    images = ((rng.random((n, 28, 28)) < 0.03) * 100).astype(np.uint8)
    for k, c in enumerate(labels):
        images[k, 2 + 8 * c: 8 + 8 * c, 4:24] = 255
    return images, labels


@pytest.fixture
def synthetic_tasks(tmp_path, monkeypatch):
    """Digits 0-2 are horizontal bands; letters a-c vertical bands (stored transposed, as EMNIST is)."""
    rng = np.random.default_rng(0)
    mnist, emnist = tmp_path / "data" / "mnist", tmp_path / "data" / "emnist-letters"
    mnist.mkdir(parents=True), emnist.mkdir(parents=True)
    for prefix, n in (("train", 90), ("t10k", 60)):
        images, labels = bands(n, 3, rng)
        write_idx(mnist / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(mnist / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    images, labels = bands(26 * 24, 3, rng)        # horizontal in the file: vertical once loaded
    letters = np.arange(26 * 24) % 26                    # 26 letters; only a, b, c are used
    images = np.where((letters < 3)[:, None, None], images, 0).astype(np.uint8)
    write_idx(emnist / "emnist-letters-train-images-idx3-ubyte.gz", images)
    write_idx(emnist / "emnist-letters-train-labels-idx1-ubyte.gz", (letters + 1).astype(np.uint8))
    monkeypatch.setenv("BIOPLASTIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIOPLASTIC_OFFLINE", "1")
    return tmp_path


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_forgetting_study_runs_and_reports_tables(synthetic_tasks):
    config = yaml.safe_load((REPO / "experiments" / "forgetting_dense_class_incremental.yaml").read_text())
    config["variants"] = {k: config["variants"][k] for k in ("global_inhibition", "freeze_50_global",
                                                             "langevin_q1_q3", "two_layer_global_global")}
    config["variants"]["two_layer_global_global"].update({          # small, but the real path
        "network.layers.hidden.size": 9,
        "network.projections.input_to_hidden.plasticity.parameters": {"A_pre": 0.05},
        "network.projections.hidden_to_exc.plasticity.parameters.A_pre": 0.05,   # as for input_to_exc below
        # 9 inputs per segment neuron (78 is for 196) ...
        "network.projections.hidden_to_exc.weight_normalization": 3.0,
        "network.projections.hidden_to_exc.gain": 40.0})                 # ... so each input must count for more
    config["forgetting_report"]["baselines"] = {}
    config["quick"] = {}
    path = synthetic_tasks / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    out = synthetic_tasks / "run"
    args = ["run", str(path), "--out", str(out), "device.name=runtime", "device.target=numpy", "seeds=[0]",
            "data.verify=false", "data.holdout_per_class=4", "network.layers.exc.n_per_class=2",
            "forgetting.task1.classes=[0,1,2]", "forgetting.task1.n_train=18", "forgetting.task1.n_test=30",
            "forgetting.task2.classes=[0,1,2]", "forgetting.task2.n_train=36", "forgetting.task2.n_test=12",
            "forgetting.eval_every=18", "forgetting.langevin.n_images=6", "forgetting.langevin.record_every=2",
            "protocol.image_duration=100 ms", "protocol.rest_duration=50 ms",
            "network.projections.input_to_exc.plasticity.parameters.A_pre=0.05"]
    assert cli.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name, v in metrics["variants"].items():
        assert v["task1_digits"]["mean"] >= 90, name          # bands are learned in task 1
        assert v["n_letters_seen"] == [0, 18, 36]
        assert v["forgetting"]["mean"] == pytest.approx(v["task1_digits"]["mean"] - v["task2_digits"]["mean"])
    frozen = metrics["variants"]["freeze_50_global"]
    assert frozen["task2_digits"]["mean"] >= frozen["task1_digits"]["mean"] - 10   # frozen weights keep task 1
    assert "Langevin ranges" in metrics["variants"]["langevin_q1_q3"]["notes"][0]
    two_layer = metrics["variants"]["two_layer_global_global"]
    assert two_layer["architecture"].startswith("2 plastic layers: 784 inputs -> 9 hidden neurons (stdp, unsupervised)")
    table = (out / "tables.md").read_text()
    notes = {line.split("] ", 1)[1].split(":")[0]: line.split("]")[0][3:] for line in table.splitlines()
             if line.startswith("* [")}                     # architecture footnotes: "* [k] text"
    assert set(notes) == {"single plastic layer", "2 plastic layers"}
    assert f"| freeze_50_global | [{notes['single plastic layer']}] |" in table and "hold-out" in table
    assert f"| two_layer_global_global | [{notes['2 plastic layers']}] |" in table
    assert (out / "forgetting.png").stat().st_size > 0
    # The numbers behind it: every curve in metrics_long, the weights of every snapshot in weights.nc.
    rows = pd.read_parquet(out / "metrics_long.parquet")
    for name, v in metrics["variants"].items():
        own = rows[(rows.variant == name) & (rows.metric == "test_accuracy_percent")]
        assert own[own.phase == "task1"].value.tolist() == v["task1_digits"]["per_seed"]
        for test_set in ("digits", "letters"):
            curve = own[(own.phase == "task2") & (own.class_set == test_set)]
            assert curve.checkpoint.tolist() == v["n_letters_seen"]
            assert curve.value.tolist() == v[f"curve_{test_set}"][0]
    with xr.open_dataset(out / "weights.nc") as arrays:
        assert list(arrays.variant.values) == list(metrics["variants"])         # in the config's order
        assert arrays["input_to_hidden"].dims == ("variant", "seed", "snapshot", "input", "hidden")
        assert arrays["task"].values[0].tolist() == [1, 1, 2, 2, 2]
        assert arrays["n_images"].values[0].tolist() == [0, 18, 0, 18, 36]
        assert arrays["exc_class"].values[0].tolist() == [c for c in "012abc" for _ in range(2)]   # digits, letters
        single, two_layer = arrays.sel(variant="global_inhibition"), arrays.sel(variant="two_layer_global_global")
        assert np.isnan(two_layer["input_to_exc"]).all() and np.isnan(single["input_to_hidden"]).all()   # padding
        assert not np.isnan(single["input_to_exc"]).any() and not np.isnan(two_layer["hidden_to_exc"]).any()
