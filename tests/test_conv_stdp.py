"""The convolutional STDP network (Mozafari et al. 2019): spec checks, rules, and the two engines.

The Brian2 engine (every layer a NeuronGroup, every projection Synapses with kernels linked
through ``kidx``, competition as a network operation) is the reference; the vectorised
engine must give the same first spikes, winners and kernels, and the decision layer's
matrix products the same potentials as its Brian2 simulation.
"""
import copy

import brian2 as b2
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bioplastic.errors import ConfigError
from bioplastic.network import convfast
from bioplastic.network.convnet import conv_network_from_config
from bioplastic.network.convnet import LayerTraining
from bioplastic.network.convsim import ChainSimulation
from bioplastic.network.decision import DecisionLayer
from bioplastic.network.kernel_rules import KernelSTDP, RewardSTDP, stdp_step


def _layer(shape, thr, competition=None):
    return {"neuron": {"model": "if_first_spike", "parameters": {"v_thresh": thr}}, "inhibition": None,
            "shape": shape, "competition": competition}


def _proj(source, target, kind, k, stride=None, padding=0, rule=None, drop=False):
    return {"source": source, "target": target, "connectivity": kind, "kernel_size": k, "stride": stride,
            "padding": padding, "drop_remainder": drop, "plasticity": {"rule": rule} if rule else None}


SMALL = {
    "layers": {"s1": _layer([4, 10, 10], 3.0, {"k": 2, "radius": 1}), "c1": _layer([4, 5, 5], 0.0),
               "s2": _layer([6, 5, 5], 2.0, {"k": 3, "radius": 1}), "c2": _layer([6, 2, 2], 0.0),
               "s3": _layer([4, 2, 2], float("inf"))},
    "projections": {"a": _proj("input", "s1", "conv", 3, padding=1, rule="stdp_kernel"),
                    "b": _proj("s1", "c1", "max_pool", 2, 2),
                    "c": _proj("c1", "s2", "conv", 3, padding=1, rule="stdp_kernel"),
                    "d": _proj("s2", "c2", "max_pool", 2, 2, drop=True),
                    "e": _proj("c2", "s3", "conv", 3, padding=1, rule="rstdp")},
}


def small_spec(**changes):
    net = copy.deepcopy(SMALL)
    for path, value in changes.items():
        section, name, key = path.split(".")
        net[section][name][key] = value
    return conv_network_from_config(net, (2, 10, 10), 6, 2)


def random_latencies(n, shape=(2, 10, 10), n_steps=6, seed=0):
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, n_steps, size=(n, int(np.prod(shape))))
    return np.where(rng.random(steps.shape) < 0.5, steps, -1).astype(np.int8)


def interrupt_decision_epoch(monkeypatch, epoch: int):
    """Make the ``epoch``-th decision-layer epoch from now raise KeyboardInterrupt (Ctrl-C); returns
    a function that undoes it."""
    real_epoch, calls = DecisionLayer.train_epoch, []

    def train_epoch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real_epoch(self, *args, **kwargs)
    monkeypatch.setattr(DecisionLayer, "train_epoch", train_epoch)
    return lambda: monkeypatch.setattr(DecisionLayer, "train_epoch", real_epoch)


@pytest.fixture(autouse=True)
def runtime_dt():
    b2.defaultclock.dt = 1 * b2.ms
    yield


# --------------------------------------------------------------------------------------------- engines

def test_vectorized_engine_trains_exactly_like_brian2():
    """S1 then S2 trained image by image on both engines: the same winners and the same kernels."""
    spec, inputs = small_spec(), random_latencies(12)
    brian_w, fast_w = spec.initial_weights(3), spec.initial_weights(3)
    sim = ChainSimulation(spec, "input", "s1", brian_w)
    sim.training = brian_train = LayerTraining("s1", brian_w["s1"])
    sim.run(inputs, chunk=5)
    convfast.train_layer(spec, "s1", inputs, fast_train := LayerTraining("s1", fast_w["s1"]))
    assert brian_train.winners == fast_train.winners and sum(fast_train.winners) > 12
    np.testing.assert_allclose(brian_w["s1"], fast_w["s1"], atol=1e-6)
    assert np.abs(fast_w["s1"] - spec.initial_weights(3)["s1"]).max() > 1e-3      # it did learn

    c1_brian = ChainSimulation(spec, "input", "c1", brian_w).run(inputs)
    c1_fast = convfast.forward(spec, "input", "c1", inputs, fast_w, batch=5)
    np.testing.assert_array_equal(c1_brian, c1_fast)
    assert 0 < (c1_fast >= 0).mean() < 1
    sim = ChainSimulation(spec, "c1", "s2", brian_w)
    sim.training = brian_train = LayerTraining("s2", brian_w["s2"])
    sim.run(c1_brian)
    convfast.train_layer(spec, "s2", c1_fast, fast_train := LayerTraining("s2", fast_w["s2"]))
    assert brian_train.winners == fast_train.winners
    np.testing.assert_allclose(brian_w["s2"], fast_w["s2"], atol=1e-6)


def test_locally_connected_layer_learns_only_the_winners_own_synapses():
    """`local`: conv's receptive fields, one weight per synapse; Brian2 engine only."""
    spec = small_spec(**{"projections.a.connectivity": "local"})
    assert convfast.supports_fast_engine(spec) == ["s1"]
    weights = spec.initial_weights(0)
    conn = spec.connectivity("s1")
    assert weights["s1"].shape == (len(conn.pre),)
    before = weights["s1"].copy()
    inputs = random_latencies(1)
    sim = ChainSimulation(spec, "input", "s1", weights)
    sim.training = training = LayerTraining("s1", weights["s1"])
    out = sim.run(inputs)
    changed = np.flatnonzero(weights["s1"] != before)
    assert training.winners == [2] and len(changed)
    post = conn.post[changed]
    assert len(np.unique(post)) == 2 and np.all(out[0, post] >= 0)       # two winners, each a neuron that fired
    t_in = np.where(inputs[0] >= 0, inputs[0], np.inf)[conn.pre[changed]]
    up = weights["s1"][changed] > before[changed]
    np.testing.assert_array_equal(up, t_in <= out[0, post])               # pre before post: potentiated


def test_decision_potentials_and_winners_equal_the_brian2_layer():
    spec = small_spec()
    weights = spec.initial_weights(1)
    c2 = random_latencies(20, shape=(6, 2, 2), seed=2)
    sim = ChainSimulation(spec, "c2", "s3", weights, record_potential=True)
    silent = sim.run(c2)
    assert (silent < 0).all()                                 # no threshold: the decision layer never fires
    layer = DecisionLayer(spec, weights["s3"], spec.projections["s3"].rule)
    potentials = layer.potentials(layer.patches(c2 >= 0))
    np.testing.assert_allclose(potentials.reshape(len(c2), -1), sim.potential, rtol=1e-6)     # float32 products
    brian_best = np.argmax(sim.potential, axis=1)
    maps, positions = layer.winners(potentials)
    np.testing.assert_array_equal(maps * 4 + positions, brian_best)


def test_the_decision_layer_learns_the_same_weights_whatever_batch_its_windows_are_cut_in():
    """Images learn one at a time; the batch is only how many images' windows are cut at once."""
    spec = small_spec()
    weights = spec.initial_weights(1)
    fired = random_latencies(100, shape=(6, 2, 2), seed=3) >= 0
    labels = np.random.default_rng(4).integers(0, 2, len(fired))
    learnt = []
    for batch in (1, 7, 32, 256):
        layer = DecisionLayer(spec, weights["s3"], spec.projections["s3"].rule)
        stats = [layer.train_epoch(fired, labels, np.random.default_rng(epoch).permutation(len(fired)), batch=batch)
                 for epoch in range(3)]
        learnt.append((layer.weights, stats))
    assert not np.array_equal(learnt[0][0], weights["s3"].reshape(learnt[0][0].shape))
    for weights_b, stats_b in learnt[1:]:
        np.testing.assert_array_equal(weights_b, learnt[0][0])
        assert stats_b == learnt[0][1]


def test_predict_cuts_its_windows_into_one_buffer_with_the_same_classes_as_fresh_arrays():
    spec = small_spec()
    weights = spec.initial_weights(1)
    fired = random_latencies(37, shape=(6, 2, 2), seed=7) >= 0
    layer = DecisionLayer(spec, weights["s3"], spec.projections["s3"].rule)
    buffer = np.full((16,) + layer.patches(fired[:1]).shape[1:], np.nan, np.float32)
    for start in (0, 32):                                  # a full batch, then the last 5 images
        chunk = fired[start:start + 16]
        np.testing.assert_array_equal(layer.patches(chunk, out=buffer), layer.patches(chunk))
    fresh = np.concatenate([layer.winners(layer.potentials(layer.patches(fired[s:s + 16])))[0]
                            for s in range(0, len(fired), 16)]) // layer.maps_per_class
    np.testing.assert_array_equal(layer.predict(fired, batch=16), fresh)
    assert len(np.unique(fresh)) > 1


def test_the_frozen_chain_gives_the_same_steps_whatever_batch_of_images_it_runs():
    spec = small_spec()
    weights = spec.initial_weights(2)
    inputs = random_latencies(24, seed=6)
    steps = [convfast.forward(spec, "input", "c2", inputs, weights, batch=batch) for batch in (1, 2, 5, 24)]
    assert (steps[0] >= 0).any()
    for other in steps[1:]:
        np.testing.assert_array_equal(other, steps[0])


def test_pooling_passes_the_first_spike_of_each_window():
    spec = small_spec()
    s1 = random_latencies(3, shape=(4, 10, 10), seed=5)
    pooled = convfast.pool_response(spec, "c1", s1)
    first = np.where(s1 >= 0, s1, np.inf).reshape(3, 4, 5, 2, 5, 2)
    np.testing.assert_array_equal(pooled, first.min(axis=(3, 5)))
    brian = ChainSimulation(spec, "s1", "c1", {}).run(s1)
    np.testing.assert_array_equal(brian, np.where(np.isfinite(pooled), pooled, -1).reshape(3, -1))


def test_conv_potentials_equal_a_numpy_convolution():
    spec = small_spec()
    weights = spec.initial_weights(0)
    inputs = random_latencies(2)
    first, v_first = convfast.conv_response(spec, "s1", inputs, weights["s1"])
    x = np.pad((inputs >= 0).reshape(2, 2, 10, 10), ((0, 0), (0, 0), (1, 1), (1, 1)))
    final = np.einsum("ncyxij,fcij->nfyx", np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3)),
                      weights["s1"])
    fired = np.isfinite(first)
    assert ((final > 3.0) == fired).all()                   # fires iff the final potential exceeds 3
    assert (v_first[fired] > 3.0).all() and (v_first[fired] <= final[fired] + 1e-5).all()


# ------------------------------------------------------------------------------------------- the rules

def test_each_shared_kernel_receives_exactly_its_winners_update():
    rule = KernelSTDP(double_every=0)
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.2, 0.9, (3, 2, 3, 3))
    before = weights.copy()
    input_first = np.where(rng.random((2, 6, 6)) < 0.6, rng.integers(0, 5, (2, 6, 6)), np.inf).astype(float)
    winners = np.array([[2, 0, 0], [0, 4, 3]])                # map, row, col (padding 1: a border winner)
    winner_first = np.array([2.0, 3.0])
    stdp_step(rule, weights, 1, input_first, winners, winner_first, 3, 1, 1)
    padded = np.pad(input_first, ((0, 0), (1, 1), (1, 1)), constant_values=np.inf)
    for (f, r, c), t in zip(winners, winner_first):
        window = padded[:, r:r + 3, c:c + 3]
        a = np.where(window <= t, rule.a_plus, rule.a_minus)
        np.testing.assert_allclose(weights[f], before[f] + a * before[f] * (1 - before[f]))
    np.testing.assert_array_equal(weights[1], before[1])     # no winner, no change


def test_stdp_rate_schedule_doubles_every_500_images_up_to_the_cap():
    rule = KernelSTDP()
    assert rule.rates(499) == (0.004, -0.003)
    assert rule.rates(500) == pytest.approx((0.008, -0.006))
    assert rule.rates(2999) == pytest.approx((0.128, -0.096))
    assert rule.rates(3000) == pytest.approx((0.15, -0.1125)) == rule.rates(10**6)


def test_rstdp_potentiates_on_reward_and_depresses_on_punishment():
    """One decision map per class, one input that fired (pre before post) and one that did not."""
    spec = small_spec()
    rule = RewardSTDP(adapt_every=0)
    patch = np.zeros((4, 6 * 9))
    patch[:, 0] = 1                                           # input 0 fired at every position
    weights = np.full((4, 6, 3, 3), 0.5)
    weights[0, 0, 0, 0] = 0.6                                 # map 0 (class 0) wins
    layer = DecisionLayer(spec, weights, rule)
    assert layer.learn(patch.copy(), 0) == 0                  # reward
    assert layer.weights[0, 0] == pytest.approx(0.6 + rule.a_plus_reward)
    assert layer.weights[0, 1] == pytest.approx(0.5 + rule.a_minus_reward)
    layer = DecisionLayer(spec, weights, rule)
    assert layer.learn(patch.copy(), 1) == 0                  # punishment: class 0 decided, label 1
    assert layer.weights[0, 0] == pytest.approx(0.6 + rule.a_minus_punish)
    assert layer.weights[0, 1] == pytest.approx(0.5 + rule.a_plus_punish)


def test_supervised_alltd_teaches_the_label_maps_and_depresses_a_wrong_winner():
    """The dissertation's rule on the decision layer: no reward signal, the label picks who learns."""
    spec = small_spec(**{"projections.e.plasticity": {"rule": "supervised_alltd"}})
    rule = spec.projections["s3"].rule
    patch = np.zeros((4, 6 * 9))
    patch[:, 0] = 1
    weights = np.full((4, 6, 3, 3), 0.5)
    weights[0, 0, 0, 0] = 0.6                                 # map 0 (class 0, 2 maps per class) wins
    layer = DecisionLayer(spec, weights, rule)
    assert layer.learn(patch.copy(), 1) == 0                  # label 1: maps 2, 3; map 2 is first among equals
    assert layer.weights[2, 0] == pytest.approx(0.5 + rule.a_plus)           # STDP on the label's best map
    assert layer.weights[2, 1] == pytest.approx(0.5 + rule.a_minus)
    assert layer.weights[0, 0] == pytest.approx(0.6 - rule.a_plus)           # All-LTD on the wrong winner
    assert layer.weights[0, 1] == pytest.approx(0.5 + rule.a_minus)
    np.testing.assert_array_equal(layer.weights[[1, 3]], 0.5)


def test_silence_is_counted_wrong():
    spec = small_spec()
    layer = DecisionLayer(spec, np.full((4, 6, 3, 3), 0.5), RewardSTDP())
    predicted = layer.predict(np.zeros((3, 24), dtype=bool))
    np.testing.assert_array_equal(predicted, -1)
    assert np.mean(predicted == np.array([0, 1, 0])) == 0


# ------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("changes, message", [
    ({"projections.a.kernel_size": 13}, "larger than its input"),
    ({"projections.b.stride": 3}, "not a multiple of stride"),
    ({"layers.s1.competition": {"k": 5, "radius": 1}}, "only 4 feature maps"),
    ({"layers.s1.competition": {"k": 2, "radius": -1}}, "radius must be an integer >= 0"),
    ({"layers.s1.shape": [4, 9, 9]}, "gives [4, 10, 10]"),
    ({"layers.s1.inhibition": {"lateral": "all_but_self"}}, "set inhibition: null"),
    ({"projections.b.plasticity": {"rule": "stdp_kernel"}}, "pooling has no weights"),
    ({"projections.a.plasticity": {"rule": "stdp"}}, "not a rule of convolutional networks"),
    ({"projections.c.source": "s1"}, "must be fed by 'c1'"),
    ({"projections.a.plasticity": {"rule": "rstdp"}}, "only the last (decision) layer"),
    ({"layers.s2.competition": None}, "learns through its k winners"),
])
def test_bad_networks_are_refused_before_simulation(changes, message):
    with pytest.raises(ConfigError, match=None) as info:
        small_spec(**changes)
    assert message in str(info.value)


# ------------------------------------------------------------------------------------- the study

@pytest.mark.slow   # minutes on 2 cores: `make test-slow` (CI runs it)
def test_quick_variant_learns_digits_far_above_chance(real_data, tmp_path):
    """`--quick` (1,500 images, one seed): S1, S2, cache, 8 R-STDP epochs; chance is 10 %."""
    from bioplastic.config import load_config
    from bioplastic.studies import conv_stdp
    config = load_config("experiments/conv_stdp_mnist.yaml", quick=True)
    metrics = conv_stdp.run(config, tmp_path)
    curve = metrics["test_accuracy_per_seed"]["0"]
    assert curve["epoch"] == list(range(1, 9))
    assert metrics["final_mean_std"][0] > 40
    assert max(curve["test_accuracy"]) > curve["test_accuracy"][0]         # the decision layer learns
    for name in ("accuracy_over_epochs.png", "encoding.png", "weights.nc", "progress_seed0.json"):
        assert (tmp_path / name).exists(), name
    assert not list(tmp_path.glob("checkpoint_*"))                          # removed once every seed is done
    table = pd.read_csv(tmp_path / "metrics_long.csv")                     # the numbers behind the figure
    accuracy = table[table.metric == "test_accuracy_percent"]
    assert accuracy.checkpoint.tolist() == curve["epoch"] and accuracy.value.tolist() == curve["test_accuracy"]
    with xr.open_dataset(tmp_path / "weights.nc") as weights:
        assert weights["s1"].dims == ("seed", "s1_map", "s1_channel", "s1_ky", "s1_kx")
        assert weights["s1"].shape == (1, 30, 6, 5, 5) and weights["s3"].shape == (1, 200, 250, 5, 5)
    assert 0 < metrics["active_fraction"]["0"]["test"] < 0.9                # C2 is selective, not saturated


def test_study_refuses_a_standalone_device_and_epochs_that_do_not_match_the_learning_layers(real_data):
    from bioplastic.config import load_config
    from bioplastic.studies import conv_stdp
    config = load_config("experiments/conv_stdp_mnist.yaml", ["device.name=cpp_standalone"])
    with pytest.raises(ConfigError, match="runs on the runtime device"):
        conv_stdp.prepare(config)
    for override in ("conv.epochs.s2=0", "conv.epochs.c1=3"):
        config = load_config("experiments/conv_stdp_mnist.yaml", [override])
        with pytest.raises(ConfigError, match="conv.epochs must give"):
            conv_stdp.prepare(config)
    for override in ("conv.epochs.s2=null", "conv.epochs.s3=2.5"):      # the schema: not a whole number
        with pytest.raises(ConfigError, match=r"conv.epochs.s[23]: Input should be a valid integer"):
            load_config("experiments/conv_stdp_mnist.yaml", [override])


def test_a_class_subset_maps_onto_the_decision_layers_labels_in_order(real_data):
    """Ten EMNIST letters on the digits' ten labels (the reference's task 2): letter k -> label k."""
    from bioplastic.config import load_config
    from bioplastic.studies import conv_stdp
    letters = ["a", "b", "d", "e", "g", "h", "n", "q", "r", "s"]
    config = load_config("experiments/conv_stdp_mnist.yaml",
                         ["data.dataset=emnist_letters", f"data.classes=[{','.join(letters)}]"])
    spec, _, train, test = conv_stdp.prepare(config)
    assert train.class_names == tuple(letters) and spec.n_classes == 10
    assert set(np.unique(train.labels)) == set(range(10)) == set(np.unique(test.labels))
    config = load_config("experiments/conv_stdp_mnist.yaml", ["data.classes=[0,1,2]"])
    with pytest.raises(ConfigError, match="200 maps must divide into the 3 classes"):
        conv_stdp.prepare(config)


def test_an_interrupted_seed_resumes_from_its_checkpoints_with_the_same_result(real_data, tmp_path, monkeypatch):
    """Stopped during decision-layer epoch 2: the rerun skips S1/S2 and epoch 1 and ends where an
    uninterrupted run ends (same weights and curve: the random order's state is checkpointed too)."""
    from bioplastic.config import load_config
    from bioplastic.studies import conv_stdp
    config = load_config("experiments/conv_stdp_mnist.yaml", [
        "seeds=[0]", "data.n_train=150", "data.n_test=60", "conv.stdp_images=150",
        "conv.epochs={s1: 1, s2: 1, s3: 3}", "network.projections.input_to_s1.plasticity.parameters.double_every=50",
        "network.projections.c1_to_s2.plasticity.parameters.double_every=50"])
    (tmp_path / "whole").mkdir()
    whole = conv_stdp.train_seed((config, 0, tmp_path / "whole"))
    out = tmp_path / "stopped"
    out.mkdir()
    undo = interrupt_decision_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        conv_stdp.train_seed((config, 0, out))
    assert (out / "checkpoint_features_seed0.npz").exists() and (out / "checkpoint_decision_seed0.npz").exists()
    undo()
    monkeypatch.setattr(conv_stdp, "_features", lambda *a: pytest.fail("S1/S2 trained again"))
    resumed = conv_stdp.train_seed((config, 0, out))
    assert resumed["curve"] == whole["curve"] and resumed["curve"]["epoch"] == [1, 2, 3]
    for name in ("s1", "s2", "s3"):
        np.testing.assert_array_equal(resumed["weights"][name], whole["weights"][name])
    assert len(list(out.glob("checkpoint_*"))) == 2       # kept until the whole run ends (run() removes them)


def test_an_interrupted_run_resumes_with_more_or_fewer_decision_epochs_and_not_fewer_than_it_trained(
        real_data, tmp_path, monkeypatch, capsys):
    """`bioplastic run ... conv.epochs.s3=N --out OUT` over an interrupted OUT.partial of the same
    config but another N resumes it (the first N epochs of a longer run are a run of N); asking
    for fewer epochs than the checkpoints hold is refused before anything runs."""
    import json

    from bioplastic import cli
    small = ["seeds=[0]", "data.n_train=150", "data.n_test=60", "conv.stdp_images=150", "conv.epochs.s1=1",
             "conv.epochs.s2=1", "network.projections.input_to_s1.plasticity.parameters.double_every=50",
             "network.projections.c1_to_s2.plasticity.parameters.double_every=50"]
    experiment = "experiments/conv_stdp_mnist.yaml"
    assert cli.main(["run", experiment, *small, "conv.epochs.s3=2", "--out", str(tmp_path / "two")]) == 0
    undo = interrupt_decision_epoch(monkeypatch, 3)
    out = tmp_path / "stopped"
    assert cli.main(["run", experiment, *small, "conv.epochs.s3=5", "--out", str(out)]) == 130
    undo()
    assert cli.main(["run", experiment, *small, "conv.epochs.s3=1", "--out", str(out)]) == 2
    refusal = capsys.readouterr().err
    assert "has trained more decision-layer epochs already (checkpoint_decision_seed0.npz: 2)" in refusal
    assert json.loads((out.with_name("stopped.partial") / "provenance.json").read_text())["status"] == "interrupted"
    assert cli.main(["run", experiment, *small, "conv.epochs.s3=2", "--out", str(out)]) == 0
    expected = json.loads((tmp_path / "two" / "metrics.json").read_text())
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["test_accuracy_per_seed"] == expected["test_accuracy_per_seed"]
    assert json.loads((out / "provenance.json").read_text())["resumed_with_change"] == "conv.epochs.s3: 5 -> 2"
    assert "s3: 2" in (out / "config.yaml").read_text()
