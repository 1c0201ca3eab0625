"""Class subsets and balanced, seeded samples of a dataset."""
from __future__ import annotations

import dataclasses

import numpy as np

from bioplastic.data.datasets import Dataset
from bioplastic.errors import ConfigError


def class_indices(dataset: Dataset, classes) -> list[int]:
    """Class indices from ints or class names ('3', 'a'); unknown classes list the valid ones."""
    out = []
    for c in classes:
        if isinstance(c, str) and c in dataset.class_names:
            out.append(dataset.class_names.index(c))
        elif isinstance(c, (int, np.integer)) and 0 <= int(c) < len(dataset.class_names):
            out.append(int(c))
        else:
            raise ConfigError(f"class {c!r} is not in {dataset.name}: valid classes are 0..{len(dataset.class_names) - 1} "
                              f"or the names {', '.join(dataset.class_names)}.")
    if len(set(out)) != len(out):
        raise ConfigError(f"classes {list(classes)} name the same class twice.")
    return out


def select_classes(dataset: Dataset, classes) -> Dataset:
    """The examples of the given classes (labels unchanged; see :func:`relabel`)."""
    keep = np.isin(dataset.labels, class_indices(dataset, classes))
    return dataclasses.replace(dataset, images=dataset.images[keep], labels=dataset.labels[keep])


def relabel(labels: np.ndarray, classes) -> np.ndarray:
    """Dataset labels -> positions 0..k-1 in ``classes`` (the network's segment indices)."""
    lookup = {int(c): k for k, c in enumerate(classes)}
    return np.array([lookup[int(label)] for label in np.asarray(labels).ravel()]).reshape(np.shape(labels))


def balanced_sample(dataset: Dataset, n: int, seed: int, *, indices: bool = False):
    """``n`` examples with per-class counts differing by at most one, shuffled, seeded.

    Returns indices into ``dataset`` when ``indices`` is true, else a Dataset.
    """
    classes = np.unique(dataset.labels)
    if n < 1:
        raise ConfigError(f"sample size must be >= 1, got {n}.")
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), n // len(classes))
    per_class[rng.permutation(len(classes))[: n % len(classes)]] += 1
    chosen = []
    for c, k in zip(classes, per_class):
        pool = np.flatnonzero(dataset.labels == c)
        if len(pool) < k:
            raise ConfigError(f"{dataset.name} {dataset.split}: class {dataset.class_names[c]!r} has {len(pool)} "
                              f"examples, fewer than the {k} requested; ask for fewer images.")
        chosen.append(rng.choice(pool, k, replace=False))
    order = rng.permutation(np.concatenate(chosen))
    if indices:
        return order
    return dataclasses.replace(dataset, images=dataset.images[order], labels=dataset.labels[order])
