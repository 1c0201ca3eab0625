"""Class subsets, stratified hold-outs and balanced, seeded samples of a dataset.

Labels are never renumbered here, so a subset still says which digit or letter each image
is; :func:`relabel` maps them to 0..k-1 where a network needs contiguous class indices.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from bioplastic.errors import ConfigError

if TYPE_CHECKING:
    from bioplastic.data.datasets import Dataset


def _class_index(c, class_names: tuple[str, ...], dataset_name: str) -> int:
    """One class given as an int index or as a name ('3', 'a') -> its index."""
    if isinstance(c, str) and c in class_names:
        return class_names.index(c)
    if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= int(c) < len(class_names):
        return int(c)
    raise ConfigError(f"class {c!r} is not in {dataset_name}: valid classes are the indices "
                      f"0..{len(class_names) - 1} or the names {', '.join(class_names)}. Fix the class list "
                      "(e.g. data.classes in the config).")


def class_indices(dataset: Dataset, classes: Iterable) -> list[int]:
    """Class indices from ints or class names; unknown or repeated classes are ConfigErrors."""
    out = [_class_index(c, dataset.class_names, dataset.name) for c in classes]
    if not out:
        raise ConfigError(f"no classes given for {dataset.name}: name at least one of "
                          f"{', '.join(dataset.class_names)}.")
    if len(set(out)) != len(out):
        raise ConfigError(f"the classes {list(classes)} name the same class more than once; list each once.")
    return out


def _subset(dataset: Dataset, index: np.ndarray) -> Dataset:
    return dataclasses.replace(dataset, images=dataset.images[index], labels=dataset.labels[index])


def select_classes(dataset: Dataset, classes: Iterable) -> Dataset:
    """The examples of the given classes, in dataset order (labels unchanged; see :func:`relabel`)."""
    return _subset(dataset, np.flatnonzero(np.isin(dataset.labels, class_indices(dataset, classes))))


def relabel(labels: np.ndarray, classes: Iterable, class_names: tuple[str, ...] | None = None) -> np.ndarray:
    """Dataset labels -> their positions 0..k-1 in ``classes`` (e.g. the network's output groups).

    ``classes`` are indices, or names when ``class_names`` (``dataset.class_names``) is given.
    Works on arrays of any shape; a label not among ``classes`` is a ConfigError.
    """
    classes = list(classes)
    if class_names is not None:
        index = [_class_index(c, tuple(class_names), "the dataset") for c in classes]
    elif all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes):
        index = [int(c) for c in classes]
    else:
        raise ConfigError(f"relabel got class names {classes} without class_names: pass "
                          "class_names=dataset.class_names, or give the classes as integer indices.")
    labels = np.asarray(labels, dtype=np.int64)
    lookup = np.full(max(index + [int(labels.max(initial=0))]) + 1, -1, dtype=np.int64)
    lookup[index] = np.arange(len(index))
    out = np.where(labels >= 0, lookup[np.maximum(labels, 0)], -1)
    if (out < 0).any():
        stray = np.unique(labels[out < 0]).tolist()
        raise ConfigError(f"labels {stray[:10]} are not among the classes {classes}; select those classes "
                          "first (select_classes) or add them to the class list.")
    return out


def take_per_class(labels: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``counts[c]`` randomly chosen examples of every class ``c``.

    One permutation plus a stable sort by label, so there is no loop over classes and the
    choice depends only on ``rng``. The caller checks that every class has enough examples.
    """
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    per_class = np.bincount(labels, minlength=len(counts))
    rank_in_class = np.arange(len(labels)) - np.repeat(np.cumsum(per_class) - per_class, per_class)
    wanted = np.zeros(len(per_class), dtype=np.int64)
    wanted[: len(counts)] = counts
    return np.sort(order[rank_in_class < wanted[labels[order]]])


def stratified_holdout(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` seeded random examples of every class present.

    Every class must keep at least one example outside the hold-out, else ConfigError.
    """
    labels = np.asarray(labels, dtype=np.int64)
    available = np.bincount(labels)
    present = available > 0
    if per_class < 1 or per_class >= available[present].min():
        raise ConfigError(f"holdout_per_class={per_class} must be at least 1 and smaller than the "
                          f"{available[present].min()} examples of the smallest class; choose a value in "
                          f"1..{available[present].min() - 1}.")
    return take_per_class(labels, np.where(present, per_class, 0), np.random.default_rng(seed))


def balanced_sample(dataset: Dataset, n: int, seed: int, classes: Iterable | None = None, *,
                    indices: bool = False):
    """``n`` examples, per-class counts differing by at most one, shuffled, fixed by ``seed``.

    ``classes`` (ints or names) restricts the sample; by default every class present is
    used. When ``n`` is not a multiple of the number of classes, a seeded random choice of
    classes gets one example more. Returns a Dataset, or the indices into ``dataset`` when
    ``indices`` is true.
    """
    chosen = (np.array(class_indices(dataset, classes)) if classes is not None
              else np.unique(dataset.labels))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"the sample size must be a positive integer, got {n!r}.")
    rng = np.random.default_rng(seed)
    per_chosen = np.full(len(chosen), n // len(chosen))
    per_chosen[rng.permutation(len(chosen))[: n % len(chosen)]] += 1
    counts = np.zeros(len(dataset.class_names), dtype=np.int64)
    counts[chosen] = per_chosen
    available = np.bincount(dataset.labels, minlength=len(counts))
    short = np.flatnonzero(available < counts)
    if short.size:
        c = short[0]
        raise ConfigError(f"{dataset.name} {dataset.split}: class {dataset.class_names[c]!r} has {available[c]} "
                          f"examples, fewer than the {counts[c]} a balanced sample of {n} over {len(chosen)} "
                          "classes needs; ask for fewer examples or fewer classes.")
    order = rng.permutation(take_per_class(dataset.labels, counts, rng))
    return order if indices else _subset(dataset, order)


def sample_indices(dataset: Dataset, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` examples: the whole split, shuffled, when ``n`` is its size (MNIST's
    classes are not balanced, so a balanced sample cannot take all of it), else
    :func:`balanced_sample`; fixed by ``seed``."""
    if n == len(dataset.labels):
        return np.random.default_rng(seed).permutation(n)
    return balanced_sample(dataset, n, seed=seed, indices=True)
