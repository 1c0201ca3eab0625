"""MNIST and EMNIST letters: found locally, or downloaded with pinned checksums.

Lookup order for every file: ``$BIOPLASTIC_DATA_DIR/<subdir>/<file>`` (or directly in
``$BIOPLASTIC_DATA_DIR``), then the user cache (``pooch.os_cache("bioplastic")``), then a
download from the canonical source (pooch, with a progress bar), unless
``BIOPLASTIC_OFFLINE=1``. Every file is checked against its pinned SHA-256: the .gz
bytes, or, for a legitimate re-compressed copy, the decompressed payload.

EMNIST letters: file labels 1..26 are classes 0..25 = 'a'..'z' (each class merges the
upper- and lower-case letter). Images are stored transposed relative to MNIST; they are
returned upright (MNIST orientation). The official letters *test images* may be absent
(they are in ../shared/data here): the test split is then a stratified, seeded hold-out of
``holdout_per_class`` training images per letter, removed from the training split.
"""
from __future__ import annotations

import functools
import hashlib
import os
import string
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioplastic.data.idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx, read_bytes
from bioplastic.errors import ConfigError, DataError


@dataclass(frozen=True)
class DataFile:
    name: str
    sha256_gz: str | None
    sha256_payload: str


@dataclass(frozen=True)
class Source:
    subdir: str
    urls: tuple                 # base URLs, tried in order
    files: dict = field(default_factory=dict)   # (split, kind) -> DataFile
    archive: str | None = None  # a zip holding the files (EMNIST)
    archive_member_dir: str = ""


MNIST = Source(
    "mnist", ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    {("train", "images"): DataFile("train-images-idx3-ubyte.gz",
                                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                   "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
     ("train", "labels"): DataFile("train-labels-idx1-ubyte.gz",
                                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                   "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
     ("test", "images"): DataFile("t10k-images-idx3-ubyte.gz",
                                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
     ("test", "labels"): DataFile("t10k-labels-idx1-ubyte.gz",
                                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")})

EMNIST_LETTERS = Source(
    "emnist-letters", ("https://biometrics.nist.gov/cs_links/EMNIST/",),
    {("train", "images"): DataFile("emnist-letters-train-images-idx3-ubyte.gz",
                                   "6288f418a917e007bf5fddb823a2dc7a5c6a35031401b93292a539cb12bd881f",
                                   "7a786db773b2096a7b9a3f3275388a27711f4451548c3ca8be96f09ae94371ae"),
     ("train", "labels"): DataFile("emnist-letters-train-labels-idx1-ubyte.gz",
                                   "9759af91ea6bccdf07a6040fd085861f2ec88e37f7c3f5760f6feb57106fbe5c",
                                   "e8e94c3f4353d5532fd9604b939cb4c76e7847945b9b0d9ff7884d881dead6bc"),
     ("test", "images"): DataFile("emnist-letters-test-images-idx3-ubyte.gz",
                                  "50f0e93d75b99b463e9760b8345866f22587fa2c2fba472730a5ba09c693412d", None),
     ("test", "labels"): DataFile("emnist-letters-test-labels-idx1-ubyte.gz",
                                  "924955c31fe7fd809b7303b5c0141282955f4b8390c74cdfd5d80435e0f4b4cb",
                                  "22dbcde0a929a7f166bdac863b9195b2994d840a1e082f8f6daaeac5606376a6")},
    archive="gzip.zip", archive_member_dir="gzip/")


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray          # uint8 [N, 28, 28], MNIST orientation
    labels: np.ndarray          # int64 [N], class indices
    class_names: tuple
    name: str
    split: str
    note: str = ""

    def __len__(self) -> int:
        return len(self.labels)


def _data_dirs(source: Source) -> list[Path]:
    dirs = []
    root = os.environ.get("BIOPLASTIC_DATA_DIR")
    if root:
        dirs += [Path(root) / source.subdir, Path(root)]
    dirs.append(_cache_dir() / source.subdir)
    return dirs


def _cache_dir() -> Path:
    import pooch
    return Path(pooch.os_cache("bioplastic"))


def _offline() -> bool:
    return os.environ.get("BIOPLASTIC_OFFLINE", "") not in ("", "0")


@functools.lru_cache(maxsize=32)
def _verified_payload(path: str, size: int, mtime: float, sha_gz: str | None, sha_payload: str | None) -> bytes:
    """Read and checksum a file once per process (keyed by path, size and mtime)."""
    raw = Path(path).read_bytes()
    if sha_gz and hashlib.sha256(raw).hexdigest() == sha_gz:
        return read_bytes(Path(path))
    payload = read_bytes(Path(path))
    if sha_payload and hashlib.sha256(payload).hexdigest() == sha_payload:
        return payload
    if not sha_gz and not sha_payload:
        return payload
    raise DataError(f"{path} does not match its pinned SHA-256 checksum (neither the .gz bytes nor the "
                    "decompressed payload): it is corrupt or a different file. Delete it and let bioplastic "
                    "download it again, or copy the verified file (see the provenance notes of the data).")


def _find(source: Source, data_file: DataFile) -> Path | None:
    for d in _data_dirs(source):
        for name in (data_file.name, data_file.name[:-3]):     # .gz or already decompressed
            if (d / name).is_file():
                return d / name
    return None


def _download(source: Source, data_file: DataFile) -> Path:
    searched = ", ".join(str(d) for d in _data_dirs(source))
    help_text = (f"Looked for {data_file.name} in: {searched}. Put the file there, e.g. "
                 f"`export BIOPLASTIC_DATA_DIR=/path/to/data` with the file in /path/to/data/{source.subdir}/")
    if _offline():
        raise DataError(f"{data_file.name} not found and BIOPLASTIC_OFFLINE is set, so it was not downloaded. "
                        + help_text)
    import pooch
    target = _cache_dir() / source.subdir
    try:
        if source.archive:
            unpacked = pooch.retrieve(source.urls[0] + source.archive, known_hash=None, path=target,
                                      progressbar=True,
                                      processor=pooch.Unzip(members=[source.archive_member_dir + data_file.name]))
            found = Path(unpacked[0])
            found.replace(target / data_file.name)
            return target / data_file.name
        errors = []
        for base in source.urls:
            try:
                return Path(pooch.retrieve(base + data_file.name, known_hash=f"sha256:{data_file.sha256_gz}",
                                           fname=data_file.name, path=target, progressbar=True))
            except Exception as exc:  # network errors of several kinds; try the next mirror
                errors.append(f"{base}: {exc}")
        raise OSError("; ".join(errors))
    except Exception as exc:
        raise DataError(f"could not download {data_file.name} ({str(exc)[:300]}). " + help_text) from None


def _load_array(source: Source, split: str, kind: str, *, verify: bool = True, download: bool = True) -> np.ndarray:
    data_file = source.files[(split, kind)]
    path = _find(source, data_file)
    if path is None:
        if not download:
            return None
        path = _download(source, data_file)
    stat = path.stat()
    sha_gz = data_file.sha256_gz if verify and path.suffix == ".gz" else None
    sha_payload = data_file.sha256_payload if verify else None
    if verify and path.suffix != ".gz" and not sha_payload:
        sha_payload = None
    payload = _verified_payload(str(path), stat.st_size, stat.st_mtime, sha_gz, sha_payload)
    return parse_idx(payload, path, IMAGES_MAGIC if kind == "images" else LABELS_MAGIC)


def load_mnist(split: str = "train", *, verify: bool = True) -> Dataset:
    _check_split(split)
    images = _load_array(MNIST, split, "images", verify=verify)
    labels = _load_array(MNIST, split, "labels", verify=verify).astype(np.int64)
    _check_lengths(images, labels, "mnist", split)
    return Dataset(images, labels, tuple(str(d) for d in range(10)), "mnist", split,
                   note="MNIST (LeCun, Cortes & Burges)")


LETTERS = tuple(string.ascii_lowercase)


def load_emnist_letters(split: str = "train", *, holdout_per_class: int = 800, seed: int = 0,
                        verify: bool = True) -> Dataset:
    """EMNIST letters, upright, classes 0..25 = 'a'..'z' (file labels 1..26)."""
    _check_split(split)
    official_test = _load_array(EMNIST_LETTERS, "test", "images", verify=verify, download=False)
    if split == "test" and official_test is not None:
        labels = _load_array(EMNIST_LETTERS, "test", "labels", verify=verify).astype(np.int64) - 1
        _check_lengths(official_test, labels, "emnist_letters", "test")
        return Dataset(official_test.swapaxes(1, 2), labels, LETTERS, "emnist_letters", "test",
                       note="EMNIST letters, official test split")
    images = _load_array(EMNIST_LETTERS, "train", "images", verify=verify).swapaxes(1, 2)
    labels = _load_array(EMNIST_LETTERS, "train", "labels", verify=verify).astype(np.int64) - 1
    _check_lengths(images, labels, "emnist_letters", "train")
    if official_test is not None:
        return Dataset(images, labels, LETTERS, "emnist_letters", "train", note="EMNIST letters, official train split")
    held_out = stratified_holdout(labels, holdout_per_class, seed)
    note = (f"EMNIST-letters official test images not found; test split = stratified hold-out of "
            f"{holdout_per_class} images per letter from the training split (seed {seed})")
    if split == "test":
        warnings.warn(note, stacklevel=2)
        return Dataset(images[held_out], labels[held_out], LETTERS, "emnist_letters", "test", note=note)
    keep = np.ones(len(labels), bool)
    keep[held_out] = False
    return Dataset(images[keep], labels[keep], LETTERS, "emnist_letters", "train",
                   note=f"EMNIST letters training split minus the hold-out test images ({note})")


def stratified_holdout(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of every class, chosen with a seeded RNG."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise DataError(f"class {c} has only {len(idx)} examples, fewer than the {per_class} to hold out.")
        chosen.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}.")


def _check_lengths(images, labels, name, split) -> None:
    if len(images) != len(labels):
        raise DataError(f"{name} {split}: {len(images)} images but {len(labels)} labels; the files do not "
                        "belong together. Re-copy or re-download both.")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{name} {split}: images of shape {images.shape[1:]}, expected 28x28.")
