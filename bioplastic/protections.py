"""Protections against catastrophic forgetting, computed after task 1, enforced in task 2.

* Freezing: the fraction ``f`` of largest weights, chosen globally or per neuron, stops
  learning (``plastic_w = 0``).
* Langevin ranges: after task 1, training continues on task 1 data with Gaussian noise on
  every weight update; each weight's recorded trajectory gives its distribution, and the
  weight is confined during task 2 to the interval between two of its quantiles.
* Lateral-inhibition radius is a connectivity choice (``network.lateral_inhibition``).
All of them end up as synapse variables (``plastic_w``, ``w_lo``, ``w_hi``), so they work
on every device.
"""
from __future__ import annotations

import numpy as np

from bioplastic.errors import ConfigError


def freeze_mask(weights: np.ndarray, fraction: float, scope: str = "global") -> np.ndarray:
    """``plastic_w`` for weights [..., n_inputs, n_exc]: 0 for the largest ``fraction``, else 1.

    ``scope="global"``: the largest weights of the whole input layer (per copy);
    ``scope="per_neuron"``: the largest weights of each excitatory neuron's inputs.
    """
    if not 0 <= fraction <= 1:
        raise ConfigError(f"freeze fraction must be in [0, 1], got {fraction}.")
    if scope not in ("global", "per_neuron"):
        raise ConfigError(f"freeze scope must be 'global' or 'per_neuron', got {scope!r}.")
    w = np.asarray(weights)
    axis = (-2, -1) if scope == "global" else (-2,)
    n = np.prod([w.shape[a] for a in axis])
    k = int(round(fraction * n))
    mask = np.ones_like(w)
    if k == 0:
        return mask
    flat = np.moveaxis(w, -2, -1) if scope == "per_neuron" else w
    flat = flat.reshape(flat.shape[:-1] + (-1,)) if scope == "per_neuron" else flat.reshape(flat.shape[:-2] + (-1,))
    order = np.argsort(-flat, axis=-1, kind="stable")[..., :k]
    frozen = np.zeros(flat.shape, bool)
    np.put_along_axis(frozen, order, True, axis=-1)
    if scope == "per_neuron":
        frozen = np.moveaxis(frozen, -1, -2)
    mask[frozen.reshape(w.shape)] = 0
    return mask


def quantile_bounds(trajectory: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-weight bounds from a recorded trajectory [time, ...]: the low and high quantiles."""
    if not 0 <= low < high <= 1:
        raise ConfigError(f"Langevin quantiles must satisfy 0 <= low < high <= 1, got {low}, {high}.")
    trajectory = np.asarray(trajectory)
    if len(trajectory) < 2:
        raise ConfigError("the Langevin phase recorded fewer than 2 samples; lengthen it or record more often.")
    return np.quantile(trajectory, low, axis=0), np.quantile(trajectory, high, axis=0)


def freeze_above_quantile(weights: np.ndarray, fraction: float) -> np.ndarray:
    """``plastic`` mask (1 learns, 0 frozen): the weights strictly above the ``1 - fraction``
    quantile of all of them are frozen, as the reference freezes its decision layer
    (``w > np.percentile(w, 90)``). Ties at the quantile stay plastic, so weights piled up at
    an upper clamp can make the frozen share smaller than ``fraction``: report it."""
    if not 0 < fraction < 1:
        raise ConfigError(f"freeze fraction must be in (0, 1), got {fraction}.")
    w = np.asarray(weights)
    return (w <= np.percentile(w, 100.0 * (1.0 - fraction))).astype(np.float64)


def hyndman_fan_quantiles(samples: np.ndarray, probabilities, alpha: float = 0.4, beta: float = 0.4,
                          block: int = 65536) -> np.ndarray:
    """Quantiles along axis 0 of ``samples`` (time, weights) with plotting positions
    (alpha, beta) (Hyndman & Fan 1996; alpha = beta = 0.4 is ``scipy.stats.mstats.mquantiles``'
    default, which the reference used); computed in column blocks to bound the memory.
    Returns (len(probabilities), weights) float64."""
    x = np.asarray(samples)
    n = len(x)
    if n < 2:
        raise ConfigError("the Langevin phase recorded fewer than 2 snapshots; lengthen it or record more often.")
    p = np.asarray(probabilities, dtype=np.float64)
    position = np.clip(n * p + alpha + p * (1.0 - alpha - beta), 1.0, float(n))   # 1-based
    low = np.floor(position).astype(int)
    frac = position - low
    high = np.minimum(low + 1, n)
    out = np.empty((len(p), x.shape[1]))
    for start in range(0, x.shape[1], block):
        part = np.sort(x[:, start:start + block], axis=0).astype(np.float64)
        out[:, start:start + block] = ((1.0 - frac)[:, None] * part[low - 1] + frac[:, None] * part[high - 1])
    return out
