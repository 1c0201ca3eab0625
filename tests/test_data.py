"""Dataset loading: IDX format, orientation, labels, checksums, hold-out, sampling and clear errors.

Fast tests use small synthetic IDX files; tests marked ``data`` use the real files in
../shared/data (the ``real_data`` fixture of conftest skips them when absent).
"""
import gzip
import os
import hashlib
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import bioplastic.data.datasets as datasets
from bioplastic.data import (balanced_sample, load_dataset, load_emnist_letters, load_mnist, relabel,
                             select_classes)
from bioplastic.data.datasets import EMNIST_LETTERS, MNIST
from bioplastic.data.idx import IMAGES_MAGIC, LABELS_MAGIC, encode_idx, read_idx, write_idx
from bioplastic.errors import ConfigError, DataError

pytestmark = pytest.mark.filterwarnings("ignore:EMNIST-letters official test images not found")

N_LETTERS, N_DIGITS = 26, 10
PER_LETTER = 5           # synthetic EMNIST training images per letter
HOLDOUT = 2              # synthetic hold-out per letter


def name_of(source, split, kind):
    return source.files[(split, kind)].name


def write_split(directory, source, split, images, labels):
    """Write one split of ``source`` as gzipped IDX files; returns (images path, labels path)."""
    directory.mkdir(parents=True, exist_ok=True)
    return (write_idx(directory / name_of(source, split, "images"), images),
            write_idx(directory / name_of(source, split, "labels"), labels))


def distinct_images(n, seed=0):
    """n random images, each different from the others (index written into two pixels)."""
    images = np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[:, 27, 26], images[:, 27, 27] = np.arange(n) // 256, np.arange(n) % 256
    return images


def identities(dataset):
    return {image.tobytes() for image in dataset.images}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty BIOPLASTIC_DATA_DIR, offline, with a private cache."""
    monkeypatch.setenv("BIOPLASTIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIOPLASTIC_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "data"


@pytest.fixture
def mnist_files(data_dir):
    """Synthetic MNIST: 60 train / 20 test images, labels cycling 0..9."""
    out = {}
    for split, n in (("train", 60), ("test", 20)):
        images, labels = distinct_images(n, seed=n), (np.arange(n) % N_DIGITS).astype(np.uint8)
        out[split] = (*write_split(data_dir / MNIST.subdir, MNIST, split, images, labels), images, labels)
    return out


@pytest.fixture
def letters_files(data_dir):
    """Synthetic EMNIST letters training files (labels 1..26, PER_LETTER each), no test images."""
    labels = np.tile(np.arange(1, N_LETTERS + 1), PER_LETTER).astype(np.uint8)
    images = distinct_images(len(labels))
    write_split(data_dir / EMNIST_LETTERS.subdir, EMNIST_LETTERS, "train", images, labels)
    return images, labels


def letters(split, seed=0, **kw):
    return load_emnist_letters(split, holdout_per_class=HOLDOUT, seed=seed, verify=False, **kw)


# ----------------------------------------------------------------------------- IDX format

@pytest.mark.parametrize("file_name", ["x-idx3-ubyte.gz", "x-idx3-ubyte"])
def test_idx_round_trip_gzipped_and_raw(tmp_path, file_name):
    images = distinct_images(3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / file_name, images), IMAGES_MAGIC), images)
    labels = np.array([7, 0, 255], np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "y.gz", labels), LABELS_MAGIC), labels)


def test_mnist_round_trip_from_data_dir_or_its_root(mnist_files, data_dir):
    _, _, images, labels = mnist_files["train"]
    data = load_mnist("train", verify=False)
    np.testing.assert_array_equal(data.images, images)
    assert data.labels.dtype == np.int64 and data.labels.tolist() == labels.tolist()
    assert data.class_names == tuple("0123456789") and (data.name, data.split) == ("mnist", "train")
    for path in (data_dir / MNIST.subdir).iterdir():          # files directly in BIOPLASTIC_DATA_DIR work too
        path.rename(data_dir / path.name)
    assert str(data_dir) in load_mnist("test", verify=False).note


def damage_payload(path, edit):
    path.write_bytes(gzip.compress(edit(gzip.decompress(path.read_bytes()))))


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]), "not a valid gzip file"),
    (lambda p: p.write_bytes(p.read_bytes()[:-8] + b"\xff" * 8), "not a valid gzip file"),      # bad CRC
    (lambda p: damage_payload(p, lambda b: b[:-50]), "it is truncated"),
    (lambda p: damage_payload(p, lambda b: b + b"\x00"), "longer than declared"),
    (lambda p: damage_payload(p, lambda b: b[:10]), "too few for the 16-byte header"),
    (lambda p: damage_payload(p, lambda b: LABELS_MAGIC.to_bytes(4, "big") + b[4:]), "magic number is 2049"),
])
def test_damaged_files_are_errors_naming_the_file_and_the_fix(mnist_files, damage, message):
    images_path = mnist_files["train"][0]
    damage(images_path)
    with pytest.raises(DataError, match=message) as info:
        load_mnist("train", verify=False)
    assert str(images_path) in str(info.value) and "download it again" in str(info.value)


def test_mismatched_files_and_label_ranges_are_errors(mnist_files):
    images_path, labels_path, images, labels = mnist_files["train"]
    write_idx(labels_path, labels[:-1])
    with pytest.raises(DataError, match="do not belong together"):
        load_mnist("train", verify=False)
    write_idx(labels_path, np.full(len(images), 10, np.uint8))
    with pytest.raises(DataError, match="expected 0..9"):
        load_mnist("train", verify=False)


# ----------------------------------------------------------------------------- missing files

def test_missing_file_offline_names_directories_files_and_fix(data_dir):
    with pytest.raises(DataError) as info:
        load_mnist("test")
    message = str(info.value)
    assert str(data_dir / "mnist") in message and str(data_dir) in message
    assert all(f.name in message for f in MNIST.files.values())
    assert "BIOPLASTIC_OFFLINE is set, so no download was attempted" in message
    assert "export BIOPLASTIC_DATA_DIR=" in message


def test_failed_download_tries_every_mirror_and_explains(data_dir, monkeypatch):
    import pooch
    monkeypatch.delenv("BIOPLASTIC_OFFLINE")
    tried = []

    def no_network(url, **kwargs):
        tried.append(url)
        raise ConnectionError("network unreachable")
    monkeypatch.setattr(pooch, "retrieve", no_network)
    with pytest.raises(DataError, match="Downloading it failed.*network unreachable") as info:
        load_mnist("train")
    assert tried == [base + name_of(MNIST, "train", "images") for base in MNIST.mirrors]
    assert "export BIOPLASTIC_DATA_DIR=" in str(info.value)


def test_letters_never_download_just_for_missing_test_images(letters_files, monkeypatch):
    import pooch
    monkeypatch.delenv("BIOPLASTIC_OFFLINE")
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: pytest.fail("attempted a download"))
    assert len(letters("test")) == N_LETTERS * HOLDOUT


def test_letters_download_unpacks_every_member_of_the_nist_zip(data_dir, tmp_path, monkeypatch):
    """A stand-in for pooch.retrieve 'downloads' a local zip and runs the real Unzip processor."""
    import pooch
    monkeypatch.delenv("BIOPLASTIC_OFFLINE")
    labels = {"train": np.tile(np.arange(1, N_LETTERS + 1), PER_LETTER), "test": np.arange(1, N_LETTERS + 1)}
    archive = tmp_path / "gzip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for (split, kind), data_file in EMNIST_LETTERS.files.items():
            array = distinct_images(len(labels[split])) if kind == "images" else labels[split].astype(np.uint8)
            zf.writestr(EMNIST_LETTERS.archive_member_dir + data_file.name, gzip.compress(encode_idx(array)))

    def fake_retrieve(url, known_hash, fname, path, processor, progressbar):
        assert url == EMNIST_LETTERS.archive_url and progressbar
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.copy(archive, Path(path) / fname)
        return processor(str(Path(path) / fname), "download", None)
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    test = letters("test")
    assert len(test) == N_LETTERS and "official test split" in test.note
    cached = Path(datasets.cache_dir()) / EMNIST_LETTERS.subdir
    assert sorted(p.name for p in cached.iterdir()) == sorted(f.name for f in EMNIST_LETTERS.files.values())


# ----------------------------------------------------------------------------- checksums

def test_checksums_are_on_by_default_and_can_be_replaced(mnist_files):
    images_path = mnist_files["train"][0]
    with pytest.raises(DataError, match="does not match its pinned SHA-256") as info:
        load_mnist("train")
    assert str(images_path) in str(info.value) and "data.verify=false" in str(info.value)
    payload = gzip.decompress(images_path.read_bytes())
    own = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in mnist_files["train"][:2]}
    assert len(load_mnist("train", checksums=own)) == 60
    images_path.write_bytes(gzip.compress(payload, compresslevel=1))       # re-compressed: .gz bytes differ
    by_payload = {**own, images_path.name: hashlib.sha256(payload).hexdigest()}
    with pytest.raises(DataError, match="does not match"):
        load_mnist("train", checksums=own)
    assert len(load_mnist("train", checksums=by_payload)) == 60


def test_verification_is_remembered_until_the_file_changes(mnist_files, monkeypatch):
    images_path, labels_path = mnist_files["train"][:2]
    own = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (images_path, labels_path)}
    load_mnist("train", checksums=own)
    hashed = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(datasets.hashlib, "sha256", lambda data: hashed.append(len(data)) or real_sha256(data))
    load_mnist("train", checksums=own)
    assert hashed == []                                                  # remembered: nothing hashed again
    write_idx(images_path, distinct_images(60, seed=1))                  # new content, new size/mtime
    with pytest.raises(DataError, match="does not match"):
        load_mnist("train", checksums=own)


def test_an_edit_in_place_that_restores_size_and_mtime_is_still_caught(mnist_files):
    images_path, labels_path = mnist_files["train"][:2]
    own = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (images_path, labels_path)}
    load_mnist("train", checksums=own)                                   # verified and remembered
    before = images_path.stat()
    raw = bytearray(images_path.read_bytes())
    raw[4] ^= 0xFF                         # a byte of the gzip header's timestamp: same size, still valid gzip
    images_path.write_bytes(bytes(raw))
    os.utime(images_path, ns=(before.st_atime_ns, before.st_mtime_ns))   # mtime put back
    assert images_path.stat().st_size == before.st_size and images_path.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(DataError, match="does not match its pinned SHA-256"):   # hashed again, not trusted
        load_mnist("train", checksums=own)


# ----------------------------------------------------------------------------- EMNIST letters

def test_letters_are_transposed_upright_and_labels_shifted(data_dir):
    labels = np.arange(1, N_LETTERS + 1, dtype=np.uint8).repeat(PER_LETTER)
    images = np.zeros((len(labels), 28, 28), np.uint8)
    images[:, 3, 10] = 255                     # file orientation: row 3, column 10
    write_split(data_dir / EMNIST_LETTERS.subdir, EMNIST_LETTERS, "train", images, labels)
    data = letters("train")
    assert (data.images[:, 10, 3] == 255).all() and data.images.sum() == 255 * len(data)
    assert data.class_names == tuple("abcdefghijklmnopqrstuvwxyz")
    assert sorted(set(data.labels.tolist())) == list(range(N_LETTERS))         # 1..26 -> 0..25
    assert data.images.flags.c_contiguous and data.labels.dtype == np.int64


def test_letters_holdout_is_disjoint_stratified_deterministic_and_warned_once(letters_files):
    images, labels = letters_files
    datasets._warn_once.cache_clear()
    with pytest.warns(UserWarning, match="official test images not found"):
        test = letters("test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train = letters("train")
    assert np.bincount(test.labels).tolist() == [HOLDOUT] * N_LETTERS
    assert np.bincount(train.labels).tolist() == [PER_LETTER - HOLDOUT] * N_LETTERS
    assert not identities(train) & identities(test)
    assert identities(train) | identities(test) == {image.T.tobytes() for image in images}
    for part in (train, test):            # each image kept its own label
        original = {image.T.tobytes(): label - 1 for image, label in zip(images, labels)}
        assert all(original[image.tobytes()] == label for image, label in zip(part.images, part.labels))
    assert "stratified hold-out of 2 images per letter from the training split (seed 0)" in test.note
    np.testing.assert_array_equal(letters("test").images, test.images)
    assert identities(letters("test", seed=1)) != identities(test)


def test_letters_use_the_official_test_split_when_present(letters_files, data_dir):
    labels = np.arange(1, N_LETTERS + 1, dtype=np.uint8)
    write_split(data_dir / EMNIST_LETTERS.subdir, EMNIST_LETTERS, "test", distinct_images(N_LETTERS, 5), labels)
    test, train = letters("test"), letters("train")
    assert len(test) == N_LETTERS and len(train) == N_LETTERS * PER_LETTER
    assert "official test split" in test.note and "hold-out" not in test.note


def test_official_letters_test_images_are_checked_against_their_pin(letters_files, data_dir):
    images_path, _ = write_split(data_dir / EMNIST_LETTERS.subdir, EMNIST_LETTERS, "test",
                                 distinct_images(N_LETTERS), np.arange(1, N_LETTERS + 1, dtype=np.uint8))
    train_names = [name_of(EMNIST_LETTERS, "train", kind) for kind in ("images", "labels")]
    own = {name: hashlib.sha256((images_path.parent / name).read_bytes()).hexdigest() for name in train_names}
    with pytest.raises(DataError, match="emnist-letters-test-images.*does not match.*50f0e93d"):
        load_emnist_letters("test", checksums=own)


def test_holdout_larger_than_a_class_is_a_config_error(letters_files):
    with pytest.raises(ConfigError, match="holdout_per_class=5 must be .* smaller than the 5"):
        load_emnist_letters("test", holdout_per_class=PER_LETTER, verify=False)


# ----------------------------------------------------------------------------- sampling

def test_select_classes_by_index_or_name_and_unknown_classes(mnist_files):
    data = select_classes(load_mnist("train", verify=False), [1, "3", np.int64(7)])
    assert set(data.labels.tolist()) == {1, 3, 7} and len(data) == 18
    with pytest.raises(ConfigError, match=r"class 12 is not in mnist: valid classes are the indices 0..9"):
        select_classes(data, [1, 12])
    with pytest.raises(ConfigError, match="'x' is not in mnist.*0, 1, 2"):
        select_classes(data, ["x"])
    with pytest.raises(ConfigError, match="more than once"):
        select_classes(data, [1, "1"])


@pytest.mark.parametrize("n", [1, 7, 9, 18])
def test_balanced_sample_counts_shuffle_and_seed(mnist_files, n):
    data = select_classes(load_mnist("train", verify=False), [1, 3, 7])
    sample = balanced_sample(data, n, seed=4)
    counts = np.bincount(sample.labels, minlength=N_DIGITS)[[1, 3, 7]]
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    index = balanced_sample(data, n, seed=4, indices=True)
    np.testing.assert_array_equal(index, balanced_sample(data, n, seed=4, indices=True))
    np.testing.assert_array_equal(sample.images, data.images[index])
    assert len(set(index.tolist())) == n


def test_balanced_sample_is_shuffled_and_restricts_classes(mnist_files):
    data = load_mnist("train", verify=False)
    sample = balanced_sample(data, 11, seed=0, classes=["2", 5])
    assert set(sample.labels.tolist()) == {2, 5} and sorted(np.bincount(sample.labels)[[2, 5]]) == [5, 6]
    sample = balanced_sample(data, 30, seed=0)
    assert np.bincount(sample.labels).tolist() == [3] * N_DIGITS
    assert (np.diff(sample.labels) != 0).sum() > N_DIGITS            # not grouped by class
    with pytest.raises(ConfigError, match="fewer than the 7"):
        balanced_sample(data, 70, seed=0)
    with pytest.raises(ConfigError, match="positive integer"):
        balanced_sample(data, 0, seed=0)


def test_relabel_maps_classes_to_positions():
    assert relabel(np.array([[7, 1], [3, 7]]), [1, 3, 7]).tolist() == [[2, 0], [1, 2]]
    assert relabel(np.array([0, 25]), ["z", "a"], class_names=tuple("abcdefghijklmnopqrstuvwxyz")).tolist() == [1, 0]
    with pytest.raises(ConfigError, match=r"labels \[4\] are not among"):
        relabel(np.array([1, 4]), [1, 3])
    with pytest.raises(ConfigError, match="class_names"):
        relabel(np.array([0]), ["a"])


def test_load_dataset_names_and_splits(mnist_files):
    assert load_dataset("MNIST", "test", verify=False).split == "test"
    with pytest.raises(ConfigError, match="Did you mean 'mnist'"):
        load_dataset("mnsit")
    with pytest.raises(ConfigError, match="split must be one of 'train', 'test'"):
        load_mnist("validation")


# ----------------------------------------------------------------------------- real files

@pytest.fixture
def real_files(real_data, tmp_path, monkeypatch):
    """The real data folder, offline, with a private verification cache."""
    monkeypatch.setenv("BIOPLASTIC_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return real_data


@pytest.mark.data
def test_real_mnist_counts(real_files):
    train, test = load_mnist("train"), load_mnist("test")
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert len(test) == 10000 and "SHA-256 verified" in test.note


def vertical_and_horizontal_extent(image, threshold_fraction=0.2):
    """Rows and columns spanned by the image's mass (profiles above a fraction of their peak)."""
    rows, cols = image.sum(1), image.sum(0)
    return (np.ptp(np.flatnonzero(rows > threshold_fraction * rows.max())),
            np.ptp(np.flatnonzero(cols > threshold_fraction * cols.max())))


@pytest.mark.data
def test_real_emnist_letters_holdout_and_orientation(real_files):
    if not (real_files / EMNIST_LETTERS.subdir).is_dir():
        pytest.skip(f"no {EMNIST_LETTERS.subdir}/ folder in {real_files}")
    if (real_files / EMNIST_LETTERS.subdir / name_of(EMNIST_LETTERS, "test", "images")).exists():
        pytest.skip("the official EMNIST-letters test images are present: no hold-out to check")
    datasets._warn_once.cache_clear()
    with pytest.warns(UserWarning, match="official test images not found"):
        test = load_emnist_letters("test")
    train = load_emnist_letters("train")
    assert len(test) == N_LETTERS * 800 and np.bincount(test.labels).tolist() == [800] * N_LETTERS
    assert len(train) == 124800 - N_LETTERS * 800
    assert "(seed 0)" in test.note
    for letter in "il":
        tall, wide = vertical_and_horizontal_extent(test.images[test.labels == test.class_names.index(letter)].mean(0))
        assert tall > wide, f"mean '{letter}' is {tall} rows tall but {wide} columns wide: not upright"
