"""The same convolutional chain as :mod:`bioplastic.network.convsim`, vectorised over time steps.

A non-leaky integrate-and-fire layer fed by first-spike inputs has, at step s, the potential
``sum of the weights of the inputs fired at or before s``: one matrix product of the
inputs' windows (im2col, "fired by step s" masks of every step stacked) with the kernels
(BLAS). Tried and measured slower: a sparse product of the inputs that fire at each step
(fewer operations, 2x slower for S2, where most C1 units fire), and replaying in time only
the neurons whose final potential crosses (8x slower before training, when most do).
Brian2 delivers the same sums as one synaptic event per input spike and target, with
Python-level scheduling per time step; this engine is several times faster (measured in
``benchmarks/conv_stdp.py``), so the experiments train and cache with it;
``tests/test_conv_stdp.py`` checks that it gives the Brian2 simulation's first spikes,
potentials, winners and kernels.

Only the reference neuron model (``if_first_spike``: no leak, strict threshold) has this
closed form; a layer with edited equations runs on the Brian2 engine
(:func:`supports_fast_engine` says which).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bioplastic.models.integrate_fire import IF_FIRST_SPIKE
from bioplastic.network.convnet import SILENT, ConvNetSpec, LayerTraining, learn_image


def supports_fast_engine(spec: ConvNetSpec) -> list[str]:
    """Names of the layers whose model is not the reference IF (they need the Brian2 engine)."""
    reference = (IF_FIRST_SPIKE.equations, IF_FIRST_SPIKE.threshold, IF_FIRST_SPIKE.reset)
    return [name for name, layer in spec.layers.items()
            if (layer.model.equations, layer.model.threshold, layer.model.reset) != reference
            or spec.projections[name].kind == "local"]


def _as_time(steps: np.ndarray) -> np.ndarray:
    steps = np.asarray(steps)
    return np.where(steps >= 0, steps, np.inf).astype(np.float32)       # steps < 128: exact in float32


def _windows(first: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """(n, positions, features) first-spike times under each output position (inf: silent or padding)."""
    padded = np.pad(first, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=np.inf)
    win = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    n, c, rows, cols = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n, rows * cols, c * kernel * kernel)


def conv_response(spec: ConvNetSpec, name: str, source_steps: np.ndarray, weights: np.ndarray):
    """First-spike steps (inf: silent) and potentials at them, each (n, maps, rows, cols), of a conv layer."""
    layer, proj = spec.layers[name], spec.projections[name]
    threshold = float(layer.model.parameters["v_thresh"])
    first = _as_time(source_steps).reshape((-1,) + tuple(spec.shape(proj.source)))
    windows = _windows(first, proj.kernel_size, proj.stride, proj.padding)            # n, P, F
    kernels = np.asarray(weights, dtype=np.float32).reshape(layer.shape[0], -1).T     # F, maps
    # Weights that STDP drives towards 0 become subnormal floats, which slow this CPU several-fold;
    # flush them to zero, as Brian2's -ffast-math and torch's set_flush_denormal do.
    kernels = np.where(kernels < np.finfo(np.float32).tiny, np.float32(0), kernels)
    n, positions, features = windows.shape
    steps = np.arange(spec.n_steps, dtype=np.float32)[None, :, None, None]
    fired_by = (windows[:, None] <= steps).astype(np.float32).reshape(-1, features)        # (n, T, P) x F
    potential = (fired_by @ kernels).reshape(n, spec.n_steps, positions, -1)             # one product, all steps
    above = potential > threshold
    fired = above.any(axis=1)
    step = np.argmax(above, axis=1)                                                       # first crossing
    value = np.take_along_axis(potential, step[:, None], axis=1)[:, 0]
    fired_at = np.where(fired, step, np.inf)
    v_first = np.where(fired, value, 0.0)
    shape = (n,) + tuple(layer.shape)
    return (fired_at.transpose(0, 2, 1).reshape(shape), v_first.transpose(0, 2, 1).reshape(shape))


def pool_response(spec: ConvNetSpec, name: str, source_steps: np.ndarray) -> np.ndarray:
    """First-spike steps (n, maps, rows, cols) of a pooling layer: the earliest spike of each window."""
    proj, layer = spec.projections[name], spec.layers[name]
    first = _as_time(source_steps).reshape((-1,) + tuple(spec.shape(proj.source)))
    k, s, p = proj.kernel_size, proj.stride, proj.padding
    padded = np.pad(first, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=np.inf)
    rows, cols = layer.shape[1:]
    if k == s:                                     # non-overlapping windows: a reshape, not a window view
        tiles = padded[:, :, :rows * k, :cols * k].reshape(len(padded), -1, rows, k, cols, k)
        return tiles.min(axis=(3, 5))
    win = sliding_window_view(padded, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return win[:, :, :rows, :cols].min(axis=(4, 5))


def _to_steps(first: np.ndarray) -> np.ndarray:
    flat = first.reshape(len(first), -1)
    return np.where(np.isfinite(flat), flat, SILENT).astype(np.int8)


def forward(spec: ConvNetSpec, start: str, stop: str, source_steps: np.ndarray, weights: dict,
            batch: int = 2, progress=None) -> np.ndarray:
    """First-spike steps (n, size of ``stop``), -1 silent, of the frozen chain after ``start``.

    ``batch`` images at a time (the same steps for any batch): at the reference's size two images'
    every-step products are a few MB, which the allocator reuses; eight images' (40 MB at S2) were
    mapped afresh each batch, 280 page faults an image and a tenth of the time in the kernel."""
    out = []
    for first in range(0, len(source_steps), batch):
        steps = np.asarray(source_steps[first:first + batch])
        for name in spec.chain(start, stop):
            if spec.projections[name].kind == "max_pool":
                steps = _to_steps(pool_response(spec, name, steps))
            else:
                steps = _to_steps(conv_response(spec, name, steps, weights[name])[0])
        out.append(steps)
        if progress is not None:
            progress(len(steps))
    return np.concatenate(out) if out else np.zeros((0, spec.layers[stop].size), np.int8)


def train_layer(spec: ConvNetSpec, name: str, source_steps: np.ndarray, training: LayerTraining,
                progress=None) -> None:
    """STDP of layer ``name`` (fed by its source's cached steps), one image at a time, in place."""
    for i in range(len(source_steps)):
        steps = np.asarray(source_steps[i:i + 1])
        first, potential = conv_response(spec, name, steps, training.weights)
        source_first = np.where(steps[0] >= 0, steps[0], np.inf).astype(np.float64)
        learn_image(spec, training, first[0].astype(np.float64), potential[0].astype(np.float64), source_first)
        if progress is not None and (i + 1) % 100 == 0:
            progress(100)
