"""Every run folder holds the numbers behind its figures and tables: ``metrics_long.csv/.parquet``
(one tidy table of every number measured), ``weights.nc`` (weights and states with named
dimensions) and a provenance that names the data files read (with SHA-256) and the flags."""
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bioplastic import cli
from bioplastic.data import data_file_records, load_mnist, recording_data_files
from bioplastic.results import METRICS_LONG_COLUMNS, read_arrays, write_arrays, write_json
from bioplastic.studies import conv_stdp, forgetting_conv, pruning, supervised, unsupervised

from test_cli import EXPERIMENT, TINY, bar_digits, write_bar_digits  # noqa: F401 (a fixture)

from conftest import REPO


@pytest.fixture(scope="module")
def supervised_run(tmp_path_factory):
    """A tiny supervised run through the CLI on bar digits (--quick, two seeds, two variants), the
    weights its training returned by variant, and the folder of the data."""
    trained = {}
    real = supervised.train_with_snapshots

    def spy(*args, label, **kwargs):
        result = real(*args, label=label, **kwargs)
        trained[label.split(" ")[0]] = result
        return result
    with pytest.MonkeyPatch.context() as monkeypatch:
        root = write_bar_digits(tmp_path_factory.mktemp("results_data"), monkeypatch)
        monkeypatch.setattr(supervised, "train_with_snapshots", spy)
        out = root / "run"
        assert cli.main(["run", EXPERIMENT, "--quick", *TINY, "--out", str(out)]) == 0
    return out, trained, root


def test_metrics_long_holds_the_accuracies_of_metrics_json(supervised_run):
    out, _, _ = supervised_run
    metrics = json.loads((out / "metrics.json").read_text())
    csv, parquet = pd.read_csv(out / "metrics_long.csv", dtype={"class_set": str}), pd.read_parquet(
        out / "metrics_long.parquet")
    assert list(csv.columns) == list(parquet.columns) == list(METRICS_LONG_COLUMNS)
    pd.testing.assert_frame_equal(csv.fillna("").astype(str), parquet.fillna("").astype(str))     # the same table
    accuracy = parquet[parquet.metric == "test_accuracy_percent"]
    assert len(accuracy) == 2 * 2 * 3                          # variants x seeds x checkpoints
    for name, v in metrics["variants"].items():
        for seed, curve in v["class_sets"][0]["accuracy_per_seed"].items():
            rows = accuracy[(accuracy.variant == name) & (accuracy.seed == int(seed))]
            assert rows.class_set.unique().tolist() == ["0,1,2"] and set(rows.checkpoint_unit) == {"images"}
            assert rows.checkpoint.tolist() == v["n_train_images"] == [0, 12, 24]
            assert rows.value.tolist() == curve
        mean = accuracy[accuracy.variant == name].groupby("checkpoint").value.mean()
        np.testing.assert_allclose(mean.to_numpy(), v["accuracy_mean"])


def test_weights_nc_has_named_dimensions_and_the_trained_weights(supervised_run):
    out, trained, _ = supervised_run
    with xr.open_dataset(out / "weights.nc") as arrays:
        weights = arrays["input_to_exc"]
        assert weights.dims == ("variant", "class_set", "seed", "snapshot", "input", "exc")
        assert list(arrays.variant.values) == ["adaptive_threshold", "no_adaptive_threshold"]
        assert arrays.seed.values.tolist() == [0, 1] and arrays.class_set.values.tolist() == ["0,1,2"]
        assert arrays["n_images"].sel(variant="adaptive_threshold").values.tolist() == [[0, 12, 24]]
        assert arrays["exc_class"].values[0, 0].tolist() == ["0", "0", "1", "1", "2", "2"]
        assert arrays["exc.theta"].dims == ("variant", "class_set", "seed", "snapshot", "exc")
        assert arrays["exc.theta"].attrs["units"] == "V"
        for name, result in trained.items():
            for copy, seed in enumerate([0, 1]):
                run = arrays.sel(variant=name, class_set="0,1,2", seed=seed)
                for snapshot in (0, -1):
                    np.testing.assert_array_equal(run["input_to_exc"].isel(snapshot=snapshot),
                                                  result.weights["input_to_exc"][snapshot, copy])
        theta = arrays["exc.theta"].sel(variant="adaptive_threshold", class_set="0,1,2", seed=1).isel(snapshot=-1)
        np.testing.assert_array_equal(theta, trained["adaptive_threshold"].states["exc.theta"][-1, 1])
        assert float(abs(theta).max()) > 0                     # the adaptive threshold did move
    assert not list(out.glob("*.npz"))                         # weights.nc replaces weights_<variant>.npz


def test_provenance_lists_the_data_files_with_checksums_and_the_flags(supervised_run):
    out, _, root = supervised_run
    provenance = json.loads((out / "provenance.json").read_text())
    files = {f["path"]: f for f in provenance["data_files"]}
    assert sorted(files) == sorted(f"mnist/{prefix}-{kind}" for prefix in ("t10k", "train")
                                   for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"))
    for path, record in files.items():
        data = (root / "data" / path).read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["size_bytes"] == len(data)
        assert record["root"] == "$BIOPLASTIC_DATA_DIR" and record["verified"] is False   # data.verify=false
    assert provenance["flags"]["quick"] is True and provenance["flags"]["overrides"] == TINY
    assert provenance["flags"]["out"] == str(out) and provenance["command"][:2] == ["bioplastic", "run"]


def test_a_verified_file_is_recorded_with_its_pinned_checksum_and_hashed_once(bar_digits, monkeypatch):  # noqa: F811
    monkeypatch.setenv("XDG_CACHE_HOME", str(bar_digits / "cache"))       # verification records go there
    root = bar_digits / "data" / "mnist"
    pinned = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    with recording_data_files() as read:
        load_mnist("train", checksums=pinned)
        hashed = len(calls)
        load_mnist("train", checksums=pinned)
    assert hashed == 2 and len(calls) == 2           # images and labels, hashed by the check only, once
    records = data_file_records(read)
    assert [r["path"] for r in records] == ["mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"]
    assert all(r["verified"] and r["sha256"] == pinned[r["path"].split("/")[1]] for r in records)
    assert all(r["sha256_of"] == "file" for r in records)
    with recording_data_files() as outside:
        pass
    assert outside == {}


# ------------------------------------------------------------------ every study's rows, from metrics.json

def test_pruning_rows_reproduce_its_metrics():
    metrics = {"test_sets": ["white_noise", "trained_digits"], "variants": {"pruned": {
        "seeds": [3, 4], "classes": ["0", "1"], "n_train_images": 50,
        "total_spikes_per_seed": {"white_noise": [10, 20], "trained_digits": [30, 40]},
        "trained_accuracy_per_seed": [90.0, 95.0], "pruned_fraction_per_seed": [0.5, 0.25]}}}
    rows = pd.DataFrame(pruning.metric_table(metrics))
    spikes = rows[rows.metric == "excitatory_spikes"]
    assert spikes.set_index(["class_set", "seed"]).value.to_dict() == {
        ("white_noise", 3): 10, ("trained_digits", 3): 30, ("white_noise", 4): 20, ("trained_digits", 4): 40}
    accuracy = rows[rows.metric == "trained_digits_accuracy_percent"]
    assert accuracy.value.tolist() == [90.0, 95.0] and set(accuracy.checkpoint) == {50}


def test_unsupervised_rows_count_presentations_with_the_repeat_rule():
    metrics = {"variants": {"default": {
        "classes": [0, 1], "n_train_images": [0, 30], "images_completed_per_seed": [25],
        "accuracy_per_seed": {"0": [10.0, 80.0]}, "silent_fraction_per_seed": {"0": [1.0, 0.1]}}}}
    rows = pd.DataFrame(unsupervised.metric_table(metrics))
    assert set(rows.checkpoint_unit) == {"presentations"} and set(rows.class_set) == {"0,1"}
    assert rows[rows.metric == "test_accuracy_percent"].value.tolist() == [10.0, 80.0]
    assert rows[rows.metric == "images_completed"][["checkpoint", "value"]].values.tolist() == [[30, 25]]


def test_conv_rows_reproduce_the_curves_per_seed_and_epoch():
    curve = {"epoch": [1, 2], "test_accuracy": [50.0, 60.0], "test_silence": [5.0, 1.0],
             "train_correct": [40.0, 55.0], "train_silence": [9.0, 2.0]}
    rows = pd.DataFrame(conv_stdp.metric_table({"test_accuracy_per_seed": {"1": curve}, "classes": [0, 1]}))
    accuracy = rows[rows.metric == "test_accuracy_percent"]
    assert accuracy[["seed", "checkpoint", "value"]].values.tolist() == [[1, 1, 50.0], [1, 2, 60.0]]
    assert set(rows.checkpoint_unit) == {"epochs"} and len(rows) == 4 * 2
    task2 = {"epoch": [0, 1], "train_correct": [None, 70.0], "letters": [5.0, 80.0], "letters_silence": [0, 0],
             "digits": [90.0, 60.0], "digits_silence": [0, 0]}
    metrics = {"task1": {"r3_1": {"curves_per_seed": {"0": {"epoch": [1], "train_correct": [80.0], "digits": [91.0],
                                                             "digits_silence": [0.0]}}}},
               "task2": {"freeze": {"curves_per_seed": {"0": task2}, "task1_digits_per_seed": {"0": 91.0}}}}
    rows = pd.DataFrame(forgetting_conv.metric_table(metrics))
    digits = rows[(rows.metric == "test_accuracy_percent") & (rows.class_set == "digits")]
    assert digits[["phase", "variant", "checkpoint", "value"]].values.tolist() == [
        ["task1", "r3_1", 1, 91.0], ["task2", "freeze", 0, 90.0], ["task2", "freeze", 1, 60.0]]
    assert rows[rows.metric == "forgetting_points"].value.tolist() == [31.0]
    assert np.isnan(rows[(rows.metric == "train_correct_percent") & (rows.checkpoint == 0)].value).all()


def test_every_study_writes_the_long_table():
    """No study is left out: each one's run writes metrics_long through its metric_table."""
    from bioplastic.studies import STUDIES, study_module
    for name in STUDIES:
        module = study_module(name)
        assert callable(getattr(module, "metric_table", None)), name
        assert "write_metrics_long" in (REPO / "bioplastic" / "studies" / f"{name}.py").read_text(), name


# ------------------------------------------------------------------ the other dense studies, tiny

SMALL = ["device.name=runtime", "device.target=numpy", "seeds=[0]", "data.verify=false", "data.n_train=12",
         "protocol.image_duration=100 ms"]


def test_pruning_run_folder_holds_weights_and_spike_counts(bar_digits):  # noqa: F811
    out = bar_digits / "pruning"
    assert cli.main(["run", str(REPO / "experiments" / "use_it_or_lose_it.yaml"), *SMALL, "data.classes=[0,1]",
                     "pruning_study.untrained_classes=[2]", "pruning_study.n_probe=6",
                     "network.layers.exc.n_per_class=2", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    rows = pd.read_csv(out / "metrics_long.csv")
    with xr.open_dataset(out / "weights.nc") as arrays, xr.open_dataset(out / "spike_counts.nc") as counts:
        assert arrays["input_to_exc"].dims == ("variant", "seed", "snapshot", "input", "exc")
        assert list(arrays.variant.values) == list(metrics["variants"])
        assert arrays["n_images"].values.tolist() == [[0, 12]] * 4
        assert counts["spikes"].dims == ("variant", "test_set", "seed", "exc")
        for name, v in metrics["variants"].items():
            for test_set, per_seed in v["total_spikes_per_seed"].items():
                assert counts["spikes"].sel(variant=name, test_set=test_set).sum("exc").values.tolist() == per_seed
                own = rows[(rows.variant == name) & (rows.class_set == test_set)]
                assert own.value.tolist() == per_seed and own.metric.tolist() == ["excitatory_spikes"]
            final = arrays["input_to_exc"].sel(variant=name).isel(snapshot=-1).values
            assert (final < 1e-3).mean() == pytest.approx(v["pruned_fraction_mean"])
    assert (out / "weights_one_neuron.png").stat().st_size > 0


def test_unsupervised_run_folder_holds_the_trained_network(bar_digits):  # noqa: F811
    out = bar_digits / "dc"
    assert cli.main(["run", str(REPO / "experiments" / "diehl_cook_2015.yaml"), *SMALL, "data.classes=[0,1,2]",
                     "data.n_test=12", "unsupervised.n_label=12", "network.layers.exc.size=6",
                     "protocol.repeat.max_repeats=1", "evaluation.batch_size=12", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    v = metrics["variants"]["default"]
    rows = pd.read_csv(out / "metrics_long.csv", dtype={"class_set": str})
    accuracy = rows[rows.metric == "test_accuracy_percent"]
    assert accuracy.value.tolist() == v["accuracy_per_seed"]["0"] and set(accuracy.class_set) == {"0,1,2"}
    assert accuracy.checkpoint_unit.tolist() == ["presentations"]
    with xr.open_dataset(out / "weights.nc") as arrays:
        assigned = arrays["exc_assigned_class"].sel(variant="default", seed=0).values
        assert arrays["exc_assigned_class"].dims == ("variant", "seed", "exc")
        assert [(assigned == c).sum() for c in range(3)] == v["neurons_per_class"][0]
        assert arrays["input_to_exc"].sizes["snapshot"] == 2 and "exc.theta" in arrays
    assert (out / "weights_default.png").stat().st_size > 0 and not list(out.glob("*.npz"))


def test_stage_files_round_trip_with_bool_maps_bit_packed(tmp_path):
    rng = np.random.default_rng(0)
    fired = rng.random((5, 37)) < 0.4                      # 37: not a multiple of 8
    steps = rng.integers(-1, 15, (5, 37)).astype(np.int8)
    path = tmp_path / "units" / "stage.npz"
    write_arrays(path, {"epoch": 3, "rule": {"a": 0.5}}, fired=fired, steps=steps)
    meta, arrays = read_arrays(path)
    assert meta == {"epoch": 3, "rule": {"a": 0.5}}
    np.testing.assert_array_equal(arrays["fired"], fired)
    np.testing.assert_array_equal(arrays["steps"], steps)
    assert arrays["fired"].dtype == bool and arrays["steps"].dtype == np.int8
    with np.load(path) as raw:
        assert raw["fired"].shape == (5, 5)                # stored as bits
    assert [p.name for p in path.parent.iterdir()] == ["stage.npz"]     # no temporary file left


def test_an_interrupted_json_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    write_json(path, {"epoch": 1})

    def killed(*_):
        raise KeyboardInterrupt
    monkeypatch.setattr("bioplastic.results.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"epoch": 2})
    assert json.loads(path.read_text()) == {"epoch": 1}


# ------------------------------------------------------------------ the runs kept in git (runs/)


def test_the_runs_kept_in_git_load_and_their_tables_and_rows_are_their_numbers():
    """Every folder in runs/ is a finished run that `bioplastic report`, `plot` and `merge` read,
    and its table.md and metrics_long.csv are what its metrics.json says (a change of the study's
    tables that would leave them stale fails here: regenerate them with `bioplastic report`)."""
    from bioplastic.results import load_run
    from bioplastic.studies import study_module

    kept = sorted(p for p in (REPO / "runs").iterdir() if (p / "config.yaml").exists())
    assert kept, "runs/ holds no run folder"
    for folder in kept:
        config, metrics = load_run(folder)
        study = study_module(config["study"])
        assert (folder / "table.md").read_text() == study.markdown_table(metrics), folder.name
        rows = pd.read_csv(folder / "metrics_long.csv")
        expected = pd.DataFrame(study.metric_table(metrics))
        assert len(rows) == len(expected) and np.allclose(rows.value, expected.value, equal_nan=True), folder.name
        provenance = json.loads((folder / "provenance.json").read_text())
        assert provenance["status"] == "complete" and provenance["versions"].get("git_commit"), folder.name
        assert {r["path"] for r in provenance["data_files"]} >= {"mnist/train-images-idx3-ubyte.gz"}, folder.name
        assert folder.name in (REPO / "runs" / "README.md").read_text(), f"runs/README.md does not list {folder.name}"
