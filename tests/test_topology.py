"""Connectivity patterns connect exactly what their names say."""
import numpy as np
import pytest

from bioplastic.errors import ConfigError
from bioplastic.network import topology


def as_set(i, j):
    return set(zip(i.tolist(), j.tolist()))


def test_one_to_one_connects_each_neuron_to_its_partner_only():
    assert as_set(*topology.one_to_one(7)) == {(k, k) for k in range(7)}


def test_all_but_self_connects_every_other_neuron():
    pairs = as_set(*topology.all_but_self(6))
    assert pairs == {(a, b) for a in range(6) for b in range(6) if a != b}


def test_all_to_all_is_complete():
    assert as_set(*topology.all_to_all(3, 4)) == {(a, b) for a in range(3) for b in range(4)}


@pytest.mark.parametrize("radius", [0, 1, 1.5, 2, 3])
def test_radius_connects_exactly_the_neurons_within_r_on_the_sheet(radius):
    pos = topology.sheet_positions(25, width=5)
    pairs = as_set(*topology.within_radius(pos, radius))
    expected = {(a, b) for a in range(25) for b in range(25)
                if a != b and np.hypot(*(pos[a] - pos[b])) <= radius}
    assert pairs == expected
    if radius == 0:
        assert pairs == set()
    if radius == 1:   # von Neumann neighbourhood: the centre of a 5x5 sheet has 4 neighbours
        assert {b for a, b in pairs if a == 12} == {7, 11, 13, 17}


def test_negative_radius_is_rejected():
    with pytest.raises(ConfigError, match="radius must be >= 0"):
        topology.within_radius(topology.sheet_positions(4), -1)


def test_replicate_keeps_copies_independent():
    i, j = topology.replicate(*topology.all_but_self(3), 3, 3, n_copies=4)
    assert len(i) == 4 * 6
    assert np.all(i // 3 == j // 3)                       # never across copies
    assert as_set(i[i < 3], j[i < 3]) == as_set(*topology.all_but_self(3))
