"""MNIST and EMNIST letters: found locally or downloaded, always checked against pinned SHA-256.

Every file is looked up in ``$BIOPLASTIC_DATA_DIR/<subdir>/`` (subdirs ``mnist/`` and
``emnist-letters/``), then directly in ``$BIOPLASTIC_DATA_DIR``, then in the user cache
(``pooch.os_cache("bioplastic")``); if it is in none of them it is downloaded into the cache
from the canonical source (pooch, with a progress bar), unless ``BIOPLASTIC_OFFLINE=1``.
A file is accepted when the SHA-256 of its bytes equals the pinned value of the original
.gz, or, for a legitimate re-compressed or decompressed copy, when the SHA-256 of its
decompressed IDX payload does (values from ``shared/data/*/SOURCES.md``). A successful
check is remembered by path, size and mtime in ``verified-sha256.json`` in the cache, so a
file is hashed once, not at every load. Inside :func:`recording_data_files` every file read is
listed with that checksum, for a run's provenance.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import string
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioplastic.data.idx import IMAGES_MAGIC, LABELS_MAGIC, REFETCH, decompress, parse_idx
from bioplastic.data.sampling import stratified_holdout
from bioplastic.errors import ConfigError, DataError

DATA_DIR_ENV, OFFLINE_ENV = "BIOPLASTIC_DATA_DIR", "BIOPLASTIC_OFFLINE"
CACHE_APP_NAME = "bioplastic"
VERIFIED_CACHE_FILE = "verified-sha256.json"
IMAGE_SHAPE = (28, 28)
SPLITS = ("train", "test")
KINDS = {"images": IMAGES_MAGIC, "labels": LABELS_MAGIC}


@dataclass(frozen=True)
class DataFile:
    """One distributed file and the SHA-256 values that identify it."""
    name: str
    sha256: str | None            # of the file as distributed (gzipped)
    sha256_payload: str | None    # of its decompressed IDX bytes: accepts re-compressed copies
    required: bool = True         # False: used when present, never worth a download by itself


@dataclass(frozen=True)
class Source:
    """Where a dataset's files live locally and where they can be downloaded from."""
    title: str
    subdir: str
    files: Mapping[tuple[str, str], DataFile]     # (split, kind) -> file
    mirrors: tuple[str, ...] = ()                 # base URLs of the single files, tried in order
    archive_url: str | None = None                # or: one zip holding all of them
    archive_member_dir: str = ""


MNIST = Source(
    "MNIST", "mnist",
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
                                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")},
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"))

EMNIST_LETTERS = Source(
    "EMNIST letters", "emnist-letters",
    {("train", "images"): DataFile("emnist-letters-train-images-idx3-ubyte.gz",
                                   "6288f418a917e007bf5fddb823a2dc7a5c6a35031401b93292a539cb12bd881f",
                                   "7a786db773b2096a7b9a3f3275388a27711f4451548c3ca8be96f09ae94371ae"),
     ("train", "labels"): DataFile("emnist-letters-train-labels-idx1-ubyte.gz",
                                   "9759af91ea6bccdf07a6040fd085861f2ec88e37f7c3f5760f6feb57106fbe5c",
                                   "e8e94c3f4353d5532fd9604b939cb4c76e7847945b9b0d9ff7884d881dead6bc"),
     # No payload checksum is known for the test images (they were never obtained for SOURCES.md).
     ("test", "images"): DataFile("emnist-letters-test-images-idx3-ubyte.gz",
                                  "50f0e93d75b99b463e9760b8345866f22587fa2c2fba472730a5ba09c693412d", None,
                                  required=False),
     ("test", "labels"): DataFile("emnist-letters-test-labels-idx1-ubyte.gz",
                                  "924955c31fe7fd809b7303b5c0141282955f4b8390c74cdfd5d80435e0f4b4cb",
                                  "22dbcde0a929a7f166bdac863b9195b2994d840a1e082f8f6daaeac5606376a6",
                                  required=False)},
    # NIST ships EMNIST only as this zip (about 536 MB); its hash is not pinned, its members are.
    archive_url="https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip", archive_member_dir="gzip/")
ARCHIVE_FILE_NAME, ARCHIVE_EXTRACT_DIR = "emnist-gzip.zip", "emnist-gzip.unzip"

DIGITS = tuple(string.digits)
LETTERS = tuple(string.ascii_lowercase)
EMNIST_LABEL_OFFSET = 1       # EMNIST letters files label a..z as 1..26


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels of one split, with where they came from.

    ``images``: uint8 (N, 28, 28), MNIST orientation (upright when shown as rows x cols);
    ``labels``: int64 (N,), indices into ``class_names``; ``note``: provenance.
    """
    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    name: str
    split: str
    note: str = ""

    def __len__(self) -> int:
        return len(self.labels)


# ----------------------------------------------------------------------------- locating files

def cache_dir() -> Path:
    """The user cache for downloads and verification records (``pooch.os_cache``)."""
    import pooch
    return Path(pooch.os_cache(CACHE_APP_NAME))


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _search_dirs(source: Source) -> list[Path]:
    root = os.environ.get(DATA_DIR_ENV)
    local = [Path(root).expanduser() / source.subdir, Path(root).expanduser()] if root else []
    return local + [cache_dir() / source.subdir]


def _find(source: Source, data_file: DataFile) -> Path | None:
    """The first local copy, gzipped or already decompressed, in lookup order."""
    for directory in _search_dirs(source):
        for name in (data_file.name, data_file.name.removesuffix(".gz")):
            if (directory / name).is_file():
                return directory / name
    return None


def _missing(source: Source, data_file: DataFile, reason: str) -> DataError:
    required = [f.name for f in source.files.values() if f.required]
    optional = [f.name for f in source.files.values() if not f.required]
    expected = ", ".join(required) + (f" (optional: {', '.join(optional)})" if optional else "")
    searched = ", ".join(str(d) for d in _search_dirs(source))
    env_note = "" if os.environ.get(DATA_DIR_ENV) else f" ({DATA_DIR_ENV} is not set)"
    return DataError(
        f"{source.title}: {data_file.name} was not found. Searched: {searched}{env_note}. Expected the files "
        f"{expected}, gzipped IDX as distributed (decompressed copies without .gz also work). {reason} "
        f"To use local copies, put them in a folder and `export {DATA_DIR_ENV}=/path/to/data` with the files "
        f"in /path/to/data/{source.subdir}/ (or directly in /path/to/data).")


def _download(source: Source, data_file: DataFile) -> Path:
    """Download into the cache; every failure becomes a DataError that says where to put the files."""
    urls = (source.archive_url,) if source.archive_url else tuple(base + data_file.name for base in source.mirrors)
    if _offline():
        raise _missing(source, data_file, f"{OFFLINE_ENV} is set, so no download was attempted (unset it to "
                                          f"download from {' or '.join(urls)}).")
    failures = []
    try:
        import pooch
        target = cache_dir() / source.subdir
        if source.archive_url:
            return _download_archive(pooch, source, data_file, target)
        for url in urls:
            try:
                return Path(pooch.retrieve(url, known_hash=f"sha256:{data_file.sha256}", fname=data_file.name,
                                           path=target, progressbar=True))
            except Exception as exc:     # network, HTTP and hash errors alike: try the next mirror
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
    except Exception as exc:             # pooch missing, cache not writable, archive damaged, ...
        failures.append(f"{type(exc).__name__}: {exc}")
    raise _missing(source, data_file, "Downloading it failed (" + "; ".join(failures)[:600] + ").")


def _download_archive(pooch, source: Source, data_file: DataFile, target: Path) -> Path:
    """Fetch the zip once, move all of this dataset's members into ``target``, drop the zip.

    All members come out together, so a download for the training files also brings the
    official test images.
    """
    members = [source.archive_member_dir + f.name for f in source.files.values()]
    unpacked = pooch.retrieve(source.archive_url, known_hash=None, fname=ARCHIVE_FILE_NAME, path=target,
                              progressbar=True, processor=pooch.Unzip(members=members,
                                                                      extract_dir=ARCHIVE_EXTRACT_DIR))
    for path in map(Path, unpacked):
        path.replace(target / path.name)
    shutil.rmtree(target / ARCHIVE_EXTRACT_DIR, ignore_errors=True)
    (target / ARCHIVE_FILE_NAME).unlink(missing_ok=True)
    if not (target / data_file.name).is_file():
        raise DataError(f"{source.archive_url} does not contain {members[0].rsplit('/', 1)[0]}/{data_file.name}.")
    return target / data_file.name


# ----------------------------------------------------------------------------- verification

def _verified_records() -> dict:
    try:
        return json.loads((cache_dir() / VERIFIED_CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _remember_verified(path: Path, stamp: dict, digest: str) -> None:
    """Best effort: a read-only cache only means hashing again next time."""
    records = _verified_records()
    records[str(path.resolve())] = {**stamp, "sha256": digest}
    target = cache_dir() / VERIFIED_CACHE_FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(records, indent=1))
        tmp.replace(target)
    except OSError:
        pass


def _accepted(data_file: DataFile, checksums: Mapping[str, str] | None) -> tuple[set, set]:
    """(hashes accepted for the file bytes, for the decompressed payload); a caller's override wins."""
    if checksums and data_file.name in checksums:
        return {checksums[data_file.name]}, {checksums[data_file.name]}
    return {data_file.sha256} - {None}, {data_file.sha256_payload} - {None}


def _read_verified(path: Path, data_file: DataFile, verify: bool, checksums: Mapping[str, str] | None) -> bytes:
    """The decompressed payload of ``path``, after its SHA-256 check (skipped if recorded before)."""
    stat = path.stat()
    # ctime as well: an edit in place that restores size and mtime still changes it (users cannot set it).
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}
    raw = path.read_bytes()
    if not verify:
        _note_read(path, stamp, lambda: hashlib.sha256(raw).hexdigest(), "file", verified=False)
        return decompress(raw, path)
    accepted_file, accepted_payload = _accepted(data_file, checksums)
    record = _verified_records().get(str(path.resolve()), {})
    verified = {k: record.get(k) for k in stamp} == stamp and record.get("sha256") in accepted_file | accepted_payload
    file_digest = None
    if verified:
        digest = record["sha256"]
        _note_read(path, stamp, lambda: digest, "file" if digest in accepted_file else "payload", verified=True)
    else:
        file_digest = hashlib.sha256(raw).hexdigest()
        if file_digest in accepted_file:
            _remember_verified(path, stamp, file_digest)
            _note_read(path, stamp, lambda: file_digest, "file", verified=True)
            verified = True
    payload = decompress(raw, path)
    if not verified:
        payload_digest = hashlib.sha256(payload).hexdigest()
        if payload_digest not in accepted_payload:
            raise _checksum_error(path, data_file, file_digest, payload_digest, accepted_file, accepted_payload)
        _remember_verified(path, stamp, payload_digest)
        _note_read(path, stamp, lambda: payload_digest, "payload", verified=True)
    return payload


# ----------------------------------------------------------------------------- files read, for provenance

_READ: dict | None = None          # resolved path -> record, while recording_data_files is open


@contextmanager
def recording_data_files():
    """Yield a dict that fills with one record per data file the loaders read meanwhile (in this
    process): its path relative to ``$BIOPLASTIC_DATA_DIR`` or the cache, size and SHA-256, so a
    run's provenance says exactly which files it used. The checksum is the one the verification
    computed or found remembered; a file read with ``verify=False`` is hashed once here instead."""
    global _READ
    previous, _READ = _READ, {}
    try:
        yield _READ
    finally:
        _READ = previous


def _note_read(path: Path, stamp: dict, digest, of: str, *, verified: bool) -> None:
    """Record one file read; ``digest`` is called only for a file not yet recorded as it is now."""
    if _READ is None:
        return
    key = str(path.resolve())
    if _READ.get(key, {}).get("stamp") == stamp:
        return
    root, relative = _relative_location(path)
    _READ[key] = {"path": relative, "root": root, "size_bytes": stamp["size"], "sha256": digest(),
                  "sha256_of": "file" if of == "file" else "decompressed IDX payload", "verified": verified,
                  "stamp": stamp}


def _relative_location(path: Path) -> tuple[str | None, str]:
    """(``$BIOPLASTIC_DATA_DIR`` or ``cache``, the path below it); (None, the absolute path) elsewhere."""
    resolved = path.resolve()
    roots = [(f"${DATA_DIR_ENV}", os.environ.get(DATA_DIR_ENV)), ("cache", cache_dir())]
    for name, root in roots:
        if root and resolved.is_relative_to(Path(root).expanduser().resolve()):
            return name, str(resolved.relative_to(Path(root).expanduser().resolve()))
    return None, str(resolved)


def data_file_records(recorded: dict) -> list[dict]:
    """The records of :func:`recording_data_files` for a provenance file, sorted by path."""
    return sorted(({k: v for k, v in record.items() if k != "stamp"} for record in recorded.values()),
                  key=lambda r: (str(r["root"]), r["path"]))


def _checksum_error(path, data_file, file_digest, payload_digest, accepted_file, accepted_payload) -> DataError:
    payload_part = (f"its decompressed payload's is {payload_digest} (expected {', '.join(accepted_payload)})"
                    if accepted_payload else "no payload checksum is known for it, so only the original .gz "
                                             "can be verified")
    return DataError(
        f"{path} does not match its pinned SHA-256 checksum for {data_file.name}: the file's SHA-256 is "
        f"{file_digest} (expected {', '.join(accepted_file) or 'none known'}) and {payload_part}. It is corrupt, "
        f"incomplete or a different file. {REFETCH} If you deliberately use a modified copy, turn the check off: "
        "data.verify=false on the command line (verify=False in Python).")


def _load_array(source: Source, split: str, kind: str, verify: bool,
                checksums: Mapping[str, str] | None) -> tuple[np.ndarray, Path]:
    data_file = source.files[(split, kind)]
    path = _find(source, data_file) or _download(source, data_file)
    return parse_idx(_read_verified(path, data_file, verify, checksums), path, KINDS[kind]), path


def _load_pair(source, split, verify, checksums, label_offset, n_classes) -> tuple[np.ndarray, np.ndarray, Path]:
    """Images and 0-based int64 labels of one split, checked to belong together."""
    images, image_path = _load_array(source, split, "images", verify, checksums)
    raw_labels, label_path = _load_array(source, split, "labels", verify, checksums)
    labels = raw_labels.astype(np.int64) - label_offset
    if len(images) != len(labels) or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{image_path} holds images of shape {images.shape} but {label_path} holds {len(labels)} "
                        f"labels (expected N x {IMAGE_SHAPE[0]} x {IMAGE_SHAPE[1]} images and N labels): the files "
                        "do not belong together. Copy or download both again.")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{label_path} has labels {raw_labels.min()}..{raw_labels.max()}, expected "
                        f"{label_offset}..{label_offset + n_classes - 1}: it is not a {source.title} label file. "
                        f"{REFETCH}")
    return images, labels, image_path


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}.")


def _provenance(path: Path, verify: bool) -> str:
    return f"files from {path.parent}, SHA-256 {'verified' if verify else 'NOT verified (verify=False)'}"


# ----------------------------------------------------------------------------- loaders

def load_mnist(split: str = "train", *, verify: bool = True, checksums: Mapping[str, str] | None = None) -> Dataset:
    """MNIST digits (LeCun, Cortes & Burges): train 60,000 or test 10,000 images, classes '0'..'9'.

    ``verify=False`` skips the SHA-256 check; ``checksums`` ({file name: sha256 of the file or of
    its decompressed payload}) replaces pinned values, e.g. for synthetic test files.
    """
    _check_split(split)
    images, labels, path = _load_pair(MNIST, split, verify, checksums, 0, len(DIGITS))
    return Dataset(images, labels, DIGITS, "mnist", split, note=f"MNIST {split} split; {_provenance(path, verify)}")


@functools.cache
def _warn_once(message: str) -> None:
    warnings.warn(message, stacklevel=3)    # the caller of load_emnist_letters


def _official_letters_test_available() -> bool:
    """True when the official test images are here, or arrive with a download the training files need.

    Only the test images missing never triggers the 536 MB download: the hold-out stands in.
    """
    if _find(EMNIST_LETTERS, EMNIST_LETTERS.files[("test", "images")]):
        return True
    train_files = [f for (split, _), f in EMNIST_LETTERS.files.items() if split == "train"]
    if all(_find(EMNIST_LETTERS, f) for f in train_files):
        return False
    _download(EMNIST_LETTERS, train_files[0])      # the zip brings every member, test images included
    return _find(EMNIST_LETTERS, EMNIST_LETTERS.files[("test", "images")]) is not None


def load_emnist_letters(split: str = "train", *, holdout_per_class: int = 800, seed: int = 0, verify: bool = True,
                        checksums: Mapping[str, str] | None = None) -> Dataset:
    """EMNIST letters (Cohen et al. 2017), upright, 26 classes 0..25 = 'a'..'z'.

    The files label the letters 1..26 (each merges upper and lower case); class = file label - 1.
    The files store images transposed; they are returned swapped to MNIST orientation.

    Test split: the official 20,800 test images when
    ``emnist-letters-test-images-idx3-ubyte.gz`` is present. Otherwise (a warning says so,
    once) a stratified hold-out of ``holdout_per_class`` training images per letter, chosen
    with ``seed``; ``split="train"`` then excludes exactly those images, so the splits are
    disjoint and fixed by ``seed``. ``note`` records which. ``verify``/``checksums`` as in
    :func:`load_mnist`.
    """
    _check_split(split)
    load = functools.partial(_load_pair, EMNIST_LETTERS, verify=verify, checksums=checksums,
                             label_offset=EMNIST_LABEL_OFFSET, n_classes=len(LETTERS))
    if _official_letters_test_available():
        images, labels, path = load(split)
        note = f"EMNIST-letters official {split} split; {_provenance(path, verify)}"
    else:
        images, labels, path = load("train")
        held_out = np.zeros(len(labels), dtype=bool)
        held_out[stratified_holdout(labels, holdout_per_class, seed)] = True
        holdout = (f"EMNIST-letters official test images not found; test split = stratified hold-out of "
                   f"{holdout_per_class} images per letter from the training split (seed {seed})")
        _warn_once(holdout + f". Report it as such, or put {EMNIST_LETTERS.files[('test', 'images')].name} "
                             f"in ${DATA_DIR_ENV}/{EMNIST_LETTERS.subdir}/ to use the official test split.")
        keep = held_out if split == "test" else ~held_out
        images, labels = images[keep], labels[keep]
        note = (f"{holdout}. This {split} split: {len(labels)} images"
                f"{'' if split == 'test' else ' (training split without the hold-out)'}; {_provenance(path, verify)}")
    return Dataset(np.ascontiguousarray(images.swapaxes(1, 2)), labels, LETTERS, "emnist_letters", split, note=note)
