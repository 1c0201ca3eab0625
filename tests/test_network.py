"""The assembled network: fast formulations give the same results as the reference ones."""
import numpy as np
import pytest
import brian2
from brian2 import ms

from bioplastic.devices import DeviceConfig
from bioplastic.evaluation import TestSpikes, evaluate_batched, evaluate_sequential
from bioplastic.readout import segment_readout as readout
from bioplastic.studies.common import train_with_snapshots

import netspec
from netspec import N_CLASSES, SIDE

W, THETA = "input_to_exc", "exc.theta"      # the one plastic projection and adaptive state of make_spec


def bars(n, seed=0):
    """Synthetic 12x12 images: class c is a horizontal band of rows 4c..4c+3, with pixel noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % N_CLASSES
    images = (rng.random((n, SIDE, SIDE)) < 0.05) * 120
    for k, c in enumerate(labels):
        images[k, 4 * c:4 * c + 3, :] = 255
    return images.reshape(n, -1).astype(np.uint8), labels


def make_spec(trace_location="neuron", n_per_class=3, lateral="all_but_self", **overrides):
    """input --input_to_exc (supervised, A_pre 0.05, w_init_max 0.6)--> 3 segments of n_per_class neurons."""
    return netspec.one_layer(n_per_class, trace_location=trace_location, lateral=lateral, **overrides)


def initial_weights(spec, n_copies, seed=0):
    """{projection: [copy, ...]}: copy c of the single projection drawn from default_rng([seed, c, 1])."""
    return {W: np.stack([spec.initial_weights(W, np.random.default_rng([seed, c, 1])) for c in range(n_copies)])}


def train(spec, device, n_images=12, n_copies=2, seed=0, **network_options):
    pool, labels = bars(24, seed)
    orders = np.stack([np.random.default_rng([seed, c]).permutation(24)[:n_images] for c in range(n_copies)])
    return train_with_snapshots(spec, device, pool, orders, labels[orders], n_images // 2, 100 * ms, 50 * ms,
                                initial_weights(spec, n_copies, seed), **network_options)


def class_band_weight(w):
    """Mean weight from the band of class c onto the segment of class c, minus onto other segments."""
    w = w.reshape(SIDE, SIDE, N_CLASSES, -1)
    own = np.mean([w[4 * c:4 * c + 3, :, c].mean() for c in range(N_CLASSES)])
    other = np.mean([w[4 * c:4 * c + 3, :, d].mean() for c in range(N_CLASSES) for d in range(N_CLASSES) if d != c])
    return own - other


def test_per_neuron_traces_learn_exactly_as_per_synapse_traces():
    """All-to-all pair STDP depends on each neuron's spike train only: same weights, same spikes."""
    results = []
    for location in ("neuron", "synapse"):
        brian2.seed(7)
        results.append(train(make_spec(location), DeviceConfig("runtime", target="numpy")))
    fast, reference = results
    assert np.abs(fast.weights[W][-1] - fast.weights[W][0]).max() > 0.05   # it did learn
    np.testing.assert_allclose(fast.weights[W], reference.weights[W], atol=1e-10)
    np.testing.assert_allclose(fast.states[THETA], reference.states[THETA], atol=1e-12)


def test_supervised_learning_binds_each_class_to_its_segment():
    brian2.seed(3)
    result = train(make_spec(), DeviceConfig("runtime", target="numpy"), n_images=18, n_copies=3)
    before = [class_band_weight(w) for w in result.weights[W][0]]
    after = [class_band_weight(w) for w in result.weights[W][-1]]
    assert np.allclose(before, 0, atol=0.05)
    assert min(after) > 0.2


def test_batched_evaluation_predicts_as_sequential_evaluation_on_the_same_spikes():
    spec = make_spec()
    images, labels = bars(9, seed=1)
    rng = np.random.default_rng(0)
    weights = rng.uniform(0, 0.2, (SIDE * SIDE, spec.readout.size))
    for c in range(N_CLASSES):   # a trained-like network: band c drives segment c
        weights.reshape(SIDE, SIDE, -1)[4 * c:4 * c + 3, :, spec.segments() == c] += 0.6
    theta = rng.uniform(0, 2e-3, spec.readout.size)
    spikes = TestSpikes(images, spec, 100 * ms, seed=5)
    batched = evaluate_batched(spec, spikes, {W: weights[None]}, {THETA: theta[None]}, batch_size=4)[0]
    sequential = evaluate_sequential(spec, spikes, {W: weights}, {THETA: theta}, rest=1000 * ms)
    assert batched.sum() > 50
    np.testing.assert_array_equal(readout(batched, spec.segments(), N_CLASSES),
                                  readout(sequential, spec.segments(), N_CLASSES))
    np.testing.assert_array_equal(readout(batched, spec.segments(), N_CLASSES), labels)
    assert abs(int(batched.sum()) - int(sequential.sum())) <= 0.02 * batched.sum()


def test_readout_counts_silence_as_wrong():
    counts = np.array([[0, 0, 0, 0], [1, 0, 0, 3], [2, 2, 0, 0]])
    assert readout(counts, np.array([0, 0, 1, 1]), 2).tolist() == [-1, 1, 0]


def test_weight_normalization_keeps_each_neurons_input_sum():
    brian2.seed(1)
    spec = make_spec(**{"projections.input_to_exc.weight_normalization": 20.0})
    result = train(spec, DeviceConfig("runtime", target="numpy"))
    sums = result.weights[W][1:].sum(axis=2)      # [snapshot, copy, neuron]
    np.testing.assert_allclose(sums, 20.0, rtol=0.05)


def assert_devices_learn_alike(names, tmp_path):
    """Same spec, seed and images on each device: every copy learns its classes (class-band
    weight > 0.2) and the devices' mean scores are within 0.1 (their random numbers differ)."""
    spec = make_spec()
    scores = {}
    for name in names:
        brian2.seed(11)
        device = DeviceConfig(name, target="numpy", build_dir=str(tmp_path / name) if name != "runtime" else None)
        result = train(spec, device, n_images=18, n_copies=4)
        scores[name] = np.array([class_band_weight(w) for w in result.weights[W][-1]])
    assert min(s.min() for s in scores.values()) > 0.2, scores
    first, second = (scores[name].mean() for name in names)
    assert abs(first - second) < 0.1, scores


@pytest.mark.standalone
def test_runtime_and_cpp_standalone_agree_statistically(tmp_path):
    assert_devices_learn_alike(("runtime", "cpp_standalone"), tmp_path)


def test_network_without_lateral_inhibition_trains_and_evaluates():
    spec = make_spec(lateral="none")
    brian2.seed(5)
    result = train(spec, DeviceConfig("runtime", target="numpy"))
    spikes = TestSpikes(bars(3)[0], spec, 100 * ms, seed=1)
    counts = evaluate_batched(spec, spikes, {W: result.weights[W][-1, :1]}, {THETA: result.states[THETA][-1, :1]})
    assert counts.shape == (1, 3, spec.readout.size) and counts.sum() > 0


def test_reset_state_instead_of_rest_learns_as_with_a_rest():
    """Resetting neurons and traces at each image start stands in for the (simulated) rest."""
    spec = make_spec()
    pool, labels = bars(24)
    orders = np.stack([np.random.default_rng([0, c]).permutation(24)[:18] for c in range(3)])
    weights = initial_weights(spec, 3)
    scores, changes = {}, {}
    for reset in (False, True):
        brian2.seed(9)
        result = train_with_snapshots(spec, DeviceConfig("runtime", target="numpy"), pool, orders, labels[orders], 9,
                                      100 * ms, 0 * ms if reset else 150 * ms, weights, reset_state=reset)
        scores[reset] = np.array([class_band_weight(w) for w in result.weights[W][-1]])
        changes[reset] = np.abs(result.weights[W][-1] - weights[W]).mean()
    assert scores[False].min() > 0.2 and scores[True].min() > 0.2
    assert abs(scores[True].mean() - scores[False].mean()) < 0.1
    assert changes[True] == pytest.approx(changes[False], rel=0.25)


def test_reset_state_needs_a_zero_rest():
    from bioplastic.errors import ConfigError
    from bioplastic.protocol import ProtocolBuilder
    with pytest.raises(ConfigError, match="rest_duration to 0 ms"):
        ProtocolBuilder(bars(2)[0], 100 * ms, 50 * ms, reset_state=True)
