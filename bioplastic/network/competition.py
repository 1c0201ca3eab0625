"""Competition within a convolutional layer: who may fire, and who may learn.

Each neuron of a layer of shape (maps, rows, cols) is described by two arrays of that
shape: its first-spike time (``np.inf`` when it stayed silent; time steps or seconds,
only the order matters) and its potential at that time. From them:

- :func:`pointwise_inhibition` keeps one feature per position, the earliest to fire,
  ties to the larger potential (Mozafari et al. 2018, 2019; SpykeTorch
  ``functional.pointwise_inhibition``).
- :func:`k_winners` picks at most ``k`` winners per image in order of firing (earliest
  first, ties to the larger potential), at most one per feature map; each winner excludes
  every neuron of every map within Chebyshev distance ``radius`` of its position
  (``radius = 0``: no spatial exclusion). Only winners learn (SpykeTorch
  ``functional.get_k_winners``; Mozafari et al. 2019, section 2).

Remaining ties (same time, same potential) go to the lowest flat index (map, row, col),
as ``torch.max`` returns the first maximum. Everything is numpy, vectorised over neurons;
:func:`k_winners` loops only over the ``k`` winners.
"""
from __future__ import annotations

import numpy as np

from bioplastic.errors import ConfigError


def validate_competition(k: int, radius: int, n_maps: int | None = None) -> None:
    """Refuse a k-WTA that cannot be what the user meant, before any simulation."""
    if int(k) != k or k < 1:
        raise ConfigError(f"k (number of winners per image) must be an integer >= 1, got {k!r}.")
    if int(radius) != radius or radius < 0:
        raise ConfigError(f"inhibition radius must be an integer >= 0 (0: no spatial exclusion), got {radius!r}.")
    if n_maps is not None and k > n_maps:
        raise ConfigError(f"k = {k} winners per image, but the layer has only {n_maps} feature maps and each "
                          f"map gives at most one winner: use k <= {n_maps}.")


def first_spike_from_wave(spike_wave: np.ndarray) -> np.ndarray:
    """First-spike step of each neuron from a cumulative spike wave (time first), ``inf`` if silent.

    A cumulative wave (SpykeTorch's layout) has a 1 at every step from the first spike on;
    the first spike is then at ``T - sum over time``.
    """
    wave = np.asarray(spike_wave) != 0
    fired = wave.any(axis=0)
    first = np.argmax(wave, axis=0).astype(np.float64)
    return np.where(fired, first, np.inf)


def value_at_first_spike(potentials: np.ndarray, first_spike: np.ndarray) -> np.ndarray:
    """Potential of each neuron at its first-spike step (0 for silent neurons); time is axis 0."""
    potentials = np.asarray(potentials)
    fired = np.isfinite(first_spike)
    step = np.where(fired, first_spike, 0).astype(np.intp)
    value = np.take_along_axis(potentials, step[None], axis=0)[0]
    return np.where(fired, value, 0.0)


def _check_shapes(first_spike, potential):
    first_spike = np.asarray(first_spike, dtype=np.float64)
    potential = np.asarray(potential, dtype=np.float64)
    if first_spike.shape != potential.shape or first_spike.ndim != 3:
        raise ValueError(f"first_spike and potential must both be (maps, rows, cols); got "
                         f"{first_spike.shape} and {potential.shape}.")
    return first_spike, potential


def pointwise_inhibition(first_spike: np.ndarray, potential: np.ndarray) -> np.ndarray:
    """Mask (maps, rows, cols) of the neurons that survive: at most one map per position.

    The survivor at a position is the earliest to fire there; among simultaneous ones the
    larger potential; then the lower map index. Positions where nothing fired keep nothing.
    """
    first_spike, potential = _check_shapes(first_spike, potential)
    earliest = first_spike.min(axis=0)
    candidate = (first_spike == earliest[None]) & np.isfinite(first_spike)
    best = np.argmax(np.where(candidate, potential, -np.inf), axis=0)   # first max: lowest map
    keep = np.zeros(first_spike.shape, dtype=bool)
    rows, cols = np.indices(earliest.shape)
    keep[best, rows, cols] = np.isfinite(earliest)
    return keep


def firing_order(first_spike: np.ndarray, potential: np.ndarray) -> np.ndarray:
    """Rank of every neuron in firing order (0 first): earlier, then larger potential, then lower index.

    Silent neurons rank after every neuron that fired.
    """
    first_spike, potential = _check_shapes(first_spike, potential)
    t = first_spike.ravel()
    v = potential.ravel()
    order = np.lexsort((np.arange(t.size), -v, t))        # last key is the primary one
    rank = np.empty(t.size, dtype=np.int64)
    rank[order] = np.arange(t.size)
    return rank.reshape(first_spike.shape)


def k_winners(first_spike: np.ndarray, potential: np.ndarray, k: int, radius: int = 0) -> np.ndarray:
    """Winners of one image as an int array (n_winners, 3) of (map, row, col), in firing order.

    Greedy in firing order, as SpykeTorch's ``get_k_winners``: the next winner is the
    earliest (then strongest) neuron not yet excluded; it excludes its whole map and, when
    ``radius > 0``, every map within the square of half-width ``radius`` around its position
    (clipped at the borders). Stops after ``k`` winners or when no fired neuron is left.
    Only neurons that fired are looked at, so the cost follows the spikes, not the layer size.
    """
    validate_competition(k, radius, n_maps=None)
    first_spike, potential = _check_shapes(first_spike, potential)
    fired = np.flatnonzero(np.isfinite(first_spike))
    t, v = first_spike.ravel()[fired], potential.ravel()[fired]
    fired = fired[np.lexsort((fired, -v, t))]          # firing order; last key is the primary one
    f, r, c = np.unravel_index(fired, first_spike.shape)
    alive = np.ones(len(fired), dtype=bool)
    winners = []
    for _ in range(int(k)):
        remaining = np.flatnonzero(alive)
        if not len(remaining):
            break
        w = remaining[0]
        winners.append((f[w], r[w], c[w]))
        alive &= f != f[w]
        if radius:
            alive &= (np.abs(r - r[w]) > radius) | (np.abs(c - c[w]) > radius)
    return np.asarray(winners, dtype=np.int64).reshape(-1, 3)


def winner_mask(winners: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Boolean (maps, rows, cols) mask of the winners: the neurons allowed to learn."""
    mask = np.zeros(shape, dtype=bool)
    winners = np.asarray(winners, dtype=np.int64).reshape(-1, 3)
    mask[winners[:, 0], winners[:, 1], winners[:, 2]] = True
    return mask
