"""The two-layer network: input -> unsupervised hidden layer (on a sheet) -> supervised segments."""
import numpy as np
import pytest
import brian2
from brian2 import ms

from bioplastic.config import COMMON_DEFAULTS, deep_merge
from bioplastic.devices import DeviceConfig
from bioplastic.errors import ConfigError
from bioplastic.evaluation import TestSpikes, evaluate_batched, evaluate_sequential
from bioplastic.protections import freeze_mask
from bioplastic.readout import segment_readout as readout
from bioplastic.studies.common import train_with_snapshots

from netspec import two_layer, with_bounds
from test_network import N_CLASSES, SIDE, bars, make_spec
from test_protections import assert_frozen_stay_and_others_move

N_HIDDEN = 9     # a 3 x 3 sheet
HIDDEN_W, OUT_W = "input_to_hidden", "hidden_to_exc"


def two_layer_spec(bounds=False, **options):
    """input --stdp, normalised to 40--> 9 hidden --supervised, gain 8--> 3 segments of 3 (teacher 200 Hz x 2)."""
    spec = two_layer(N_HIDDEN, **options)
    return with_bounds(spec) if bounds else spec


def train_two_layer(spec, n_images=12, n_copies=2, **options):
    pool, labels = bars(24)
    orders = np.stack([np.random.default_rng([0, c]).permutation(24)[:n_images] for c in range(n_copies)])
    return train_with_snapshots(spec, DeviceConfig("runtime", target="numpy"), pool, orders, labels[orders],
                                n_images // 2, 100 * ms, 50 * ms, spec.seeded_initial_weights(range(n_copies)),
                                **options)


def test_seeded_initial_weights_draw_the_readout_projection_first():
    """Copy c: the projection onto the readout layer from default_rng([c, 1]), the hidden one from [c, 2]."""
    spec = two_layer_spec()
    w = spec.seeded_initial_weights([0, 1])
    for c in range(2):
        np.testing.assert_array_equal(w[OUT_W][c], spec.initial_weights(OUT_W, np.random.default_rng([c, 1])))
        np.testing.assert_array_equal(w[HIDDEN_W][c], spec.initial_weights(HIDDEN_W, np.random.default_rng([c, 2])))
    assert w[HIDDEN_W].shape == (2, SIDE * SIDE, N_HIDDEN) and w[HIDDEN_W].max() < 0.6


def test_both_layers_learn_and_are_recorded():
    spec = two_layer_spec()
    brian2.seed(1)
    result = train_two_layer(spec)
    h, w = result.weights[HIDDEN_W], result.weights[OUT_W]
    assert h.shape == (3, 2, SIDE * SIDE, N_HIDDEN) and w.shape == (3, 2, N_HIDDEN, spec.readout.size)
    assert np.abs(h[-1] - h[0]).max() > 0.05 and np.abs(w[-1] - w[0]).max() > 0.05
    np.testing.assert_allclose(h[1:].sum(axis=2), 40.0, rtol=0.05)       # hidden normalisation holds
    assert set(result.states) == {"exc.theta", "hidden.theta"}
    assert result.states["hidden.theta"].shape == (3, 2, N_HIDDEN)
    assert result.states["hidden.theta"][-1].max() > 0                   # hidden neurons spiked


def test_frozen_weights_stay_in_both_layers():
    spec = two_layer_spec(bounds=True)
    w0 = spec.seeded_initial_weights(range(2))
    masks = {OUT_W: freeze_mask(w0[OUT_W], 0.5), HIDDEN_W: freeze_mask(w0[HIDDEN_W], 0.5, "per_neuron")}
    brian2.seed(2)
    result = train_two_layer(spec, synapse_state={name: {"plastic_w": m} for name, m in masks.items()})
    assert_frozen_stay_and_others_move(result.weights[OUT_W], masks[OUT_W], 0.01)
    assert_frozen_stay_and_others_move(result.weights[HIDDEN_W], masks[HIDDEN_W], 0.01)


def test_batched_and_sequential_evaluation_agree_with_a_hidden_layer():
    spec = two_layer_spec()
    assert not spec.single_driven_layer            # batched evaluation runs the synapses of both layers
    rng = np.random.default_rng(0)
    # Hand-made trained network: hidden neuron k (k < 3) sees band k; segment c listens to hidden c.
    hidden = rng.uniform(0, 0.05, (SIDE * SIDE, N_HIDDEN))
    for c in range(N_CLASSES):
        hidden.reshape(SIDE, SIDE, -1)[4 * c:4 * c + 3, :, c] += 0.5
    weights = rng.uniform(0, 0.1, (N_HIDDEN, spec.readout.size))
    for c in range(N_CLASSES):
        weights[c, spec.segments() == c] += 2.0
    images, labels = bars(6, seed=3)
    spikes = TestSpikes(images, spec, 100 * ms, seed=4)
    batched = evaluate_batched(spec, spikes, {OUT_W: weights[None], HIDDEN_W: hidden[None]}, batch_size=4)[0]
    sequential = evaluate_sequential(spec, spikes, {OUT_W: weights, HIDDEN_W: hidden}, rest=1000 * ms)
    assert batched.sum() > 20
    pred = readout(batched, spec.segments(), N_CLASSES)
    np.testing.assert_array_equal(pred, readout(sequential, spec.segments(), N_CLASSES))
    np.testing.assert_array_equal(pred, labels)


def test_initial_weights_are_required_for_every_projection():
    spec = two_layer_spec()
    only_output = {OUT_W: spec.initial_weights(OUT_W, np.random.default_rng(0))[None]}
    with pytest.raises(ConfigError, match=r"missing for \['input_to_hidden'\]"):
        train_with_snapshots(spec, DeviceConfig("runtime", target="numpy"), bars(4)[0], np.zeros((1, 2), int),
                             np.zeros((1, 2), int), 2, 100 * ms, 50 * ms, only_output)
    with pytest.raises(ConfigError, match=r"unknown projections \['input_to_exc'\]"):
        train_with_snapshots(spec, DeviceConfig("runtime", target="numpy"), bars(4)[0], np.zeros((1, 2), int),
                             np.zeros((1, 2), int), 2, 100 * ms, 50 * ms,
                             {**spec.seeded_initial_weights([0]), "input_to_exc": only_output[OUT_W]})


def test_hidden_layer_from_config_and_its_errors():
    assert list(make_spec().layers) == ["exc"] and make_spec().single_driven_layer      # one layer
    spec = two_layer(16, hidden_lateral="radius", **{"layers.hidden.inhibition.radius": 1.5})
    assert list(spec.layers) == ["hidden", "exc"] and spec.readout_layer == "exc"
    assert spec.layers["hidden"].size == 16 and spec.weight_shape(OUT_W) == (16, spec.readout.size)
    i, j = spec.layers["hidden"].lateral_pairs()
    assert len(i) == 4 * 3 + 8 * 5 + 4 * 8         # radius 1.5 on 4x4: the 8-neighbourhood (corner, edge, inside)
    assert all(abs(a % 4 - b % 4) <= 1 and abs(a // 4 - b // 4) <= 1 and a != b for a, b in zip(i, j))
    # The supervised rule follows class segments: the hidden layer has none.
    with pytest.raises(ConfigError, match=r"input_to_hidden.plasticity.rule: the 'supervised' rule.*"
                                          r"layer 'hidden' has none"):
        two_layer(4, **{"projections.input_to_hidden.plasticity.rule": "supervised"})
    # A hidden neuron keeps one trace: post of its input synapses, pre of its output synapses.
    with pytest.raises(ConfigError, match=r"layer 'hidden' keeps one 'stdp_trace' trace.*time constants differ"):
        two_layer(4, **{"projections.input_to_hidden.plasticity.parameters.tau_post": "30 ms"})
    two_layer(4, **{"projections.input_to_hidden.plasticity.parameters.tau_post": "30 ms",   # agreeing: fine
                    "projections.hidden_to_exc.plasticity.parameters.tau_pre": "30 ms"})
    with pytest.raises(ConfigError, match="hidden_to_exc.weight_normalization = 78 cannot be reached"):
        two_layer(9, **{"projections.hidden_to_exc.weight_normalization": 78.0})
    with pytest.raises(ConfigError, match=r"'network.layers.hidden.sise'.*Did you mean 'size'"):
        deep_merge(COMMON_DEFAULTS, {"network": {"layers": {"hidden": {"sise": 4}}}})
    with pytest.raises(ConfigError, match=r"'network.projections.input_to_hidden.sourse'.*Did you mean 'source'"):
        deep_merge(COMMON_DEFAULTS, {"network": {"projections": {"input_to_hidden": {"sourse": "input"}}}})
