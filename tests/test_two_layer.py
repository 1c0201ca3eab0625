"""The two-layer network: input -> unsupervised hidden layer (on a sheet) -> supervised segments."""
import dataclasses

import numpy as np
import pytest
import brian2
from brian2 import Hz, ms

from bioplastic.config import COMMON_DEFAULTS, deep_merge
from bioplastic.devices import DeviceConfig
from bioplastic.errors import ConfigError
from bioplastic.evaluation import TestSpikes, evaluate_batched, evaluate_sequential, readout
from bioplastic.models import get_neuron_model, get_plasticity_rule
from bioplastic.network.build import HiddenLayer
from bioplastic.protections import freeze_mask
from bioplastic.studies.common import spec_from_config, train_with_snapshots

from test_network import N_CLASSES, SIDE, bars, make_spec
from test_protections import assert_frozen_stay_and_others_move

N_HIDDEN = 9     # a 3 x 3 sheet


def two_layer_spec(bounds=False, **hidden):
    rule = get_plasticity_rule("stdp").with_overrides({"A_pre": 0.05}, per_synapse_bounds=bounds)
    layer = HiddenLayer(N_HIDDEN, get_neuron_model("adaptive_lif"), rule, weight_normalization=40.0,
                        w_init_max=0.6, output_gain=8.0, **hidden)
    spec = make_spec(hidden=layer, teacher_rate=200 * Hz, teacher_weight=2.0)
    if bounds:
        spec = dataclasses.replace(spec, rule=spec.rule.with_overrides(per_synapse_bounds=True))
    return dataclasses.replace(spec, hidden=layer.validate(spec.rule))


def train_two_layer(spec, n_images=12, n_copies=2, **options):
    pool, labels = bars(24)
    orders = np.stack([np.random.default_rng([0, c]).permutation(24)[:n_images] for c in range(n_copies)])
    w0 = np.stack([spec.initial_weights(np.random.default_rng([c, 1])) for c in range(n_copies)])
    h0 = np.stack([spec.initial_hidden_weights(np.random.default_rng([c, 2])) for c in range(n_copies)])
    return train_with_snapshots(spec, DeviceConfig("runtime", target="numpy"), pool, orders, labels[orders],
                                n_images // 2, 100 * ms, 50 * ms, w0, hidden_weights=h0, **options)


def test_both_layers_learn_and_are_recorded():
    spec = two_layer_spec()
    brian2.seed(1)
    result = train_two_layer(spec)
    h, w = result.snapshots_hidden_w, result.snapshots_w
    assert h.shape == (3, 2, SIDE * SIDE, N_HIDDEN) and w.shape == (3, 2, N_HIDDEN, spec.n_exc)
    assert np.abs(h[-1] - h[0]).max() > 0.05 and np.abs(w[-1] - w[0]).max() > 0.05
    np.testing.assert_allclose(h[1:].sum(axis=2), 40.0, rtol=0.05)       # hidden normalisation holds
    assert set(result.snapshots_state) == {"theta", "hidden_theta"}
    assert result.snapshots_state["hidden_theta"].shape == (3, 2, N_HIDDEN)
    assert result.snapshots_state["hidden_theta"][-1].max() > 0           # hidden neurons spiked


def test_frozen_weights_stay_in_both_layers():
    spec = two_layer_spec(bounds=True)
    w0 = np.stack([spec.initial_weights(np.random.default_rng([c, 1])) for c in range(2)])
    h0 = np.stack([spec.initial_hidden_weights(np.random.default_rng([c, 2])) for c in range(2)])
    masks = freeze_mask(w0, 0.5), freeze_mask(h0, 0.5, "per_neuron")
    brian2.seed(2)
    result = train_two_layer(spec, synapse_state={"plastic_w": masks[0]}, hidden_synapse_state={"plastic_w": masks[1]})
    assert_frozen_stay_and_others_move(result.snapshots_w, masks[0], 0.01)
    assert_frozen_stay_and_others_move(result.snapshots_hidden_w, masks[1], 0.01)


def test_batched_and_sequential_evaluation_agree_with_a_hidden_layer():
    spec = two_layer_spec()
    rng = np.random.default_rng(0)
    # Hand-made trained network: hidden neuron k (k < 3) sees band k; segment c listens to hidden c.
    hidden = rng.uniform(0, 0.05, (SIDE * SIDE, N_HIDDEN))
    for c in range(N_CLASSES):
        hidden.reshape(SIDE, SIDE, -1)[4 * c:4 * c + 3, :, c] += 0.5
    weights = rng.uniform(0, 0.1, (N_HIDDEN, spec.n_exc))
    for c in range(N_CLASSES):
        weights[c, spec.segments() == c] += 2.0
    images, labels = bars(6, seed=3)
    spikes = TestSpikes(images, spec, 100 * ms, seed=4)
    batched = evaluate_batched(spec, spikes, weights[None], batch_size=4, hidden_weight_sets=hidden[None])[0]
    sequential = evaluate_sequential(spec, spikes, weights, rest=1000 * ms, hidden_weights=hidden)
    assert batched.sum() > 20
    pred = readout(batched, spec.segments(), N_CLASSES)
    np.testing.assert_array_equal(pred, readout(sequential, spec.segments(), N_CLASSES))
    np.testing.assert_array_equal(pred, labels)


def test_hidden_weights_are_required_exactly_with_a_hidden_layer():
    spec = two_layer_spec()
    with pytest.raises(ConfigError, match="hidden_weights"):
        train_with_snapshots(spec, DeviceConfig("runtime", target="numpy"), bars(4)[0], np.zeros((1, 2), int),
                             np.zeros((1, 2), int), 2, 100 * ms, 50 * ms, spec.initial_weights(np.random.default_rng(0))[None])


def config_with(**hidden):
    return deep_merge(COMMON_DEFAULTS, {"network": {"hidden": hidden}})


def test_hidden_layer_from_config_and_its_errors():
    assert spec_from_config(config_with(), 3).hidden is None            # n: 0 = single layer
    spec = spec_from_config(config_with(n=16, lateral_inhibition="radius", inhibition_radius=1.5), 3)
    assert spec.hidden.n == 16 and spec.n_segment_inputs == 16
    i, j = spec.hidden.lateral_pairs()
    assert len(i) == 4 * 3 + 8 * 5 + 4 * 8         # radius 1.5 on 4x4: the 8-neighbourhood (corner, edge, inside)
    assert all(abs(a % 4 - b % 4) <= 1 and abs(a // 4 - b // 4) <= 1 and a != b for a, b in zip(i, j))
    with pytest.raises(ConfigError, match="supervised"):
        spec_from_config(config_with(n=4, plasticity={"rule": "supervised", "parameters": {}}), 3)
    with pytest.raises(ConfigError, match="tau_post"):
        spec_from_config(config_with(n=4, plasticity={"rule": "stdp", "parameters": {"tau_post": "30 ms"}}), 3)
    with pytest.raises(ConfigError, match="cannot be reached"):
        spec_from_config(deep_merge(COMMON_DEFAULTS, {"network": {"weight_normalization": 78.0,
                                                                  "hidden": {"n": 9}}}), 3)
    with pytest.raises(ConfigError, match="hidden.nn|did you mean"):
        deep_merge(COMMON_DEFAULTS, {"network": {"hidden": {"nn": 4}}})
