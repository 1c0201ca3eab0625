"""Winner selection equals SpykeTorch's, ported here independently to numpy.

The port below follows SpykeTorch's ``functional.pointwise_inhibition`` and
``functional.get_k_winners`` (github miladmozafari/SpykeTorch) operation by operation,
on SpykeTorch's own layout: potentials and cumulative spike waves of shape
(time, maps, rows, cols). bioplastic's functions take first-spike times and potentials
instead; both must pick the same neurons, ties and borders included.
"""
import numpy as np
import pytest

from bioplastic.errors import ConfigError
from bioplastic.network import competition as comp

# ----------------------------------------------------------------- the reference, ported

def ref_fire(potentials, threshold=None):
    """SpykeTorch ``fire(..., return_thresholded_potentials=True)``."""
    thresholded = potentials.copy()
    if threshold is None:
        thresholded[:-1] = 0                      # only the last step may fire
    else:
        thresholded[thresholded <= threshold] = 0  # torch.threshold_: x <= t -> 0
    return np.sign(thresholded), thresholded


def ref_pointwise_inhibition(thresholded):
    n_steps = thresholded.shape[0]
    max_val = thresholded.max(axis=1, keepdims=True)
    max_idx = thresholded.argmax(axis=1)[:, None]            # first maximum
    clamp = np.sign(max_val)
    earliest = np.clip((n_steps - clamp.sum(axis=0, keepdims=True)).astype(int), 0, n_steps - 1)
    any_spike = clamp[-1:]
    winners = np.take_along_axis(max_idx, earliest, axis=0)  # (1, 1, rows, cols)
    coef = np.zeros((1,) + thresholded.shape[1:])
    np.put_along_axis(coef, winners, any_spike, axis=1)
    return thresholded * coef


def ref_get_k_winners(potentials, kwta=1, inhibition_radius=0, spikes=None):
    if spikes is None:
        spikes = np.sign(potentials)
    n_steps = spikes.shape[0]
    first = np.clip((n_steps - spikes.sum(axis=0, keepdims=True)).astype(int), 0, n_steps - 1)
    values = np.take_along_axis(potentials, first, axis=0)
    truncated = spikes * values
    v = truncated.max() * n_steps
    truncated = truncated + spikes * v
    total = truncated.sum(axis=0)
    winners = []
    for _ in range(kwta):
        idx = int(np.argmax(total))
        if total.flat[idx] == 0:
            break
        f, r, c = np.unravel_index(idx, total.shape)
        winners.append((f, r, c))
        total[f, :, :] = 0
        if inhibition_radius != 0:
            r0, r1 = max(0, r - inhibition_radius), min(total.shape[-2], r + inhibition_radius + 1)
            c0, c1 = max(0, c - inhibition_radius), min(total.shape[-1], c + inhibition_radius + 1)
            total[:, r0:r1, c0:c1] = 0
    return winners


# ----------------------------------------------------------------- fixtures

def random_potentials(seed, n_steps=15, shape=(12, 9, 9), levels=3):
    """Non-decreasing potentials (integrate-and-fire of cumulative input waves).

    Increments are small integers, so equal spike times and equal potentials are common.
    """
    rng = np.random.default_rng(seed)
    increments = rng.integers(0, levels, size=(n_steps,) + shape) * rng.integers(0, 2, size=(n_steps,) + shape)
    return np.cumsum(increments, axis=0).astype(np.float64)


def ours(thresholded, spikes):
    first = comp.first_spike_from_wave(spikes)
    return first, comp.value_at_first_spike(thresholded, first)


# ----------------------------------------------------------------- pointwise inhibition

@pytest.mark.parametrize("seed", range(8))
def test_pointwise_inhibition_keeps_the_same_neurons_as_spyketorch(seed):
    spikes, thresholded = ref_fire(random_potentials(seed), threshold=6)
    expected = ref_pointwise_inhibition(thresholded).sum(axis=0) > 0
    keep = comp.pointwise_inhibition(*ours(thresholded, spikes))
    assert keep.sum() > 0 and (keep == expected).all()
    assert keep.sum(axis=0).max() == 1                      # one map per position


def test_pointwise_inhibition_earliest_wins_then_larger_potential_then_lower_map():
    inf = np.inf
    t = np.array([[[3.0]], [[2.0]], [[2.0]], [[2.0]], [[inf]]])
    v = np.array([[[99.]], [[5.0]], [[7.0]], [[7.0]], [[0.0]]])
    assert comp.pointwise_inhibition(t, v)[:, 0, 0].tolist() == [False, False, True, False, False]
    silent = np.full((3, 2, 2), inf)
    assert not comp.pointwise_inhibition(silent, np.zeros_like(silent)).any()


# ----------------------------------------------------------------- k winners

@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("k,radius", [(1, 0), (5, 0), (5, 3), (8, 1), (8, 2), (12, 5), (12, 9)])
def test_k_winners_after_pointwise_inhibition_equal_spyketorch(seed, k, radius):
    """The S1/S2 training path of MozafariDeep: fire, pointwise inhibition, then k-WTA."""
    _, thresholded = ref_fire(random_potentials(seed), threshold=6)
    pot = ref_pointwise_inhibition(thresholded)
    spk = np.sign(pot)
    expected = ref_get_k_winners(pot, k, radius, spk)
    got = comp.k_winners(*ours(pot, spk), k=k, radius=radius)
    assert [tuple(w) for w in got.tolist()] == [tuple(int(x) for x in w) for w in expected]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k,radius", [(3, 0), (6, 1), (6, 4)])
def test_k_winners_without_pointwise_inhibition_equal_spyketorch(seed, k, radius):
    """Several maps may fire at one position; radius 0 then lets two of them win there."""
    spikes, thresholded = ref_fire(random_potentials(100 + seed, shape=(7, 5, 6)), threshold=4)
    expected = ref_get_k_winners(thresholded, k, radius, spikes)
    got = comp.k_winners(*ours(thresholded, spikes), k=k, radius=radius)
    assert [tuple(w) for w in got.tolist()] == [tuple(int(x) for x in w) for w in expected]


@pytest.mark.parametrize("seed", range(6))
def test_decision_winner_is_the_largest_final_potential_as_in_spyketorch(seed):
    """Decision layer: no threshold, every positive neuron fires at the last step."""
    potentials = random_potentials(200 + seed, shape=(20, 4, 4))
    spikes, _ = ref_fire(potentials, threshold=None)
    expected = ref_get_k_winners(potentials, 1, 0, spikes)
    got = comp.k_winners(*ours(potentials, spikes), k=1, radius=0)
    assert [tuple(w) for w in got.tolist()] == [tuple(int(x) for x in w) for w in expected]


def test_each_winner_excludes_its_map_and_the_chebyshev_square_around_it():
    inf = np.inf
    t = np.full((3, 6, 6), inf)
    v = np.zeros((3, 6, 6))
    t[0, 0, 0], v[0, 0, 0] = 0, 1      # first winner, at the corner (clipped window)
    t[0, 5, 5], v[0, 5, 5] = 1, 1      # same map: excluded
    t[1, 2, 2], v[1, 2, 2] = 1, 1      # Chebyshev distance 2 from (0, 0): excluded iff radius >= 2
    t[2, 0, 3], v[2, 0, 3] = 2, 1      # distance 3: excluded iff radius >= 3
    assert comp.k_winners(t, v, k=3, radius=0).tolist() == [[0, 0, 0], [1, 2, 2], [2, 0, 3]]
    assert comp.k_winners(t, v, k=3, radius=1).tolist() == [[0, 0, 0], [1, 2, 2], [2, 0, 3]]
    assert comp.k_winners(t, v, k=3, radius=2).tolist() == [[0, 0, 0], [2, 0, 3]]
    assert comp.k_winners(t, v, k=3, radius=3).tolist() == [[0, 0, 0]]
    assert comp.k_winners(t, v, k=1, radius=0).tolist() == [[0, 0, 0]]


def test_silent_layer_has_no_winner_and_mask_marks_winners():
    t = np.full((2, 3, 3), np.inf)
    assert comp.k_winners(t, np.zeros_like(t), k=2).shape == (0, 3)
    mask = comp.winner_mask(np.array([[1, 2, 0]]), (2, 3, 3))
    assert mask.sum() == 1 and mask[1, 2, 0]


@pytest.mark.parametrize("k,radius,n_maps", [(0, 0, 5), (6, 0, 5), (2, -1, 5), (1.5, 0, 5), (2, 0.5, 5)])
def test_bad_competition_settings_are_refused_with_a_clear_error(k, radius, n_maps):
    with pytest.raises(ConfigError):
        comp.validate_competition(k, radius, n_maps)


def test_firing_order_ranks_earlier_then_stronger_then_lower_index_and_silent_last():
    t = np.array([[[2.0, 1.0, np.inf, 1.0]]])
    v = np.array([[[9.0, 3.0, 50.0, 3.0]]])
    assert comp.firing_order(t, v)[0, 0].tolist() == [2, 0, 3, 1]
