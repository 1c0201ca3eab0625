"""Datasets: MNIST and EMNIST letters (IDX files), class subsets and balanced samples."""
import difflib

from bioplastic.data.datasets import Dataset, load_emnist_letters, load_mnist, stratified_holdout
from bioplastic.data.sampling import balanced_sample, class_indices, relabel, select_classes
from bioplastic.errors import ConfigError

LOADERS = {"mnist": load_mnist, "emnist_letters": load_emnist_letters}


def load_dataset(name: str, split: str = "train", **kwargs) -> Dataset:
    if name not in LOADERS:
        close = difflib.get_close_matches(str(name), list(LOADERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown dataset {name!r}.{hint} Available: {', '.join(LOADERS)}.")
    return LOADERS[name](split, **kwargs)


__all__ = ["Dataset", "load_dataset", "load_mnist", "load_emnist_letters", "select_classes", "balanced_sample",
           "relabel", "class_indices", "stratified_holdout"]
