"""Connectivity patterns as index arrays ``(i, j)``, built with numpy (never Python loops).

All functions return presynaptic indices ``i`` and postsynaptic indices ``j`` for one
copy of the network; :func:`replicate` repeats a pattern block-diagonally for independent
copies (seeds in training, test images in batched evaluation).
"""
from __future__ import annotations

import numpy as np

from bioplastic.errors import ConfigError


def all_to_all(n_pre: int, n_post: int):
    i, j = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
    return i.ravel(), j.ravel()


def one_to_one(n: int):
    idx = np.arange(n)
    return idx, idx.copy()


def all_but_self(n: int):
    """Every neuron to every other neuron: lateral inhibition of Diehl & Cook (2015)."""
    i, j = all_to_all(n, n)
    keep = i != j
    return i[keep], j[keep]


def sheet_positions(n: int, width: int | None = None) -> np.ndarray:
    """Positions of ``n`` neurons on a 2-D sheet, row-major, ``width`` columns (default: square)."""
    width = width or int(np.ceil(np.sqrt(n)))
    idx = np.arange(n)
    return np.stack([idx % width, idx // width], axis=1).astype(float)


def within_radius(positions: np.ndarray, radius: float, include_self: bool = False):
    """Pairs of neurons whose Euclidean distance on the sheet is <= radius (R = 0: none)."""
    if radius < 0:
        raise ConfigError(f"lateral inhibition radius must be >= 0, got {radius}.")
    diff = positions[:, None, :] - positions[None, :, :]
    dist = np.sqrt((diff ** 2).sum(-1))
    mask = dist <= radius + 1e-9
    if not include_self:
        np.fill_diagonal(mask, False)
    i, j = np.nonzero(mask)
    return i, j


def replicate(i: np.ndarray, j: np.ndarray, n_pre: int, n_post: int, n_copies: int):
    """Repeat a connectivity pattern for independent copies: copy c uses blocks c*n_pre, c*n_post."""
    offsets = np.arange(n_copies)[:, None]
    return (i[None, :] + offsets * n_pre).ravel(), (j[None, :] + offsets * n_post).ravel()


def within_radius_between(pre_positions: np.ndarray, post_positions: np.ndarray, radius: float):
    """Pairs (i, j) whose positions, each on its own layer's sheet, are within ``radius``."""
    if radius < 0:
        raise ConfigError(f"radius must be >= 0, got {radius}.")
    diff = pre_positions[:, None, :] - post_positions[None, :, :]
    i, j = np.nonzero(np.sqrt((diff ** 2).sum(-1)) <= radius + 1e-9)
    return i, j


def fixed_probability(n_pre: int, n_post: int, probability: float, seed: int):
    """Each pair independently with ``probability`` (a seeded numpy draw: the same on every device)."""
    if not 0 < probability <= 1:
        raise ConfigError(f"connection probability must be in (0, 1], got {probability}.")
    i, j = all_to_all(n_pre, n_post)
    keep = np.random.default_rng(seed).random(len(i)) < probability
    return i[keep], j[keep]


def _one_to_one_checked(n_pre, n_post, **_):
    if n_pre != n_post:
        raise ConfigError(f"one_to_one needs layers of equal size, got {n_pre} and {n_post}.")
    return one_to_one(n_pre)


def _all_but_self_checked(n_pre, n_post, **_):
    if n_pre != n_post:
        raise ConfigError(f"all_but_self needs layers of equal size, got {n_pre} and {n_post}.")
    return all_but_self(n_pre)


#: Connectivity kinds of a projection: name -> function(n_pre, n_post, **options) -> (i, j).
CONNECTIVITY = {
    "all_to_all": lambda n_pre, n_post, **_: all_to_all(n_pre, n_post),
    "one_to_one": _one_to_one_checked,
    "all_but_self": _all_but_self_checked,
    "within_radius": lambda n_pre, n_post, radius, pre_width, post_width, **_: within_radius_between(
        sheet_positions(n_pre, pre_width), sheet_positions(n_post, post_width), radius),
    "fixed_probability": lambda n_pre, n_post, probability, seed, **_: fixed_probability(
        n_pre, n_post, probability, seed),
}


def connect(kind: str, n_pre: int, n_post: int, *, where: str = "projection", **options):
    """(i, j) of one copy for the connectivity ``kind`` (see :data:`CONNECTIVITY`)."""
    if kind not in CONNECTIVITY:
        raise ConfigError(f"{where}.connectivity: unknown kind {kind!r}; choose one of "
                          f"{', '.join(CONNECTIVITY)}.")
    try:
        return CONNECTIVITY[kind](n_pre, n_post, **options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# ----------------------------------------------------------------------------- 2-D feature maps
#
# A layer of feature maps has shape (maps, rows, cols); neuron (m, r, c) has the flat index
# (m * rows + r) * cols + c, as numpy's row-major ravel. Kernels have shape
# (out maps, in maps, kernel rows, kernel cols) and the same row-major flat index.

def _pair(value, name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(int(v) != v for v in pair):
        raise ConfigError(f"{name} must be an integer or a pair of integers, got {value!r}.")
    return int(pair[0]), int(pair[1])


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, *,
                     drop_remainder: bool = False, what: str = "convolution") -> int:
    """Output length ``(size + 2 padding - kernel) / stride + 1`` along one axis.

    A window that does not tile the padded input exactly is an error unless
    ``drop_remainder`` (torch's floor: the last rows/cols are never seen; SpykeTorch's
    MozafariDeep pools 14 x 14 by 3 x 3, stride 3, to 4 x 4 that way).
    """
    if kernel < 1 or stride < 1 or padding < 0:
        raise ConfigError(f"{what}: kernel size and stride must be >= 1 and padding >= 0 "
                          f"(got kernel {kernel}, stride {stride}, padding {padding}).")
    span = size + 2 * padding - kernel
    if span < 0:
        raise ConfigError(f"{what}: kernel {kernel} is larger than its input ({size} + 2 x padding {padding}).")
    if span % stride and not drop_remainder:
        raise ConfigError(f"{what}: input {size} + 2 x padding {padding} - kernel {kernel} = {span} is not a "
                          f"multiple of stride {stride}, so the output size would not be an integer; change "
                          f"stride or padding, or set drop_remainder to drop the last {span % stride} rows/cols.")
    return span // stride + 1


def _windows(in_shape, kernel_size, stride, padding, drop_remainder, what):
    """Input (map, row, col) under every output position and kernel offset, -1 outside the input.

    Returns the output (rows, cols) and arrays of shape (out rows, out cols, kh, kw) of
    input rows and cols (``valid`` marks those inside the unpadded input).
    """
    _, rows, cols = (int(v) for v in in_shape)
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    out_rows = conv_output_size(rows, kh, sh, ph, drop_remainder=drop_remainder, what=what)
    out_cols = conv_output_size(cols, kw, sw, pw, drop_remainder=drop_remainder, what=what)
    r = (np.arange(out_rows) * sh - ph)[:, None, None, None] + np.arange(kh)[None, None, :, None]
    c = (np.arange(out_cols) * sw - pw)[None, :, None, None] + np.arange(kw)[None, None, None, :]
    r, c = np.broadcast_arrays(r, c)
    valid = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    return (out_rows, out_cols), (kh, kw), r, c, valid


class MapConnectivity:
    """Synapses of a projection between feature maps, ready for ``Synapses.connect(i=pre, j=post)``.

    ``weight_index`` (for ``linked_var(kernels, 'w', index='kidx')``) says which entry of the
    flattened weight array each synapse uses: shared kernels for a convolution, one entry
    per synapse for a locally connected projection, none for pooling.
    """

    def __init__(self, pre, post, weight_index, in_shape, out_shape, weight_shape):
        self.pre, self.post, self.weight_index = pre, post, weight_index
        self.in_shape, self.out_shape, self.weight_shape = tuple(in_shape), tuple(out_shape), weight_shape

    @property
    def n_pre(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_post(self) -> int:
        return int(np.prod(self.out_shape))

    def __len__(self) -> int:
        return len(self.pre)

    def __iter__(self):                       # i, j, kidx = conv2d(...)
        return iter((self.pre, self.post, self.weight_index))


def _map_projection(in_shape, n_maps, kernel_size, stride, padding, what):
    if int(n_maps) != n_maps or n_maps < 1:
        raise ConfigError(f"{what}: number of feature maps must be an integer >= 1, got {n_maps!r}.")
    n_in, rows, cols = (int(v) for v in in_shape)
    (out_rows, out_cols), (kh, kw), r, c, valid = _windows(in_shape, kernel_size, stride, padding, False, what)
    n_maps = int(n_maps)
    # Full index grid (out map, out row, out col, in map, kernel row, kernel col).
    shape = (n_maps, out_rows, out_cols, n_in, kh, kw)
    f = np.arange(n_maps)[:, None, None, None, None, None]
    oy = np.arange(out_rows)[None, :, None, None, None, None]
    ox = np.arange(out_cols)[None, None, :, None, None, None]
    ci = np.arange(n_in)[None, None, None, :, None, None]
    ky = np.arange(kh)[None, None, None, None, :, None]
    kx = np.arange(kw)[None, None, None, None, None, :]
    rr = r[None, :, :, None, :, :]
    cc = c[None, :, :, None, :, :]
    keep = np.broadcast_to(valid[None, :, :, None, :, :], shape)
    pre = np.broadcast_to((ci * rows + rr) * cols + cc, shape)[keep]
    post = np.broadcast_to((f * out_rows + oy) * out_cols + ox, shape)[keep]
    kernel = np.broadcast_to(((f * n_in + ci) * kh + ky) * kw + kx, shape)[keep]
    dtype = np.int32 if max(n_in * rows * cols, n_maps * out_rows * out_cols, kernel.size) < 2**31 else np.int64
    return (pre.astype(dtype), post.astype(dtype), kernel.astype(dtype),
            (n_maps, out_rows, out_cols), (n_maps, n_in, kh, kw))


def conv2d(in_shape, n_maps: int, kernel_size, stride=1, padding=0) -> MapConnectivity:
    """Convolution with shared kernels (cross-correlation, as torch ``conv2d``).

    Output neuron (f, y, x) receives input (c, y*stride - padding + dy, x*stride - padding + dx)
    through kernel weight (f, c, dy, dx); positions in the zero padding get no synapse.
    ``weight_index`` indexes the flattened kernel array of shape (n_maps, in maps, kh, kw).
    """
    pre, post, kernel, out_shape, weight_shape = _map_projection(in_shape, n_maps, kernel_size, stride, padding,
                                                                 "conv2d")
    return MapConnectivity(pre, post, kernel, in_shape, out_shape, weight_shape)


def locally_connected(in_shape, n_maps: int, kernel_size, stride=1, padding=0) -> MapConnectivity:
    """The receptive fields of :func:`conv2d`, but every synapse has its own weight (no sharing).

    The more biological variant: nothing copies a weight from one position to another.
    ``weight_index`` is simply ``arange(n_synapses)``.
    """
    pre, post, _, out_shape, _ = _map_projection(in_shape, n_maps, kernel_size, stride, padding,
                                                 "locally connected")
    index = np.arange(len(pre), dtype=pre.dtype)
    return MapConnectivity(pre, post, index, in_shape, out_shape, (len(pre),))


def max_pool2d(in_shape, pool_size, stride=None, padding=0, *, drop_remainder: bool = False) -> MapConnectivity:
    """Max pooling within each map: output (m, y, x) is fed by the input window of map m.

    On spikes, the first spike in the window passes (a first-spike gate, SpykeTorch's
    ``pooling`` on cumulative spike waves). ``stride`` defaults to ``pool_size``.
    """
    stride = pool_size if stride is None else stride
    n_maps, rows, cols = (int(v) for v in in_shape)
    (out_rows, out_cols), _, r, c, valid = _windows(in_shape, pool_size, stride, padding, drop_remainder,
                                                    "max_pool2d")
    shape = (n_maps,) + r.shape
    m = np.arange(n_maps)[:, None, None, None, None]
    oy = np.arange(out_rows)[None, :, None, None, None]
    ox = np.arange(out_cols)[None, None, :, None, None]
    keep = np.broadcast_to(valid[None], shape)
    pre = np.broadcast_to((m * rows + r[None]) * cols + c[None], shape)[keep]
    post = np.broadcast_to((m * out_rows + oy) * out_cols + ox, shape)[keep]
    return MapConnectivity(pre.astype(np.int32), post.astype(np.int32), None, in_shape,
                           (n_maps, out_rows, out_cols), None)


def receptive_fields(values: np.ndarray, positions: np.ndarray, kernel_size, stride=1, padding=0,
                     fill=np.inf) -> np.ndarray:
    """Input values (n, in maps, kh, kw) under the kernel of each output position (n rows of (row, col)).

    Entries that fall in the padding get ``fill``: with first-spike times and ``fill = inf``
    they count as inputs that never fired, as SpykeTorch's zero-padded input does in its STDP
    (a border winner depresses the kernel entries that lie outside the image).
    """
    values = np.asarray(values)
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    padded = np.pad(values, ((0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    positions = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
    rows = positions[:, 0, None] * sh + np.arange(kh)[None]            # (n, kh), padded coordinates
    cols = positions[:, 1, None] * sw + np.arange(kw)[None]            # (n, kw)
    windows = padded[:, rows[:, :, None], cols[:, None, :]]            # (in maps, n, kh, kw)
    return np.moveaxis(windows, 0, 1)
