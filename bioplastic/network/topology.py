"""Connectivity patterns as index arrays ``(i, j)``, built with numpy (never Python loops).

All functions return presynaptic indices ``i`` and postsynaptic indices ``j`` for one
copy of the network; :func:`replicate` repeats a pattern block-diagonally for independent
copies (seeds in training, test images in batched evaluation).
"""
from __future__ import annotations

import numpy as np

from bioplastic.errors import ConfigError


def all_to_all(n_pre: int, n_post: int):
    i, j = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
    return i.ravel(), j.ravel()


def one_to_one(n: int):
    idx = np.arange(n)
    return idx, idx.copy()


def all_but_self(n: int):
    """Every neuron to every other neuron: lateral inhibition of Diehl & Cook (2015)."""
    i, j = all_to_all(n, n)
    keep = i != j
    return i[keep], j[keep]


def sheet_positions(n: int, width: int | None = None) -> np.ndarray:
    """Positions of ``n`` neurons on a 2-D sheet, row-major, ``width`` columns (default: square)."""
    width = width or int(np.ceil(np.sqrt(n)))
    idx = np.arange(n)
    return np.stack([idx % width, idx // width], axis=1).astype(float)


def within_radius(positions: np.ndarray, radius: float, include_self: bool = False):
    """Pairs of neurons whose Euclidean distance on the sheet is <= radius (R = 0: none)."""
    if radius < 0:
        raise ConfigError(f"lateral inhibition radius must be >= 0, got {radius}.")
    diff = positions[:, None, :] - positions[None, :, :]
    dist = np.sqrt((diff ** 2).sum(-1))
    mask = dist <= radius + 1e-9
    if not include_self:
        np.fill_diagonal(mask, False)
    i, j = np.nonzero(mask)
    return i, j


def replicate(i: np.ndarray, j: np.ndarray, n_pre: int, n_post: int, n_copies: int):
    """Repeat a connectivity pattern for independent copies: copy c uses blocks c*n_pre, c*n_post."""
    offsets = np.arange(n_copies)[:, None]
    return (i[None, :] + offsets * n_pre).ravel(), (j[None, :] + offsets * n_post).ravel()
