"""Datasets: MNIST and EMNIST letters (IDX files), class subsets and balanced samples.

Loaders return a :class:`Dataset` (uint8 images (N, 28, 28) in MNIST orientation, int64
labels, class names, provenance note); see :mod:`bioplastic.data.datasets` for where files
are looked up and how they are verified.
"""
import difflib

from bioplastic.data.datasets import (Dataset, data_file_records, load_emnist_letters, load_mnist,
                                      recording_data_files)
from bioplastic.data.sampling import (balanced_sample, class_indices, relabel, sample_indices, select_classes,
                                      stratified_holdout)
from bioplastic.errors import ConfigError

LOADERS = {"mnist": load_mnist, "emnist_letters": load_emnist_letters}


def load_dataset(name: str, split: str = "train", **kwargs) -> Dataset:
    """Load a dataset by its config name ('mnist', 'emnist_letters'); ``kwargs`` go to its loader."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in LOADERS:
        close = difflib.get_close_matches(key, list(LOADERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown dataset {name!r}.{hint} Available datasets: {', '.join(LOADERS)}; "
                          "fix data.dataset in the config.")
    return LOADERS[key](split, **kwargs)


__all__ = ["Dataset", "load_dataset", "load_mnist", "load_emnist_letters", "select_classes", "balanced_sample",
           "relabel", "class_indices", "stratified_holdout", "sample_indices", "recording_data_files",
           "data_file_records"]
