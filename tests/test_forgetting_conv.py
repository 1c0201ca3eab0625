"""The reference's forgetting study on the convolutional network (``forgetting_conv``):
task-2 data as stated, protections that hold on the decision layer, the Langevin noise's
sigma, bad configurations refused before computation, and the quick variant end to end."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_conv_stdp import interrupt_decision_epoch, small_spec

from bioplastic.config import load_config
from bioplastic.errors import ConfigError
from bioplastic.network.decision import DecisionLayer
from bioplastic.protections import freeze_above_quantile, hyndman_fan_quantiles
from bioplastic.results import read_arrays, write_arrays
from bioplastic.studies import conv_stdp, forgetting_conv

EXPERIMENT = "experiments/forgetting_conv.yaml"
LETTERS = ("a", "b", "d", "e", "g", "h", "n", "q", "r", "s")


def _binary_inputs(layer, n, seed=0, p=0.5):
    rng = np.random.default_rng(seed)
    return rng.random((n, int(np.prod(layer.in_shape)))) < p, rng.integers(0, 2, n)


def test_task_2_is_the_reference_letter_subset_on_the_digit_labels_and_upright(real_data):
    config = load_config(EXPERIMENT)
    spec, _, letters, letters_test = conv_stdp.prepare(forgetting_conv._task_config(config, 2))
    assert letters.class_names == LETTERS and spec.n_classes == 10
    for split in (letters, letters_test):           # letter k is taught on digit k's decision maps
        assert sorted(np.unique(split.labels)) == list(range(10))
    for letter, stroke in (("b", "left"), ("h", "left"), ("d", "right")):
        mean = letters.images[letters.labels == LETTERS.index(letter)].mean(0)
        columns, rows = mean.mean(0), mean.mean(1)
        # upright: the letter's vertical stroke is a bright column (transposed, it would be a row)
        assert columns.max() > rows.max(), letter
        assert (np.argmax(columns) < 14) == (stroke == "left"), letter      # and not mirrored
    # the balanced counts of the reference: 2,400 / 400 per class
    train_idx, test_idx = forgetting_conv._samples(forgetting_conv._task_config(config, 2), letters, letters_test, 0)
    assert np.bincount(letters.labels[train_idx]).tolist() == [2400] * 10
    assert np.bincount(letters_test.labels[test_idx]).tolist() == [400] * 10


def test_frozen_weights_do_not_move_and_the_others_learn_during_task_2():
    spec = small_spec()
    rng = np.random.default_rng(1)
    weights = rng.uniform(0.2, 0.8, (4, 6, 3, 3))
    layer = DecisionLayer(spec, weights, spec.projections["s3"].rule)
    mask = freeze_above_quantile(weights, 0.1)
    assert abs((1 - mask.mean()) - 0.1) < 0.01
    layer.protect(plastic=mask)
    fired, labels = _binary_inputs(layer, 200)
    before = layer.weights.copy()
    for _ in range(3):
        layer.train_epoch(fired, labels, rng.permutation(len(labels)))
    frozen = mask.reshape(before.shape) == 0
    assert np.array_equal(layer.weights[frozen], before[frozen])
    assert np.mean(layer.weights[~frozen] != before[~frozen]) > 0.5


def test_every_weight_stays_within_its_own_range_during_task_2():
    spec = small_spec()
    rng = np.random.default_rng(2)
    weights = rng.uniform(0.3, 0.7, (4, 6, 3, 3))
    low, high = weights - rng.uniform(0, 0.02, weights.shape), weights + rng.uniform(0, 0.02, weights.shape)
    layer = DecisionLayer(spec, weights, spec.projections["s3"].rule)
    layer.protect(bounds=(low, high))
    fired, labels = _binary_inputs(layer, 200, seed=3)
    for _ in range(3):
        layer.train_epoch(fired, labels, rng.permutation(len(labels)))
    w = layer.weights.reshape(weights.shape)
    assert np.all(w >= low - 1e-12) and np.all(w <= high + 1e-12)
    at_bound = np.isclose(w, low) | np.isclose(w, high)
    assert at_bound.mean() > 0.15                     # the rule pushed many weights to their range's edges
    assert np.array_equal(layer.weights32, layer.weights.astype(np.float32))


def test_task_2_trains_the_carried_layer_at_task_2_rates_or_for_fresh_a_new_one_that_never_saw_a_digit():
    spec = small_spec()
    carried = np.random.default_rng(3).uniform(0.3, 0.7, (4, 6, 3, 3))
    f = {"adapt_once_per_epoch": True, "task2_adaptive_int": 0.5}
    layer = forgetting_conv.task2_layer(spec, carried, 100, f, "freeze", seed=7)
    np.testing.assert_array_equal(layer.weights, carried.reshape(4, -1))
    assert layer.rule.adaptive_int == 0.5 and layer.rule.adapt_every == 100 and layer.clamped
    fresh = forgetting_conv.task2_layer(spec, carried, 100, f, "fresh", seed=7)
    np.testing.assert_array_equal(fresh.weights, spec.initial_weights(7)["s3"].reshape(4, -1))
    assert fresh.rule.adaptive_int == spec.projections["s3"].rule.adaptive_int != 0.5 and not fresh.clamped


def test_the_fresh_layer_has_no_task_1_and_no_forgetting_in_the_table_numbers_and_figure(tmp_path):
    """A layer that never learnt the digits gets no task-1 accuracy or forgetting (its digit
    accuracy is the letters' labels by chance), in metrics, table.md, metrics_long and the figure."""
    curve = {"epoch": [0, 1], "letters": [10.0, 80.0], "digits": [9.0, 8.0], "letters_silence": [0.0, 0.0],
             "digits_silence": [0.0, 0.0], "train_correct": [None, 70.0], "train_silence": [None, 0.0]}
    first = [{"seed": 0, "radii": [5, 2], "carried_accuracy": 95.0, "curve": {
        "epoch": [1], "digits": [95.0], "digits_silence": [0.0], "train_correct": [90.0], "train_silence": [0.0]}}]
    second = [{"seed": 0, "variant": v, "radii": [5, 2], "curve": dict(curve, digits=d)}
              for v, d in (("r5_2", [95.0, 70.0]), ("fresh", [9.0, 8.0]))]
    config = load_config(EXPERIMENT, ["forgetting.radii=[[5,2]]", "forgetting.protected_radii=[5,2]"])
    metrics = forgetting_conv.summarize(first, second, config)
    assert metrics["task2"]["r5_2"]["forgetting"] == [25.0, 0.0]
    assert metrics["task2"]["fresh"]["forgetting"] is None and metrics["task2"]["fresh"]["task1_digits"] is None
    assert "| fresh | 5, 2 |  | 80.0 ± 0.0 | 8.0 ± 0.0 |  |" in forgetting_conv.markdown_table(metrics)
    forgetting = [r for r in forgetting_conv.metric_table(metrics) if r["metric"] == "forgetting_points"]
    assert [(r["variant"], r["value"]) for r in forgetting] == [("r5_2", 25.0)]
    forgetting_conv.plot(metrics, config, tmp_path)
    assert (tmp_path / "forgetting_conv.png").stat().st_size > 0


def _seed_results(seed, variants, rng):
    """Task results of one seed as :func:`forgetting_conv.task1` / ``task2_decision`` return them."""
    def curve(n, keys):
        return {"epoch": list(range(n)), **{k: rng.uniform(0, 100, n).round(1).tolist() for k in keys}}
    first = [{"seed": seed, "radii": [5, 2], "carried_accuracy": 95.0 + seed, "carried_epoch": 3,
              "curve": curve(4, ("digits", "digits_silence", "train_correct", "train_silence"))}]
    second = [{"seed": seed, "variant": v, "radii": [5, 2],
               "curve": curve(3, ("letters", "digits", "letters_silence", "digits_silence", "train_correct",
                                  "train_silence")), **({"frozen_fraction": 0.1 + seed / 100} if v == "freeze" else {})}
              for v in variants]
    return first, second


def _finished_run(folder, config, first, second):
    from bioplastic.config import dump
    from bioplastic.results import write_json

    folder.mkdir()
    (folder / "config.yaml").write_text(dump(config))
    metrics = forgetting_conv.summarize(first, second, config)
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "provenance.json", {"status": "complete", "wall_time_s": 60.0, "data_files": [
        {"root": "data", "path": "mnist/train-images-idx3-ubyte.gz", "sha256": "ab"}]})
    return metrics


def test_runs_of_other_seeds_merge_into_the_run_that_ran_them_together(tmp_path, capsys):
    """``bioplastic merge``: seed 0 with a protection, seed 1 without it, pooled, give the numbers
    that one run of both seeds gives (every table, curve and per-seed number), and what stands in
    the way of pooling is refused with what to do."""
    from bioplastic import cli
    from bioplastic.results import load_run

    rng = np.random.default_rng(0)
    (f0, s0), (f1, s1) = _seed_results(0, ("r5_2", "freeze"), rng), _seed_results(1, ("r5_2",), rng)
    base = ["forgetting.radii=[[5,2]]", "forgetting.protected_radii=[5,2]"]
    config0 = load_config(EXPERIMENT, [*base, "seeds=[0]", "forgetting.protections=[freeze]"])
    config1 = load_config(EXPERIMENT, [*base, "seeds=[1]", "forgetting.protections=[]", "workers=2"])
    _finished_run(tmp_path / "seed0", config0, f0, s0)
    _finished_run(tmp_path / "seed1", config1, f1, s1)
    out = tmp_path / "both"
    assert cli.main(["merge", str(tmp_path / "seed0"), str(tmp_path / "seed1"), "--out", str(out)]) == 0
    config, metrics = load_run(out)
    together = load_config(EXPERIMENT, [*base, "seeds=[0,1]", "forgetting.protections=[freeze]"])
    expected = forgetting_conv.summarize(f0 + f1, s0 + s1, together)
    assert config == together
    assert metrics == json_roundtrip(expected)
    assert metrics["task2"]["r5_2"]["task2_digits"][1] > 0 and metrics["task2"]["freeze"]["frozen_fraction_per_seed"] \
        == {"0": 0.1}
    table = (out / "table.md").read_text()
    assert "| r5_2 | 5, 2 |" in table and table.splitlines()[2].endswith("| 2 |")    # seeds per row
    assert table.splitlines()[3].startswith("| freeze |") and table.splitlines()[3].endswith("| 1 |")
    assert (out / "forgetting_conv.png").stat().st_size > 0 and (out / "metrics_long.csv").exists()
    provenance = __import__("json").loads((out / "provenance.json").read_text())
    assert [s["folder"] for s in provenance["merged_from"]] == [str(tmp_path / "seed0"), str(tmp_path / "seed1")]
    assert provenance["status"] == "complete" and len(provenance["data_files"]) == 1
    # a merged run merges again: adding a third seed gives the three seeds' numbers
    f2, s2 = _seed_results(2, ("r5_2",), rng)
    _finished_run(tmp_path / "seed2", load_config(EXPERIMENT, [*base, "seeds=[2]"]), f2, s2)
    assert cli.main(["merge", str(out), str(tmp_path / "seed2"), "--out", str(tmp_path / "three")]) == 0
    _, three = load_run(tmp_path / "three")
    assert three == json_roundtrip(forgetting_conv.summarize(f0 + f1 + f2, s0 + s1 + s2, load_config(
        EXPERIMENT, [*base, "seeds=[0,1,2]", "forgetting.protections=[freeze]"])))
    capsys.readouterr()

    # the same seed of a variant with the same numbers (a run repeated for other variants) is taken once:
    # seed 0's freeze beside a repeat of its unprotected (5, 2) alone gives seed 0's run
    repeat = tmp_path / "seed0_repeat"
    _finished_run(repeat, load_config(EXPERIMENT, [*base, "seeds=[0]", "forgetting.protections=[]"]),
                  f0, [r for r in s0 if r["variant"] == "r5_2"])
    assert cli.main(["merge", str(tmp_path / "seed0"), str(repeat), "--out", str(tmp_path / "once")]) == 0
    assert load_run(tmp_path / "once")[1] == load_run(tmp_path / "seed0")[1]
    differs = tmp_path / "seed0_differs"
    shifted = [{**r, "curve": {**r["curve"], "letters": [x + 1 for x in r["curve"]["letters"]]}} for r in s0]
    _finished_run(differs, config0, f0, shifted)
    refused = (([tmp_path / "seed0", differs], "seed 0 of r5_2 is in both"),
               ([tmp_path / "seed1"], "give at least two"))
    for folders, message in refused:
        assert cli.main(["merge", *map(str, folders), "--out", str(tmp_path / "no")]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "no").exists()
    other = tmp_path / "other"
    _finished_run(other, load_config(EXPERIMENT, [*base, "seeds=[3]", "task2.epochs.s3=7"]),
                  *_seed_results(3, ("r5_2",), rng))
    assert cli.main(["merge", str(tmp_path / "seed0"), str(other), "--out", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "ran different protocols" in err and "task2.epochs.s3 is 7 there" in err and not (tmp_path / "no").exists()
    assert cli.main(["merge", str(tmp_path / "seed2"), str(tmp_path / "seed1"), "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err


def json_roundtrip(value):
    import json

    from bioplastic.results import to_jsonable
    return json.loads(json.dumps(to_jsonable(value)))


def _decision_run(stop_at=None, checkpoint=None):
    """Four epochs of a small decision layer, tested on two sets before the first and after each, the
    best "held" epoch kept; with ``stop_at``, interrupted during that epoch (KeyboardInterrupt)."""
    spec = small_spec()
    layer = DecisionLayer(spec, np.random.default_rng(4).uniform(0.3, 0.7, (4, 6, 3, 3)), spec.projections["s3"].rule)
    fired, labels = _binary_inputs(layer, 120, seed=5)
    tests = {"held": _binary_inputs(layer, 40, seed=6), "other": _binary_inputs(layer, 40, seed=7)}
    if stop_at:
        real, calls = layer.train_epoch, []

        def train_epoch(*args, **kwargs):
            calls.append(1)
            if len(calls) == stop_at:
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        layer.train_epoch = train_epoch
    rng = np.random.default_rng(8)
    run = conv_stdp.decision_epochs(layer, fired, labels, tests, 4, rng, "test", test_first=True, keep_best="held",
                                    checkpoint=checkpoint)
    return run, layer


def test_decision_epochs_resume_after_an_interruption_with_the_same_curve_best_state_and_weights(tmp_path):
    """The loop shared by conv_stdp and both tasks of forgetting_conv: stopped during epoch 3, the
    rerun continues from the checkpoint and ends exactly where an uninterrupted run ends, the state
    kept at the best tested epoch included."""
    whole, whole_layer = _decision_run()
    assert whole.curve["epoch"] == [0, 1, 2, 3, 4] and whole.curve["train_correct"][0] is None
    assert whole.best["epoch"] == whole.curve["epoch"][int(np.argmax(whole.curve["held"]))]
    checkpoint = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        _decision_run(stop_at=3, checkpoint=checkpoint)
    assert checkpoint.exists()
    resumed, layer = _decision_run(checkpoint=checkpoint)
    assert resumed.curve == whole.curve and resumed.best["epoch"] == whole.best["epoch"]
    np.testing.assert_array_equal(resumed.best["weights"], whole.best["weights"])
    np.testing.assert_array_equal(layer.weights, whole_layer.weights)
    assert layer.rule == whole_layer.rule


def test_a_decision_checkpoint_of_the_earlier_format_is_resumed(tmp_path):
    """conv_stdp's checkpoints written before the shared loop (weights under ``w_s3``, curve keys
    ``test_accuracy``/``test_silence``) are converted, not refused or silently restarted."""
    spec = small_spec()
    layer = DecisionLayer(spec, np.random.default_rng(4).uniform(0.3, 0.7, (4, 6, 3, 3)), spec.projections["s3"].rule)
    fired, labels = _binary_inputs(layer, 120, seed=5)
    tests = {"test": _binary_inputs(layer, 40, seed=6)}
    whole = conv_stdp.decision_epochs(layer, fired, labels, tests, 3, np.random.default_rng(8), "whole")
    checkpoint = tmp_path / "checkpoint_decision_seed0.npz"
    first = DecisionLayer(spec, np.random.default_rng(4).uniform(0.3, 0.7, (4, 6, 3, 3)), spec.projections["s3"].rule)
    conv_stdp.decision_epochs(first, fired, labels, tests, 1, np.random.default_rng(8), "one", checkpoint=checkpoint)
    meta, arrays = read_arrays(checkpoint)
    curve = meta["curve"]
    legacy = {key: meta[key] for key in ("epoch", "spent", "rule", "clamped", "rng")}
    legacy["curve"] = {"epoch": curve["epoch"], "test_accuracy": curve["test"], "test_silence": curve["test_silence"],
                       "train_correct": curve["train_correct"], "train_silence": curve["train_silence"]}
    checkpoint.unlink()
    write_arrays(checkpoint, legacy, w_s3=arrays["weights"])
    conv_stdp._upgrade_checkpoint(checkpoint, "s3")
    resumed_layer = DecisionLayer(spec, np.zeros((4, 6, 3, 3)), spec.projections["s3"].rule)
    resumed = conv_stdp.decision_epochs(resumed_layer, fired, labels, tests, 3, np.random.default_rng(0), "resumed",
                                        checkpoint=checkpoint)
    assert resumed.curve == whole.curve
    np.testing.assert_array_equal(resumed_layer.weights, layer.weights)


def test_an_interrupted_task_1_resumes_without_training_s1_s2_again_and_ends_as_an_uninterrupted_one(
        real_data, tmp_path, monkeypatch):
    overrides = ["forgetting.radii=[[3,1]]", "data.n_train=100", "data.n_test=40", "conv.epochs.s3=3"]
    full = load_config(EXPERIMENT, overrides, quick=True)
    config, stdp_config = forgetting_conv.stage_config(full, 1), forgetting_conv.stage_config(full, 0)
    for name in ("whole", "stopped"):
        (tmp_path / name / "units").mkdir(parents=True)
    forgetting_conv.task1_features((stdp_config, 0, [3, 1], tmp_path / "whole"))
    whole = forgetting_conv.task1((config, 0, [3, 1], tmp_path / "whole"))
    stdp = forgetting_conv.task1_features((stdp_config, 0, [3, 1], tmp_path / "stopped"))
    undo = interrupt_decision_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        forgetting_conv.task1((config, 0, [3, 1], tmp_path / "stopped"))
    undo()
    monkeypatch.setattr(conv_stdp, "train_feature_layers", lambda *a, **k: pytest.fail("S1/S2 trained again"))
    assert forgetting_conv.task1_features((stdp_config, 0, [3, 1], tmp_path / "stopped")) == json_roundtrip(stdp)
    resumed = forgetting_conv.task1((config, 0, [3, 1], tmp_path / "stopped"))
    assert resumed["curve"] == whole["curve"] and resumed["carried_epoch"] == whole["carried_epoch"]
    _, kept = read_arrays(tmp_path / "stopped" / "units" / "task1_seed0_r3_1.npz")
    _, expected = read_arrays(tmp_path / "whole" / "units" / "task1_seed0_r3_1.npz")
    for key in expected:
        np.testing.assert_array_equal(kept[key], expected[key], err_msg=key)
    assert not list((tmp_path / "stopped" / "units").glob("checkpoint_*"))
    assert (tmp_path / "stopped" / "units" / "task1_features_seed0_r3_1.npz").exists()      # task 2 starts from it
    assert not [key for key in kept if key.startswith(("w_", "fired_"))]       # held by the features unit alone


def test_task_1_is_read_whole_from_its_two_units_and_from_the_one_unit_of_runs_before_the_split(tmp_path):
    rng = np.random.default_rng(0)
    fired = {f"fired_{k}": rng.random((n, 7)) < 0.3 for k, n in (("train", 5), ("test", 3))}
    stdp = {"w_s1": rng.random((2, 3)), "w_s2": rng.random((4, 2))}
    decision, initial = rng.random((10, 7)), rng.random((10, 7))
    layouts = {"split": {"task1_features": {**stdp, "w_s3": initial, **fired}, "task1": {"decision": decision}},
               "before": {"task1": {**stdp, "decision": decision, **fired}}}
    for name, units in layouts.items():
        for unit, arrays in units.items():
            write_arrays(tmp_path / name / "units" / f"{unit}_seed0_r5_2.npz", {"rule": {"a": 1}}, **arrays)
        meta, unit = forgetting_conv._task1_unit(tmp_path / name, 0, [5, 2])
        assert meta["rule"] == {"a": 1}, name
        np.testing.assert_array_equal(unit["decision"], decision)
        for key, value in fired.items():
            np.testing.assert_array_equal(unit[key], value, err_msg=f"{name} {key}")
        weights = forgetting_conv._stage_weights(tmp_path / name, "task1", 0, [5, 2], "s3")
        assert sorted(weights) == ["s1", "s2", "s3"], name
        np.testing.assert_array_equal(weights["s3"], decision, err_msg=name)   # the carried layer, not the initial one
        np.testing.assert_array_equal(weights["s2"], stdp["w_s2"], err_msg=name)


def test_langevin_noise_has_the_configured_sigma():
    """With zero learning rates the weights only receive the noise: between two consecutive
    snapshots (one image) each weight moves by one N(0, sigma) draw."""
    spec = small_spec()
    rule = {"a_plus_reward": 0.0, "a_minus_reward": 0.0, "a_plus_punish": 0.0, "a_minus_punish": 0.0}
    layer_shape = (4, 6, 3, 3)
    n = 300
    fired = np.ones((n, 6 * 2 * 2), bool)               # every input fired: positive potentials, no silence
    unit1 = {"fired_train": fired, "labels_train": np.arange(n) % 2, "decision": np.full(layer_shape, 0.5)}
    sigma = 4e-4
    lang = {"sigma": sigma, "epochs": 1, "snapshot_every": 1, "adaptive_int": 0.5}
    layer, snapshots, scale = forgetting_conv.langevin_phase(spec, unit1, rule, lang, np.random.default_rng(0))
    assert len(snapshots) == n
    steps = np.diff(snapshots.astype(np.float64), axis=0) / scale
    assert steps.std() == pytest.approx(sigma, rel=0.03)
    assert abs(steps.mean()) < 0.1 * sigma
    # and the ranges of a random walk widen with its length: the D10-D90 range contains the Q1-Q3 range
    q = hyndman_fan_quantiles(snapshots, [0.1, 0.25, 0.75, 0.9])
    assert np.all(q[0] <= q[1]) and np.all(q[2] <= q[3]) and np.all(q[3] - q[0] > 0)


@pytest.mark.parametrize("override, message", [
    ("forgetting.radii=[[3],[3,1]]", "forgetting.radii must be a list of \\[s1, s2\\]"),
    ("forgetting.radii=[[3,-1]]", "forgetting.radii.0.1: Input should be greater than or equal to 0"),
    ("forgetting.protected_radii=[7,7]", "must be one of forgetting.radii"),
    ("forgetting.protections=[freze]", "forgetting.protections.0: Input should be 'freeze', 'langevin'"),
    ("forgetting.task1_state=final", "forgetting.task1_state: Input should be 'best' or 'last'"),
    ("forgetting.freeze_fraction=1.5", "forgetting.freeze_fraction: Input should be less than or equal to 1"),
    ("forgetting.langevin.snapshot_every=0", "snapshot_every: Input should be greater than or equal to 1"),
    ("forgetting.langevin.ranges.q1_q3=[0.75,0.25]", "q1_q3 must be \\[low, high\\] quantiles"),
    ("task2.epochs.c1=3", "task2.epochs must give"),
    ("task2.classes=[a,b,d]", "must have the same length|classes"),
])
def test_bad_forgetting_configs_are_refused_before_any_computation(real_data, override, message):
    """Types and ranges when the config is read (the schema), rules joining sections in the study."""
    with pytest.raises(ConfigError, match=message):
        forgetting_conv.check(load_config(EXPERIMENT, [override]))


def test_a_langevin_phase_whose_snapshots_would_not_fit_in_memory_is_refused_with_what_fits(real_data):
    """The reference's ~24 noisy epochs with a snapshot every 100 images: 5,760 snapshots of the
    1,250,000 decision weights, 14 GiB; refused before anything runs, with a snapshot_every that fits."""
    import re
    config = load_config(EXPERIMENT, ["forgetting.langevin.epochs=24"])
    spec, *_ = conv_stdp.prepare(forgetting_conv._task_config(config, 1))
    with pytest.raises(ConfigError, match="5,760 snapshots of 1,250,000 decision weights") as refused:
        forgetting_conv.check_snapshot_memory(spec, config, available=8 * 2**30)
    every = int(re.search(r"snapshot_every=(\d+)", str(refused.value)).group(1))
    config["forgetting"]["langevin"]["snapshot_every"] = every
    forgetting_conv.check_snapshot_memory(spec, config, available=8 * 2**30)
    config["forgetting"]["langevin"]["snapshot_every"] = every - 1
    with pytest.raises(ConfigError):
        forgetting_conv.check_snapshot_memory(spec, config, available=8 * 2**30)


def test_on_a_scheduler_the_snapshots_are_checked_against_its_workers_memory_not_this_machines(real_data):
    """4 noisy epochs, a snapshot every 100 images: 960 snapshots, about 2.2 GiB. This machine
    holds them; a scheduler whose workers have 1 GiB each does not, and says so before anything runs."""
    from bioplastic.sweep.clusters import local_cluster, worker_memory
    overrides = ["forgetting.protections=[langevin]", "forgetting.langevin.epochs=4",
                 "forgetting.langevin.snapshot_every=100"]
    spec, *_ = conv_stdp.prepare(forgetting_conv._task_config(load_config(EXPERIMENT), 1))
    forgetting_conv.check_snapshot_memory(spec, load_config(EXPERIMENT, overrides), available=4 * 2**30)
    with local_cluster(n_workers=1, threads_per_worker=1, memory_limit="1GiB") as cluster:
        assert worker_memory(cluster.scheduler_address) == 2**30
        with pytest.raises(ConfigError, match=r"960 snapshots.*more than the 1\.0 GiB"):
            forgetting_conv.check(load_config(EXPERIMENT, [*overrides, f"scheduler={cluster.scheduler_address}"]))
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        worker_memory("tcp://127.0.0.1:9", timeout="2s")


@pytest.mark.slow   # minutes on 2 cores: `make test-slow` (CI runs it)
def test_quick_variant_learns_task_1_and_records_task_2_letters_and_digits(real_data, tmp_path):
    config = load_config(EXPERIMENT, ["forgetting.radii=[[3,1]]",
                                      "forgetting.protections=[freeze,langevin,fresh]"], quick=True)
    metrics = forgetting_conv.run(config, tmp_path)
    task1 = metrics["task1"]["r3_1"]
    assert task1["carried_mean_std"][0] > 50                 # chance: 10 %; measured 82.5
    assert task1["curve_mean"][-1] > task1["curve_mean"][0]  # the decision layer learns the digits
    n_epochs = config["task2"]["epochs"]["s3"]
    assert metrics["epochs"] == list(range(n_epochs + 1))    # epoch 0: before task-2 decision training
    table = metrics["task2"]
    assert set(table) == {"r3_1", "freeze", "langevin_q1_q3", "langevin_d10_d90", "fresh"}
    for row in table.values():
        assert len(row["digits_curve"]["mean"]) == len(row["letters_curve"]["mean"]) == n_epochs + 1
        assert 0 <= row["task2_digits"][0] <= 100 and row["task2_letters"][0] > 10
    assert 0.05 < table["freeze"]["frozen_fraction"][0] <= 0.1
    fresh = table["fresh"]["letters_curve"]["mean"]        # a new decision layer: chance, then the letters
    assert fresh[0] < 20 < fresh[-1]
    rows = pd.read_parquet(tmp_path / "metrics_long.parquet")
    accuracy = rows[rows.metric == "test_accuracy_percent"]
    assert len(accuracy) == len(task1["curve_mean"]) + 5 * 2 * (n_epochs + 1)
    assert accuracy[accuracy.phase == "task1"].value.tolist() == task1["curves_per_seed"]["0"]["digits"]
    for name in ("forgetting_conv.png", "table.md", "metrics_long.csv", "weights.nc"):
        assert (tmp_path / name).exists(), name
    with xr.open_dataset(tmp_path / "weights.nc") as weights:
        assert weights["s3"].dims == ("radii", "seed", "s3_map", "s3_channel", "s3_ky", "s3_kx")
        assert list(weights.phase.values) == ["task1", "task2_letters"]
    assert "| freeze | 3, 1 |" in (tmp_path / "table.md").read_text()
    assert not list((tmp_path / "units").glob("checkpoint_*"))       # per-epoch checkpoints end with their task


def test_a_run_goes_seed_after_seed_and_shows_the_finished_seeds_while_it_goes_on(real_data, tmp_path, monkeypatch):
    """Every stage of seed 0 before any of seed 1; when seed 1 is interrupted, interim/ holds seed
    0's table, numbers and figure, marked interim. (The stages are stand-ins here: what is tested
    is the order and what is written between seeds.)"""
    calls = []
    curve1 = {"epoch": [1, 2], "digits": [60.0, 70.0], "digits_silence": [0.0, 0.0],
              "train_correct": [50.0, 60.0], "train_silence": [0.0, 0.0]}

    def stdp(task):
        calls.append(("stdp", task[1]))
        return {"seed": task[1], "radii": list(task[2]), "timings": {}, "stdp": {}}

    def task1(task):
        _, seed, radii, _ = task
        calls.append(("task1", seed))
        if seed == 1:
            raise KeyboardInterrupt
        return {"seed": seed, "radii": list(radii), "curve": curve1, "carried_epoch": 2, "carried_accuracy": 70.0,
                "timings": {}, "stdp": {}}

    def features(task):
        calls.append(("features", task[1]))
        return {"seed": task[1], "radii": task[2], "training_set": task[3], "timings": {}}

    def decision(task):
        _, seed, variant, radii, _ = task
        calls.append(("decision", seed))
        curve = {"epoch": [0, 1], "letters": [10.0, 55.0], "digits": [70.0, 50.0], "letters_silence": [0.0, 0.0],
                 "digits_silence": [0.0, 0.0], "train_correct": [None, 40.0], "train_silence": [None, 0.0]}
        return [{"seed": seed, "variant": variant, "radii": list(radii), "curve": curve}]
    monkeypatch.setattr(forgetting_conv, "task1_features", stdp)
    monkeypatch.setattr(forgetting_conv, "task1", task1)
    monkeypatch.setattr(forgetting_conv, "task2_features", features)
    monkeypatch.setattr(forgetting_conv, "task2_decision", decision)
    config = load_config(EXPERIMENT, ["seeds=[0,1]", "forgetting.radii=[[0,0],[3,1]]",
                                      "forgetting.protections=[]"], quick=True)
    with pytest.raises(KeyboardInterrupt):
        forgetting_conv.run(config, tmp_path)
    assert [stage for stage, seed in calls if seed == 0] == ["stdp", "task1"] * 2 + ["features"] * 2 + ["decision"] * 2
    assert calls[-2:] == [("stdp", 1), ("task1", 1)] and all(seed == 0 for _, seed in calls[:-2])
    interim = tmp_path / "interim"
    table = (interim / "table.md").read_text()
    assert table.startswith("Interim: seeds [0] of [0, 1]") and "| r3_1 | 3, 1 | 70.0 ± 0.0 | 55.0 ± 0.0 |" in table
    assert (interim / "forgetting_conv.png").stat().st_size > 0
    assert (interim / "metrics.json").exists() and (interim / "metrics_long.csv").exists()


def test_an_interrupted_study_resumes_with_other_protections_and_task_2_epochs_without_redoing_the_rest(
        real_data, tmp_path, monkeypatch, capsys):
    """`bioplastic run` over an interrupted OUT.partial with other protections keeps every finished
    task (task 1, the features, the decision of each variant kept); with more task-2 epochs it
    reruns the decision stage alone; any other change, or fewer task-2 epochs than a checkpoint
    holds, is refused before anything runs. (The stages are stand-ins: what is tested is what runs.)"""
    import json

    from bioplastic import cli

    calls, interrupt = [], {"freeze"}

    def stdp(task):
        calls.append(("stdp", tuple(task[2])))
        return {"seed": task[1], "radii": list(task[2]), "timings": {}, "stdp": {}}

    def task1(task):
        calls.append(("task1", tuple(task[2])))
        return {"seed": task[1], "radii": list(task[2]), "carried_epoch": 2, "carried_accuracy": 70.0,
                "timings": {}, "stdp": {}, "curve": {"epoch": [1, 2], "digits": [60.0, 70.0],
                                                     "digits_silence": [0.0, 0.0], "train_correct": [50.0, 60.0],
                                                     "train_silence": [0.0, 0.0]}}

    def features(task):
        calls.append(("features", task[3]))
        return {"seed": task[1], "radii": task[2], "training_set": task[3], "timings": {}}

    def decision(task):
        config, seed, variant, radii, _ = task
        calls.append(("decision", variant, config["task2"]["epochs"]["s3"]))
        if variant in interrupt:
            raise KeyboardInterrupt
        epochs = list(range(config["task2"]["epochs"]["s3"] + 1))
        curve = {"epoch": epochs, "letters": [50.0] * len(epochs), "digits": [65.0] * len(epochs),
                 "letters_silence": [0.0] * len(epochs), "digits_silence": [0.0] * len(epochs),
                 "train_correct": [None] + [40.0] * (len(epochs) - 1),
                 "train_silence": [None] + [0.0] * (len(epochs) - 1)}
        return [{"seed": seed, "variant": variant, "radii": list(radii), "curve": curve}]
    monkeypatch.setattr(forgetting_conv, "task1_features", stdp)
    monkeypatch.setattr(forgetting_conv, "task1", task1)
    monkeypatch.setattr(forgetting_conv, "task2_features", features)
    monkeypatch.setattr(forgetting_conv, "task2_decision", decision)
    monkeypatch.setattr(forgetting_conv, "save_arrays", lambda *a: None)      # the stand-ins write no stage files
    out = tmp_path / "study"
    base = ["run", EXPERIMENT, "--quick", "forgetting.radii=[[3,1]]", "--out", str(out)]
    assert cli.main([*base, "forgetting.protections=[freeze]"]) == 130
    assert calls == [("stdp", (3, 1)), ("task1", (3, 1)), ("features", "letters"), ("decision", "r3_1", 4),
                     ("decision", "freeze", 4)]
    calls.clear()
    interrupt = {"rehearsal"}
    assert cli.main([*base, "forgetting.protections=[freeze,rehearsal]"]) == 130     # r3_1's decision kept
    assert calls == [("features", "rehearsal"), ("decision", "freeze", 4), ("decision", "rehearsal", 4)]
    partial = out.with_name("study.partial")
    assert cli.main([*base, "forgetting.protections=[freeze]", "data.n_train=300"]) == 2  # not a resumable change
    assert "holds an interrupted run of another configuration" in capsys.readouterr().err
    write_arrays(partial / "units" / "checkpoint_task2_seed0_r3_1_rehearsal.npz", {"epoch": 3}, w=np.zeros(2))
    assert cli.main([*base, "forgetting.protections=[freeze,rehearsal]", "task2.epochs.s3=2"]) == 2
    assert "has trained more decision-layer epochs already (checkpoint_task2_seed0_r3_1_rehearsal.npz: 3)" in \
        capsys.readouterr().err
    calls.clear()
    interrupt = set()
    assert cli.main([*base, "forgetting.protections=[freeze,rehearsal]", "task2.epochs.s3=6"]) == 0
    assert calls == [("decision", v, 6) for v in ("r3_1", "freeze", "rehearsal")]       # task 1, features kept
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["resumed_with_change"] == "task2.epochs.s3: 4 -> 6"
    assert [a["status"] for a in provenance["earlier_attempts"]] == ["interrupted", "interrupted"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["task2"]) == {"r3_1", "freeze", "rehearsal"} and metrics["epochs"] == list(range(7))
    # A finished run extended by a seed (--extend): only seed 1's tasks run; the finished run stays
    # whole until the extended one is; a change no task survives is refused and leaves it as it was.
    calls.clear()
    final = [*base, "forgetting.protections=[freeze,rehearsal]", "task2.epochs.s3=6"]
    assert cli.main([*final, "--extend"]) == 2
    assert "has this config already: nothing to extend" in capsys.readouterr().err
    assert cli.main([*final, "data.n_train=300", "--extend"]) == 2
    assert "not one its study can add to a finished run" in capsys.readouterr().err
    assert calls == [] and not partial.exists() and json.loads((out / "metrics.json").read_text()) == metrics
    assert cli.main([*final, "seeds=[0,1]", "--extend"]) == 0
    assert calls == [("stdp", (3, 1)), ("task1", (3, 1)), ("features", "letters"), ("features", "rehearsal"),
                     *[("decision", v, 6) for v in ("r3_1", "freeze", "rehearsal")]]     # seed 1 only
    extended = json.loads((out / "provenance.json").read_text())
    assert extended["resumed_with_change"] == "seeds: [0] -> [0, 1]"
    assert [a["status"] for a in extended["earlier_attempts"]] == ["interrupted", "interrupted", "complete"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1] and set(metrics["task2"]["freeze"]["curves_per_seed"]) == {"0", "1"}
    assert not partial.exists() and not list(out.parent.glob(".study.replaced.*"))
