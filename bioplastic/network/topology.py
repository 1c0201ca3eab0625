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


def within_radius_between(pre_positions: np.ndarray, post_positions: np.ndarray, radius: float):
    """Pairs (i, j) whose positions, each on its own layer's sheet, are within ``radius``."""
    if radius < 0:
        raise ConfigError(f"radius must be >= 0, got {radius}.")
    diff = pre_positions[:, None, :] - post_positions[None, :, :]
    i, j = np.nonzero(np.sqrt((diff ** 2).sum(-1)) <= radius + 1e-9)
    return i, j


def fixed_probability(n_pre: int, n_post: int, probability: float, seed: int):
    """Each pair independently with ``probability`` (a seeded numpy draw: the same on every device)."""
    if not 0 < probability <= 1:
        raise ConfigError(f"connection probability must be in (0, 1], got {probability}.")
    i, j = all_to_all(n_pre, n_post)
    keep = np.random.default_rng(seed).random(len(i)) < probability
    return i[keep], j[keep]


def _one_to_one_checked(n_pre, n_post, **_):
    if n_pre != n_post:
        raise ConfigError(f"one_to_one needs layers of equal size, got {n_pre} and {n_post}.")
    return one_to_one(n_pre)


def _all_but_self_checked(n_pre, n_post, **_):
    if n_pre != n_post:
        raise ConfigError(f"all_but_self needs layers of equal size, got {n_pre} and {n_post}.")
    return all_but_self(n_pre)


#: Connectivity kinds of a projection: name -> function(n_pre, n_post, **options) -> (i, j).
CONNECTIVITY = {
    "all_to_all": lambda n_pre, n_post, **_: all_to_all(n_pre, n_post),
    "one_to_one": _one_to_one_checked,
    "all_but_self": _all_but_self_checked,
    "within_radius": lambda n_pre, n_post, radius, pre_width, post_width, **_: within_radius_between(
        sheet_positions(n_pre, pre_width), sheet_positions(n_post, post_width), radius),
    "fixed_probability": lambda n_pre, n_post, probability, seed, **_: fixed_probability(
        n_pre, n_post, probability, seed),
}


def connect(kind: str, n_pre: int, n_post: int, *, where: str = "projection", **options):
    """(i, j) of one copy for the connectivity ``kind`` (see :data:`CONNECTIVITY`)."""
    if kind not in CONNECTIVITY:
        raise ConfigError(f"{where}.connectivity: unknown kind {kind!r}; choose one of "
                          f"{', '.join(CONNECTIVITY)}.")
    try:
        return CONNECTIVITY[kind](n_pre, n_post, **options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
