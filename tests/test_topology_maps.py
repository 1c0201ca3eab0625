"""Conv, locally connected and pooling connectivity compute exactly what numpy computes.

The connectivity is applied to a random input as a sparse matrix product (what Brian2's
synapses do in one step); the reference is a direct convolution with scipy and explicit
loops for pooling.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.signal import correlate

from bioplastic.errors import ConfigError
from bioplastic.network import topology


def apply(conn, weights, x):
    w = np.ones(len(conn)) if weights is None else weights
    matrix = sp.csr_matrix((w, (conn.post, conn.pre)), shape=(conn.n_post, conn.n_pre))
    return (matrix @ x.ravel()).reshape(conn.out_shape)


def reference_conv(x, kernels, stride, padding):
    """sum over input maps of scipy's 2-D cross-correlation, on the zero-padded input, strided."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    out = np.stack([sum(correlate(xp[c], k[c], mode="valid") for c in range(x.shape[0])) for k in kernels])
    return out[:, ::sh, ::sw]


CONV_CASES = [  # in_shape, n_maps, kernel, stride, padding
    ((6, 28, 28), 4, 5, 1, 2),          # S1 of Mozafari 2019: 28 + 2x2 padding, 5x5 -> 28
    ((3, 14, 14), 5, 3, 1, 1),          # S2: 3x3 with padding 1 -> 14
    ((4, 4, 4), 3, 5, 1, 2),            # S3 (decision): 4 x 4 with padding 2 -> 4
    ((2, 9, 7), 3, (3, 2), (2, 1), (1, 0)),
    ((1, 5, 5), 2, 5, 1, 0),            # kernel = input: one output position
]


@pytest.mark.parametrize("in_shape,n_maps,kernel,stride,padding", CONV_CASES)
def test_conv_connectivity_equals_a_numpy_convolution(in_shape, n_maps, kernel, stride, padding):
    rng = np.random.default_rng(0)
    conn = topology.conv2d(in_shape, n_maps, kernel, stride, padding)
    kernels = rng.random(conn.weight_shape)
    x = rng.random(in_shape)
    def pair(v):
        return v if isinstance(v, tuple) else (v, v)
    expected = reference_conv(x, kernels, pair(stride), pair(padding))
    assert conn.out_shape == expected.shape
    np.testing.assert_allclose(apply(conn, kernels.ravel()[conn.weight_index], x), expected, rtol=1e-12)


def test_conv_synapses_are_unique_and_share_kernel_entries():
    conn = topology.conv2d((2, 6, 6), 3, 3, 1, 1)
    pairs = conn.post.astype(np.int64) * conn.n_pre + conn.pre
    assert len(np.unique(pairs)) == len(conn)
    uses = np.bincount(conn.weight_index, minlength=3 * 2 * 9)
    assert uses.min() >= 1 and uses.max() == 36                 # an interior entry serves every position
    i, j, kidx = conn                                            # unpacks for Synapses.connect(i=, j=)
    assert i is conn.pre and j is conn.post and kidx is conn.weight_index


@pytest.mark.parametrize("in_shape,n_maps,kernel,stride,padding", CONV_CASES[:4])
def test_locally_connected_has_conv_receptive_fields_and_one_weight_per_synapse(in_shape, n_maps, kernel,
                                                                                 stride, padding):
    rng = np.random.default_rng(1)
    conv = topology.conv2d(in_shape, n_maps, kernel, stride, padding)
    local = topology.locally_connected(in_shape, n_maps, kernel, stride, padding)
    assert (local.pre == conv.pre).all() and (local.post == conv.post).all()
    assert (local.weight_index == np.arange(len(local))).all()
    # With the kernel copied to every position, the local projection is the convolution.
    kernels = rng.random(conv.weight_shape)
    x = rng.random(in_shape)
    copied = kernels.ravel()[conv.weight_index]
    np.testing.assert_allclose(apply(local, copied[local.weight_index], x), apply(conv, copied, x))


def reference_pool(x, size, stride):
    maps, rows, cols = x.shape
    out_r, out_c = (rows - size) // stride + 1, (cols - size) // stride + 1
    out = np.zeros((maps, out_r, out_c))
    for m in range(maps):
        for r in range(out_r):
            for c in range(out_c):
                out[m, r, c] = x[m, r * stride:r * stride + size, c * stride:c * stride + size].max()
    return out


@pytest.mark.parametrize("in_shape,size,stride,drop", [((3, 28, 28), 2, 2, False), ((4, 14, 14), 3, 3, True),
                                                        ((2, 7, 7), 3, 2, False)])
def test_pool_connectivity_equals_max_pooling(in_shape, size, stride, drop):
    rng = np.random.default_rng(2)
    x = rng.random(in_shape)
    conn = topology.max_pool2d(in_shape, size, stride, drop_remainder=drop)
    pooled = np.full(conn.n_post, -np.inf)
    np.maximum.at(pooled, conn.post, x.ravel()[conn.pre])
    expected = reference_pool(x, size, stride)
    assert conn.out_shape == expected.shape and conn.weight_index is None
    np.testing.assert_array_equal(pooled.reshape(conn.out_shape), expected)


def test_pooling_first_spike_times_passes_the_earliest_spike():
    """On first-spike times the pool is a min: the earliest spike in the window passes."""
    t = np.array([[[5., 2.], [np.inf, 7.]]])
    conn = topology.max_pool2d(t.shape, 2)
    first = np.full(conn.n_post, np.inf)
    np.minimum.at(first, conn.post, t.ravel()[conn.pre])
    assert first.tolist() == [2.0]


@pytest.mark.parametrize("call,match", [
    (lambda: topology.conv2d((1, 4, 4), 2, 5), "larger than its input"),
    (lambda: topology.conv2d((1, 8, 8), 2, 3, stride=2), "not a multiple of stride"),
    (lambda: topology.max_pool2d((3, 14, 14), 3), "drop_remainder"),
    (lambda: topology.conv2d((1, 8, 8), 0, 3), "feature maps"),
    (lambda: topology.conv2d((1, 8, 8), 2, 3, padding=-1), "padding >= 0"),
    (lambda: topology.locally_connected((1, 8, 8), 2, 2.5), "integer"),
])
def test_impossible_geometries_are_refused_before_any_simulation(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


@pytest.mark.parametrize("seed", range(4))
def test_receptive_field_pairing_equals_spyketorch_on_the_padded_input(seed):
    """SpykeTorch's STDP pairing (snn.STDP.get_pre_post_ordering), ported: on the zero-padded
    cumulative input wave, LTP where sum_t(input) >= sum_t(output at the winner)."""
    rng = np.random.default_rng(seed)
    n_steps, in_shape, kernel, padding = 15, (3, 8, 8), 5, 2
    first_in = np.where(rng.random(in_shape) < 0.5, rng.integers(0, n_steps, in_shape), np.inf)
    wave = np.arange(n_steps)[:, None, None, None] >= first_in[None]          # cumulative, silent: never
    padded_wave = np.pad(wave, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    winners = np.array([[0, 0], [7, 7], [3, 5], [0, 6]])                     # corners, border, interior
    t_out = rng.integers(0, n_steps, len(winners))
    fields = topology.receptive_fields(first_in, winners, kernel, padding=padding)
    in_latency = padded_wave.sum(axis=0)
    for n, (y, x) in enumerate(winners):
        expected = in_latency[:, y:y + kernel, x:x + kernel] >= (n_steps - t_out[n])
        assert ((fields[n] <= t_out[n]) == expected).all()
    assert np.isinf(fields[0][:, :2, :]).all()                              # the padding reads as silent
