"""Networks of named layers and projections: connectivity kinds, and a three-layer network declared
in YAML that learns in every plastic projection on the runtime and the C++ standalone device."""
import numpy as np
import pytest
import yaml
import brian2
from brian2 import ms

from bioplastic.devices import DeviceConfig
from bioplastic.errors import ConfigError
from bioplastic.evaluation import TestSpikes, evaluate_batched
from bioplastic.studies.common import train_with_snapshots

import netspec
from test_network import N_CLASSES, SIDE, bars


def as_set(i, j):
    return set(zip(np.asarray(i).tolist(), np.asarray(j).tolist()))


# --- connectivity of a projection, declared in the config -------------------------------------
def between_two_layers(connectivity, n_a=16, n_b=16, **options):
    """input -> a -> b, where a -> b is a frozen projection of the given connectivity."""
    return netspec.build({
        "layers.a.size": n_a, "layers.b.size": n_b, "readout": {"kind": "label_assignment"},
        "projections.input_to_a": {"source": "input", "target": "a", "plasticity": {"rule": "stdp"}},
        "projections.a_to_b": {"source": "a", "target": "b", "plasticity": None, "connectivity": connectivity,
                               **options},
    })


def test_one_to_one_and_all_but_self_projections_connect_what_they_say():
    spec = between_two_layers("one_to_one")
    assert as_set(*spec.pairs("a_to_b")) == {(k, k) for k in range(16)}
    assert spec.weight_shape("a_to_b") == (16,) and spec.weight_shape("input_to_a") == (SIDE * SIDE, 16)
    spec = between_two_layers("all_but_self")
    assert as_set(*spec.pairs("a_to_b")) == {(a, b) for a in range(16) for b in range(16) if a != b}
    assert spec.weight_shape("a_to_b") == (16 * 15,)


@pytest.mark.parametrize("connectivity", ["one_to_one", "all_but_self"])
def test_one_to_one_and_all_but_self_need_layers_of_equal_size(connectivity):
    with pytest.raises(ConfigError, match=rf"network.projections.a_to_b: {connectivity} needs layers of equal "
                                          r"size, got 16 and 9"):
        between_two_layers(connectivity, 16, 9)


@pytest.mark.parametrize("radius", [0, 1, 1.5])
def test_within_radius_connects_the_neurons_within_r_on_the_two_sheets(radius):
    """Both layers on a 4 x 4 sheet: neuron k of a reaches the neurons of b within ``radius`` of its place."""
    spec = between_two_layers("within_radius", radius=radius)
    pos = np.array([(k // 4, k % 4) for k in range(16)])
    expected = {(a, b) for a in range(16) for b in range(16) if np.hypot(*(pos[a] - pos[b])) <= radius}
    assert as_set(*spec.pairs("a_to_b")) == expected
    if radius == 0:
        assert expected == {(k, k) for k in range(16)}       # on the same sheet: itself only
    if radius == 1:                                            # the 4-neighbourhood, itself included
        assert {b for a, b in expected if a == 5} == {1, 4, 5, 6, 9}


def test_fixed_probability_draws_each_pair_once_from_its_seed():
    pairs = as_set(*between_two_layers("fixed_probability", probability=0.3, connect_seed=5).pairs("a_to_b"))
    again = as_set(*between_two_layers("fixed_probability", probability=0.3, connect_seed=5).pairs("a_to_b"))
    other = as_set(*between_two_layers("fixed_probability", probability=0.3, connect_seed=6).pairs("a_to_b"))
    assert pairs == again and pairs != other                   # the seed decides, the same on every device
    assert pairs <= {(a, b) for a in range(16) for b in range(16)}
    assert 0.2 * 256 < len(pairs) < 0.4 * 256
    with pytest.raises(ConfigError, match=r"a_to_b: connection probability must be in \(0, 1\]"):
        between_two_layers("fixed_probability", probability=1.5)


def test_a_frozen_sparse_projection_keeps_its_weights_per_synapse():
    spec = between_two_layers("one_to_one")
    assert not spec.projections["a_to_b"].plastic and spec.plastic_projections == ["input_to_a"]
    w = spec.seeded_initial_weights([0, 1])
    assert w["a_to_b"].shape == (2, 16) and w["input_to_a"].shape == (2, SIDE * SIDE, 16)


# --- three layers, declared in YAML --------------------------------------------------------------
# input -> h1 (STDP) -> h2 (STDP) -> segments (supervised). Hidden neurons adapt fast (theta) so
# that all take turns; each spike of a 16-neuron layer must count for more (gain) than one of the
# 144 inputs; the teacher excites the label's segment while learning.
THREE_LAYERS = """
layers:
  h1: {size: 16, neuron: {parameters: {theta_plus: 0.5 mV}}}
  h2: {size: 16, neuron: {parameters: {theta_plus: 0.5 mV}}}
  exc: {n_per_class: 2, teacher: {rate: 200 Hz, weight: 2.0}}
projections:
  input_to_h1:
    {source: input, target: h1, w_init_max: 0.6, weight_normalization: 40.0,
     plasticity: {rule: stdp, parameters: {A_pre: 0.05}}}
  h1_to_h2:
    {source: h1, target: h2, w_init_max: 0.6, gain: 40.0, plasticity: {rule: stdp, parameters: {A_pre: 0.05}}}
  h2_to_exc:
    {source: h2, target: exc, w_init_max: 0.6, gain: 40.0, plasticity: {rule: supervised, parameters: {A_pre: 0.05}}}
"""
PLASTIC = ["input_to_h1", "h1_to_h2", "h2_to_exc"]


def three_layer_spec():
    network = yaml.safe_load(THREE_LAYERS)
    return netspec.build({"layers": network["layers"], "projections": network["projections"]})


def test_three_layer_network_is_built_in_order_from_its_yaml():
    spec = three_layer_spec()
    assert list(spec.layers) == ["h1", "h2", "exc"] and spec.readout_layer == "exc"   # readout: the last layer
    assert spec.plastic_projections == PLASTIC and not spec.single_driven_layer
    assert [spec.projections[p].rule.name for p in PLASTIC] == ["stdp", "stdp", "supervised"]
    assert spec.adaptive_states() == ["h1.theta", "h2.theta", "exc.theta"]
    assert spec.weight_shape("h1_to_h2") == (16, 16) and spec.weight_shape("h2_to_exc") == (16, N_CLASSES * 2)


def train_three_layers(spec, device):
    pool, labels = bars(24)
    orders = np.stack([np.random.default_rng([0, c]).permutation(24)[:12] for c in range(2)])
    brian2.seed(1)
    return train_with_snapshots(spec, device, pool, orders, labels[orders], 6, 100 * ms, 50 * ms,
                                spec.seeded_initial_weights(range(2)))


def assert_every_layer_learned(result, spec):
    for name in PLASTIC:
        w = result.weights[name]
        assert w.shape == (3, 2) + spec.weight_shape(name), name
        assert np.abs(w[-1] - w[0]).max() > 0.05, name                    # every plastic projection learned
    np.testing.assert_allclose(result.weights["input_to_h1"][1:].sum(axis=2), 40.0, rtol=0.05)
    for state in ("h1.theta", "h2.theta", "exc.theta"):
        assert result.states[state][-1].max() > 0, state                  # spikes reached every layer


def assert_evaluated(spec, weights, states):
    """Batched evaluation of a deep network runs its synapses (runtime device), every weight set."""
    spikes = TestSpikes(bars(6, seed=3)[0], spec, 100 * ms, seed=4)
    counts = evaluate_batched(spec, spikes, weights, states, batch_size=4)
    assert counts.shape == (2, 6, spec.readout.size)
    assert counts.sum(axis=(1, 2)).min() > 0                              # the segments answer under both sets
    with pytest.raises(ConfigError, match="several layers is evaluated on the runtime device only"):
        evaluate_batched(spec, spikes, weights, states, device=DeviceConfig("cpp_standalone"))


def test_three_layer_network_learns_in_every_projection_and_is_evaluated_on_the_runtime():
    spec = three_layer_spec()
    result = train_three_layers(spec, DeviceConfig("runtime", target="numpy"))
    assert_every_layer_learned(result, spec)
    assert_evaluated(spec, *result.final())


@pytest.mark.slow   # minutes on 2 cores: `make test-slow` (CI runs it)
@pytest.mark.standalone
def test_three_layer_network_learns_in_every_projection_on_cpp_standalone(tmp_path):
    spec = three_layer_spec()
    result = train_three_layers(spec, DeviceConfig("cpp_standalone", build_dir=str(tmp_path / "three")))
    assert_every_layer_learned(result, spec)
    brian2.set_device("runtime")
    assert_evaluated(spec, *result.final())
