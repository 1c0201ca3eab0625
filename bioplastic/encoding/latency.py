"""Difference-of-Gaussians maps coded as first-spike latencies (Mozafari et al. 2018, 2019).

The S1 input of the convolutional STDP network: each image is filtered by on- and
off-centre DoG kernels at several scales (Mozafari 2019: sizes 3, 7, 13; six maps),
responses below a threshold are set to zero, each map is divided by its local mean
(local contrast normalisation), and the remaining responses are coded by rank: the
strongest fire in the first of ``n_steps`` time steps, the weakest in the last, with
(almost) the same number of spikes per step. A neuron fires at most once; its *cumulative*
spike wave (SpykeTorch's layout) is 1 from its spike onwards (:func:`spike_wave`).

Latencies are int8 arrays (image, map, row, col): the step of the spike, or ``SILENT`` (-1).
:func:`encode_latency_cached` keeps them on disk per dataset and parameters.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from bioplastic.errors import ConfigError

SILENT = -1
# (window size, centre sigma, surround sigma) of the on-centre kernel of each scale, in pixels
# (MozafariDeep.py: DoGKernel(3, 3/9, 6/9), (7, 7/9, 14/9), (13, 13/9, 26/9)); off-centre swaps sigmas.
MOZAFARI_DOG_SCALES = ((3, 3 / 9, 6 / 9), (7, 7 / 9, 14 / 9), (13, 13 / 9, 26 / 9))
_FORMAT_VERSION = 1           # bump when the coding changes, so old caches are not reused
_CHUNK = 2000                 # images per vectorised block: bounds memory at about 100 MB


@dataclass(frozen=True)
class LatencyCoding:
    """Parameters of the coding, defaults from Mozafari et al. 2019 (SpykeTorch MozafariDeep.py)."""
    n_steps: int = 15                                   # time steps per image
    scales: tuple = MOZAFARI_DOG_SCALES                 # DoG scales; each gives an on and an off map
    threshold: float = 50.0                             # DoG responses below it are zero (image in 0..255)
    normalization_radius: int = 8                       # local mean over (2r+1)^2 pixels

    def __post_init__(self):
        if int(self.n_steps) != self.n_steps or not 1 <= self.n_steps <= 127:
            raise ConfigError(f"n_steps must be an integer in 1..127, got {self.n_steps!r}.")
        if int(self.normalization_radius) != self.normalization_radius or self.normalization_radius < 0:
            raise ConfigError(f"normalization_radius must be an integer >= 0, got {self.normalization_radius!r}.")
        for size, sc, ss in self.scales:
            if int(size) != size or size < 1 or size % 2 == 0 or sc <= 0 or ss <= 0 or sc == ss:
                raise ConfigError(f"DoG scale {(size, sc, ss)}: the window must be an odd integer and the two "
                                  f"sigmas positive and different.")

    @property
    def n_maps(self) -> int:
        return 2 * len(self.scales)


def dog_kernel(size: int, sigma_centre: float, sigma_surround: float) -> np.ndarray:
    """Difference of two normalised 2-D Gaussians on a ``size`` x ``size`` window, zero mean, peak 1.

    ``sigma_centre < sigma_surround`` gives an on-centre kernel, the reverse an off-centre one
    (Mozafari et al. 2019, section 2.1; SpykeTorch ``utils.DoGKernel``).
    """
    half = size // 2
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    r2 = x * x + y * y
    def gauss(s):
        return np.exp(-r2 / (2 * s * s)) / (2 * np.pi * s * s)
    dog = gauss(sigma_centre) - gauss(sigma_surround)
    dog -= dog.mean()
    return dog / dog.max()


def dog_filter_bank(scales=MOZAFARI_DOG_SCALES) -> np.ndarray:
    """Kernels (2 x scales, K, K): on- then off-centre per scale, zero-padded to the largest window K."""
    big = max(int(s[0]) for s in scales)
    kernels = []
    for size, sc, ss in scales:
        pad = (big - int(size)) // 2
        for centre, surround in ((sc, ss), (ss, sc)):
            kernels.append(np.pad(dog_kernel(int(size), centre, surround), pad))
    return np.stack(kernels)


def filter_images(images: np.ndarray, kernels: np.ndarray, threshold: float) -> np.ndarray:
    """Responses (N, maps, H, W) of each kernel (cross-correlation, zero padding, same size).

    Values below ``threshold`` become 0 (SpykeTorch ``Filter``: ``output < threshold -> 0``).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        images = images[None]
    flipped = kernels[:, ::-1, ::-1]                   # convolution with the flipped kernel = correlation
    (kh, kw), (rows, cols) = kernels.shape[1:], images.shape[1:]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    out = np.empty((len(images), len(kernels), rows, cols), dtype=np.float32)
    for start in range(0, len(images), _CHUNK):
        block = images[start:start + _CHUNK, None]
        # mode="full", then the centred crop: scipy's mode="same" does not broadcast the map axis.
        full = signal.fftconvolve(block, flipped[None], mode="full", axes=(-2, -1))
        response = full[:, :, top:top + rows, left:left + cols]
        out[start:start + _CHUNK] = np.where(response < threshold, 0.0, response)
    return out


def local_contrast_normalization(maps: np.ndarray, radius: int, eps: float = 1e-12) -> np.ndarray:
    """Each map divided by its local mean over a (2r+1)^2 window (zeros outside the image count).

    SpykeTorch ``functional.local_normalization``; keeps zeros at zero.
    """
    size = 2 * int(radius) + 1
    means = ndimage.uniform_filter(np.asarray(maps, dtype=np.float64), size=(1, 1, size, size),
                                   mode="constant", cval=0.0)
    return (maps / (means + eps)).astype(np.float32)


def intensity_to_latency(maps: np.ndarray, n_steps: int) -> np.ndarray:
    """First-spike step (int8, ``SILENT`` = -1) of every positive value, by rank within its image.

    The positive values of an image (all maps together) are sorted, strongest first, and
    cut into ``n_steps`` bins of ``nnz // n_steps`` values: bin s fires at step s. The
    ``nnz mod n_steps`` weakest values never fire (SpykeTorch ``utils.Intensity2Latency``).
    Equal values keep their flat order (stable sort; torch's sort is not stable). With fewer
    positive values than steps (SpykeTorch fails there), each fires at its rank.
    """
    maps = np.asarray(maps)
    n = len(maps)
    flat = maps.reshape(n, -1)
    out = np.full(flat.shape, SILENT, dtype=np.int8)
    for start in range(0, n, _CHUNK):
        block = flat[start:start + _CHUNK]
        nnz = (block > 0).sum(axis=1)
        bin_size = np.maximum(nnz // n_steps, 1)
        order = np.argsort(-block, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(block.shape[1])[None], axis=1)
        step = rank // bin_size[:, None]
        fires = (rank < np.minimum(n_steps * bin_size, nnz)[:, None]) & (block > 0)
        out[start:start + _CHUNK] = np.where(fires, step, SILENT)
    return out.reshape(maps.shape)


def spike_wave(latency: np.ndarray, n_steps: int) -> np.ndarray:
    """Cumulative spike wave, time inserted after the image axis: (N, T, maps, H, W) bool.

    A neuron that fires at step s is 1 at steps s..T-1 (SpykeTorch's layout; a
    non-leaky integrator then sees, at step t, the sum of the weights of all inputs fired so far).
    """
    latency = np.asarray(latency)
    steps = np.arange(n_steps).reshape((1, n_steps) + (1,) * (latency.ndim - 1))
    lat = latency[:, None]
    return (lat != SILENT) & (lat <= steps)


def encode_latency(images: np.ndarray, coding: LatencyCoding = LatencyCoding()) -> np.ndarray:
    """DoG filtering, threshold, local normalisation and latency coding of uint8 images (N, H, W)."""
    maps = filter_images(images, dog_filter_bank(coding.scales), coding.threshold)
    maps = local_contrast_normalization(maps, coding.normalization_radius)
    return intensity_to_latency(maps, coding.n_steps)


def _default_cache_dir() -> Path:
    from bioplastic.data.datasets import cache_dir
    return cache_dir() / "encodings"


def cache_key(images: np.ndarray, coding: LatencyCoding) -> str:
    """Hash of the image bytes and the coding parameters: any change gives a new cache file."""
    images = np.ascontiguousarray(images)
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": _FORMAT_VERSION, "coding": asdict(coding), "shape": images.shape,
                              "dtype": str(images.dtype)}, sort_keys=True).encode())
    digest.update(images.tobytes())
    return digest.hexdigest()[:20]


def encode_latency_cached(images: np.ndarray, coding: LatencyCoding = LatencyCoding(), *, name: str = "images",
                          cache_dir: Path | None = None) -> np.ndarray:
    """:func:`encode_latency`, read from ``<cache>/encodings/<name>-<hash>.npy`` when already computed.

    The cache is the user cache of :mod:`bioplastic.data` (``pooch.os_cache``, under
    ``$XDG_CACHE_HOME``) unless ``cache_dir`` is given. Writing is atomic; an unwritable
    cache only costs recomputation.
    """
    directory = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    path = directory / f"{safe_name}-{cache_key(images, coding)}.npy"
    if path.exists():
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            pass                                        # damaged file: recompute and replace it
    latency = encode_latency(images, coding)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as tmp:
            np.save(tmp, latency)
        os.replace(tmp.name, path)
    except OSError:
        pass
    return latency
