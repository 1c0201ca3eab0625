"""IDX files (the MNIST/EMNIST format): big-endian header, uint8 payload, usually gzipped.

The header is checked against the payload so a truncated or mislabelled file is an error
with a fix, not a silently wrong array.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from bioplastic.errors import DataError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def read_bytes(path: Path) -> bytes:
    """File contents, decompressed when the name ends in .gz; corruption becomes a DataError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is corrupt ({exc}). Delete it and let bioplastic download it again, or copy "
                        "it again from its source.") from None


def parse_idx(payload: bytes, path: Path, expected_magic: int) -> np.ndarray:
    kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
    fix = "Delete it and let bioplastic download it again, or copy it again from its source."
    if len(payload) < 8:
        raise DataError(f"{path} is too short to be an IDX {kind} file ({len(payload)} bytes). {fix}")
    magic = int.from_bytes(payload[:4], "big")
    if magic != expected_magic:
        raise DataError(f"{path} is not an IDX {kind} file: magic number {magic}, expected {expected_magic} "
                        f"(2051 = images, 2049 = labels). Check that the file names were not swapped. {fix}")
    n_dims = payload[3]
    header = 4 + 4 * n_dims
    shape = tuple(int.from_bytes(payload[4 + 4 * k: 8 + 4 * k], "big") for k in range(n_dims))
    expected = int(np.prod(shape)) + header
    if len(payload) != expected:
        raise DataError(f"{path}: the header declares shape {shape} ({expected} bytes) but the file has "
                        f"{len(payload)} bytes: it is truncated or padded. {fix}")
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    path = Path(path)
    return parse_idx(read_bytes(path), path, expected_magic)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an uint8 array as (gzipped, if .gz) IDX; used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
