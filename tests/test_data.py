"""Dataset loading: formats, orientation, checksums, hold-out, sampling, and clear errors."""
import gzip

import numpy as np
import pytest

from bioplastic.data import (balanced_sample, load_dataset, load_emnist_letters, load_mnist, relabel,
                             select_classes)
from bioplastic.data.idx import read_idx, write_idx
from bioplastic.errors import ConfigError, DataError


def make_mnist_dir(tmp_path, n=30):
    rng = np.random.default_rng(0)
    root = tmp_path / "data" / "mnist"
    root.mkdir(parents=True)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root, images, labels


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOPLASTIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIOPLASTIC_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_idx_round_trip(tmp_path):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz", 2051), array)


def test_mnist_loads_local_files_without_checksum_when_asked(synthetic):
    _, images, labels = make_mnist_dir(synthetic)
    data = load_mnist("train", verify=False)
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)


def test_checksum_mismatch_is_an_error_naming_the_file(synthetic):
    make_mnist_dir(synthetic)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz does not match its pinned SHA-256"):
        load_mnist("train")


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:100]), "corrupt"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-50])), "truncated"),
    (lambda p: p.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + gzip.decompress(p.read_bytes())[4:])),
     "magic number 2049"),
])
def test_corrupt_files_are_explained(synthetic, damage, message):
    root, _, _ = make_mnist_dir(synthetic)
    damage(root / "train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match=message):
        load_mnist("train", verify=False)


def test_missing_file_offline_names_directory_and_files(synthetic):
    with pytest.raises(DataError) as info:
        load_mnist("test")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "BIOPLASTIC_OFFLINE" in message
    assert str(synthetic / "data" / "mnist") in message and "BIOPLASTIC_DATA_DIR" in message


def test_emnist_is_transposed_upright_labels_shifted_and_held_out(synthetic):
    root = synthetic / "data" / "emnist-letters"
    root.mkdir(parents=True)
    n_per = 6
    labels = np.repeat(np.arange(1, 27), n_per).astype(np.uint8)
    images = np.zeros((len(labels), 28, 28), np.uint8)
    images[:, 2, :] = 255            # stored transposed: a row in the file is a column upright
    images[:, 0, 0] = np.arange(len(labels)) % 256
    write_idx(root / "emnist-letters-train-images-idx3-ubyte.gz", images)
    write_idx(root / "emnist-letters-train-labels-idx1-ubyte.gz", labels)
    test = load_emnist_letters("test", holdout_per_class=2, seed=1, verify=False)
    train = load_emnist_letters("train", holdout_per_class=2, seed=1, verify=False)
    assert test.images[0, :, 2].min() == 255 and test.images[0, 2, 3] == 0       # upright
    assert np.bincount(test.labels).tolist() == [2] * 26                       # 1..26 -> 0..25, stratified
    assert len(train) == len(labels) - 52 and test.class_names[0] == "a"
    def ids(d):   # each synthetic image is identified by (pixel marker, label)
        return set((d.images[:, 0, 0].astype(int) + 256 * d.labels).tolist())
    assert not ids(train) & ids(test)                                          # disjoint
    again = load_emnist_letters("test", holdout_per_class=2, seed=1, verify=False)
    np.testing.assert_array_equal(again.images, test.images)                   # deterministic
    assert "hold-out" in test.note


def test_balanced_sample_and_classes(synthetic):
    make_mnist_dir(synthetic, n=60)
    data = select_classes(load_mnist("train", verify=False), [1, "3", 7])
    assert set(data.labels.tolist()) == {1, 3, 7}
    sample = balanced_sample(data, 8, seed=4)
    counts = np.bincount(sample.labels, minlength=10)[[1, 3, 7]]
    assert counts.sum() == 8 and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(balanced_sample(data, 8, seed=4, indices=True),
                                  balanced_sample(data, 8, seed=4, indices=True))
    assert relabel(np.array([7, 1, 3]), [1, 3, 7]).tolist() == [2, 0, 1]
    with pytest.raises(ConfigError, match="class 12 is not in mnist"):
        select_classes(data, [1, 12])
    with pytest.raises(ConfigError, match="fewer than the 10 requested"):
        balanced_sample(data, 30, seed=0)
    with pytest.raises(ConfigError, match="Did you mean 'mnist'"):
        load_dataset("mnsit")


@pytest.mark.data
def test_real_mnist_counts(real_data):
    train, test = load_mnist("train"), load_mnist("test")
    assert np.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert len(test) == 10000


@pytest.mark.data
def test_real_emnist_letters_holdout_and_orientation(real_data):
    test = load_emnist_letters("test")
    train = load_emnist_letters("train")
    assert len(test) == 20800 and np.bincount(test.labels).tolist() == [800] * 26
    assert len(train) == 124800 - 20800
    mean_l = test.images[test.labels == test.class_names.index("l")].mean(0)
    rows = np.flatnonzero(mean_l.sum(1) > 0.2 * mean_l.sum(1).max())
    cols = np.flatnonzero(mean_l.sum(0) > 0.2 * mean_l.sum(0).max())
    assert np.ptp(rows) > 1.4 * np.ptp(cols)          # an upright 'l' is taller than wide
