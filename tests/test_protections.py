"""Continual-learning protections: frozen weights stay, bounded weights stay inside, quantiles per weight."""
import numpy as np
import pytest
import brian2

from bioplastic.devices import DeviceConfig
from bioplastic.errors import ConfigError
from bioplastic.protections import freeze_mask, quantile_bounds

from netspec import with_bounds
from test_network import W, initial_weights, make_spec, train


def test_freeze_mask_global_and_per_neuron():
    w = np.arange(24, dtype=float).reshape(1, 6, 4)           # [copy, input, neuron]
    glob = freeze_mask(w, 0.25)
    assert (glob == 0).sum() == 6 and np.all(w[glob == 0] >= 18)
    per = freeze_mask(w, 0.5, scope="per_neuron")
    assert np.all((per == 0).sum(axis=1) == 3)                 # 3 of 6 inputs of every neuron
    assert np.all(per[0, 3:, :] == 0) and np.all(per[0, :3, :] == 1)
    with pytest.raises(ConfigError, match="fraction must be in"):
        freeze_mask(w, 1.5)


def test_quantile_bounds_are_computed_per_weight_from_the_trajectory():
    rng = np.random.default_rng(0)
    centres = np.array([[0.1, 0.5], [0.9, 0.3]])
    trajectory = centres + 0.05 * rng.standard_normal((4000, 2, 2))
    lo, hi = quantile_bounds(trajectory, 0.25, 0.75)
    np.testing.assert_allclose(lo, centres - 0.6745 * 0.05, atol=0.004)    # Gaussian quartiles
    np.testing.assert_allclose(hi, centres + 0.6745 * 0.05, atol=0.004)
    np.testing.assert_array_equal(lo[0, 1], np.quantile(trajectory[:, 0, 1], 0.25))
    with pytest.raises(ConfigError):
        quantile_bounds(trajectory, 0.9, 0.1)


def protected_spec(**overrides):
    """The network of test_network with per-synapse bounds on its plastic projection (as the forgetting study)."""
    return with_bounds(make_spec(**overrides))


def test_frozen_weights_never_change_while_others_do():
    spec = protected_spec(**{"projections.input_to_exc.weight_normalization": 30.0})
    w0 = spec.initial_weights(W, np.random.default_rng(0))
    mask = freeze_mask(np.stack([w0, w0]), 0.3)
    brian2.seed(2)
    result = train(spec, DeviceConfig("runtime", target="numpy"),
                   synapse_state={W: {"plastic_w": mask}})
    assert_frozen_stay_and_others_move(result.weights[W], mask, 0.05)


def assert_frozen_stay_and_others_move(snapshots, mask, min_change):
    """``snapshots`` [snapshot, copy, pre, post]: weights with ``mask == 0`` keep their first value,
    and some free weight moves by more than ``min_change``."""
    frozen = np.broadcast_to(mask == 0, snapshots.shape)
    initial = np.broadcast_to(snapshots[0], snapshots.shape)
    np.testing.assert_array_equal(snapshots[frozen], initial[frozen])
    assert np.abs(snapshots - initial)[~frozen].max() > min_change


def test_bounded_weights_never_leave_their_interval_even_with_langevin_noise():
    spec = protected_spec()
    rng = np.random.default_rng(1)
    w0 = initial_weights(spec, 2)[W]                                   # as train() draws them
    lo = np.clip(w0 - rng.uniform(0, 0.1, w0.shape), 0, None)
    hi = w0 + rng.uniform(0, 0.1, w0.shape)
    brian2.seed(4)
    result = train(spec, DeviceConfig("runtime", target="numpy"), n_images=12,
                   synapse_state={W: {"w_lo": lo, "w_hi": hi}}, langevin_sigma=0.05)
    w = result.weights[W]
    assert np.all(w >= lo - 1e-12) and np.all(w <= hi + 1e-12)
    assert np.mean(np.isclose(w[-1], lo) | np.isclose(w[-1], hi)) > 0.2     # the bounds were actually hit
