"""IDX files (the MNIST/EMNIST format): big-endian header, uint8 payload, usually gzipped.

The header is checked against the payload, so a truncated, corrupt or mislabelled file is
an error that says how to fix it instead of a silently wrong array.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from bioplastic.errors import DataError

IMAGES_MAGIC = 2051        # 0x00000803: uint8, 3 dimensions (n, rows, cols)
LABELS_MAGIC = 2049        # 0x00000801: uint8, 1 dimension (n)
KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
HEADER_WORD_BYTES = 4      # the magic number and every dimension are big-endian uint32
GZIP_SIGNATURE = b"\x1f\x8b"
REFETCH = "Delete it and let bioplastic download it again, or copy it again from its source."


def decompress(raw: bytes, path: Path) -> bytes:
    """The IDX bytes of a file's contents: gunzipped when they start with the gzip signature.

    The signature, not the file name, decides, so a raw file named .gz (or the reverse)
    still loads. Gzip damage of any kind becomes a DataError naming the file.
    """
    if not raw.startswith(GZIP_SIGNATURE):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a valid gzip file ({type(exc).__name__}: {exc}): it is corrupt or "
                        f"was cut short while downloading or copying. {REFETCH}") from None


def parse_idx(payload: bytes, path: Path, expected_magic: int) -> np.ndarray:
    """The array an IDX payload declares, after checking its magic number and its length.

    The result is a read-only view of ``payload`` (no copy).
    """
    kind = KIND[expected_magic]
    n_dims = expected_magic & 0xFF          # the magic number's last byte
    header_bytes = HEADER_WORD_BYTES * (1 + n_dims)
    if len(payload) < header_bytes:
        raise DataError(f"{path} has {len(payload)} bytes, too few for the {header_bytes}-byte header of an "
                        f"IDX {kind} file: it is truncated or empty. {REFETCH}")
    header = np.frombuffer(payload, dtype=">u4", count=1 + n_dims)
    magic, shape = int(header[0]), tuple(int(d) for d in header[1:])
    if magic != expected_magic:
        names = ", ".join(f"{m} = {k}" for m, k in KIND.items())
        raise DataError(f"{path} is not an IDX {kind} file: its magic number is {magic}, expected "
                        f"{expected_magic} ({names}). Check that the image and label files were not swapped "
                        f"or renamed. {REFETCH}")
    expected_bytes = header_bytes + int(np.prod(shape, dtype=np.int64))
    if len(payload) != expected_bytes:
        problem = "truncated" if len(payload) < expected_bytes else "longer than declared (padded or concatenated)"
        raise DataError(f"{path}: the header declares {kind} of shape {shape}, i.e. {expected_bytes} bytes, but "
                        f"the decompressed file has {len(payload)} bytes: it is {problem}. {REFETCH}")
    return np.frombuffer(payload, dtype=np.uint8, offset=header_bytes).reshape(shape)


def read_idx(path: Path | str, expected_magic: int) -> np.ndarray:
    """Read a (gzipped or raw) IDX file without checksum verification."""
    path = Path(path)
    return parse_idx(decompress(path.read_bytes(), path), path, expected_magic)


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 image stack (n, rows, cols) or label vector (n,)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {3: IMAGES_MAGIC, 1: LABELS_MAGIC}.get(array.ndim)
    if magic is None:
        raise DataError(f"IDX images are 3-D and labels 1-D; got an array of shape {array.shape}.")
    return np.array((magic, *array.shape), dtype=">u4").tobytes() + array.tobytes()


def write_idx(path: Path | str, array: np.ndarray) -> Path:
    """Write ``array`` as IDX, gzipped when the name ends in .gz (for tests and tools)."""
    path = Path(path)
    data = encode_idx(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path
