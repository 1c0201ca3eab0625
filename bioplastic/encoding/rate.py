"""Rate coding of images as Poisson spike trains (rate proportional to pixel intensity).

A pixel of intensity p in [0, 255] fires at ``max_rate * p / 255`` (Diehl & Cook 2015 use
63.75 Hz = 255/4 Hz for a white pixel). In discrete time this is a Bernoulli process: a
spike in each time step with probability ``rate * dt``. :func:`poisson_spike_trains`
draws that process exactly, through geometric gaps between spikes, so its cost grows
with the number of spikes, not with pixels times steps.
"""
from __future__ import annotations

import numpy as np


def spike_probability(images: np.ndarray, max_rate_hz: float, dt_s: float) -> np.ndarray:
    """Per-step spike probability of each pixel: ``max_rate * intensity/255 * dt``."""
    p = images.reshape(len(images), -1).astype(np.float64) * (max_rate_hz * dt_s / 255.0)
    if p.max(initial=0) > 1:
        raise ValueError("max_rate * dt exceeds 1: reduce max_rate or the time step.")
    return p


def poisson_spike_trains(images: np.ndarray, max_rate_hz: float, n_steps: int, dt_s: float,
                         rng: np.random.Generator):
    """Spikes of each image over ``n_steps`` steps, as (image, pixel, step) arrays.

    The same trains can then be laid out side by side (one network copy per image,
    batched evaluation) or one after another in time (sequential evaluation).
    """
    p = spike_probability(images, max_rate_hz, dt_s)
    n_images, n_pixels = p.shape
    img, pix = np.nonzero(p)
    probs = p[img, pix]
    # Enough geometric draws that running out is astronomically unlikely; checked below.
    expected = n_steps * probs.max(initial=0)
    n_draws = int(expected + 8 * np.sqrt(expected + 1) + 16)
    gaps = rng.geometric(probs[:, None], size=(len(probs), n_draws))
    steps = np.cumsum(gaps, axis=1) - 1          # first spike at step gap-1 (0-based)
    if len(probs) and (steps[:, -1] < n_steps).any():
        raise RuntimeError("internal: too few geometric draws for the spike trains")
    keep = steps < n_steps
    rows, _ = np.nonzero(keep)
    return img[rows].astype(np.int64), pix[rows].astype(np.int64), steps[keep].astype(np.int64)
