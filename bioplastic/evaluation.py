"""Test presentations with plasticity off, and the readout of a class from spike counts.

Readout: the predicted class is the segment (group of excitatory neurons assigned to a
class) with the largest summed spike count during the presentation; a presentation that
evokes no spike at all is counted as wrong (prediction -1), never silently as class 0.

Evaluation is *batched*: with plasticity off, test images are independent, so B images
are simulated at once in B copies of the network that share (replicated) weights; the
network is built once and re-run for every weight snapshot. :func:`evaluate_sequential`
presents the same spike trains one image after another, as a reference.
"""
from __future__ import annotations

import numpy as np
import brian2
from brian2 import SpikeMonitor, ms, second

from bioplastic.encoding import poisson_spike_trains
from bioplastic.network.build import NetworkSpec, build_evaluation_network


def readout(counts: np.ndarray, segments: np.ndarray, n_classes: int, among=None) -> np.ndarray:
    """Class with the largest summed spike count per presentation; -1 when silent.

    ``counts``: [..., n_exc]; ``segments``: class of each excitatory neuron. ``among``
    restricts the answer to some classes (e.g. the digits of task 1 after task 2), reading
    only their segments.
    """
    classes = np.arange(n_classes) if among is None else np.asarray(among)
    per_class = np.zeros(counts.shape[:-1] + (len(classes),))
    for k, c in enumerate(classes):
        per_class[..., k] = counts[..., segments == c].sum(-1)
    pred = classes[per_class.argmax(-1)]
    pred[per_class.max(-1) == 0] = -1
    return pred


class TestSpikes:
    __test__ = False   # not a pytest test class
    """Poisson spike trains of a test set, drawn once and reused for every snapshot.

    Reusing the same trains for every checkpoint (common random numbers) makes the
    learning curve smoother than fresh noise would, without biasing it.
    """

    def __init__(self, images: np.ndarray, spec: NetworkSpec, duration, seed: int):
        self.n_images = len(images)
        self.n_steps = int(round(float(duration / spec.dt)))
        self.duration = duration
        rng = np.random.default_rng(seed)
        self.image, self.pixel, self.step = poisson_spike_trains(
            images.reshape(len(images), -1), float(spec.max_rate / brian2.Hz), self.n_steps, float(spec.dt / second), rng)

    def batch(self, start: int, stop: int):
        """Spikes of images start..stop-1 laid out side by side (copy = image - start)."""
        keep = (self.image >= start) & (self.image < stop)
        return (self.image[keep] - start), self.pixel[keep], self.step[keep]


def evaluate_batched(spec: NetworkSpec, spikes: TestSpikes, weight_sets, state_sets=None, *,
                     batch_size: int = 500, progress=None, hidden_weight_sets=None) -> np.ndarray:
    """Spike counts of every test image under every weight set: [n_sets, n_images, n_exc].

    ``weight_sets``: [n_sets, n_segment_inputs, n_exc]; ``state_sets``: dict var -> [n_sets, n];
    ``hidden_weight_sets``: [n_sets, n_inputs, hidden.n] for a network with a hidden layer.
    Runs on Brian2's runtime device: the network of one batch is built once and re-run
    (``store``/``restore``) with each weight set, so nothing is recompiled.
    """
    weight_sets = np.asarray(weight_sets)
    n_sets = len(weight_sets)
    state_sets = state_sets or {}

    def weight_set(s):
        states = {k: np.asarray(v[s], float) for k, v in state_sets.items()}
        return weight_sets[s], states, None if hidden_weight_sets is None else hidden_weight_sets[s]

    counts = np.zeros((n_sets, spikes.n_images, spec.n_exc), dtype=np.int32)
    for start in range(0, spikes.n_images, batch_size):
        stop = min(start + batch_size, spikes.n_images)
        copy, pixel, step = spikes.batch(start, stop)
        w, states, hidden_w = weight_set(0)
        net = build_evaluation_network(spec, stop - start, copy * spec.n_inputs + pixel, step, w, states,
                                       hidden_weights=hidden_w)
        net.network.store("initial")
        for s in range(n_sets):
            net.network.restore("initial")
            net.assign(*weight_set(s))
            net.network.run(spikes.duration, namespace={})
            counts[s, start:stop] = net.counts()
            if progress is not None:
                progress.update(stop - start)
    return counts


def evaluate_sequential(spec: NetworkSpec, spikes: TestSpikes, weights, states=None, rest=150 * ms, *,
                        hidden_weights=None) -> np.ndarray:
    """The same test spike trains presented one after another to one network: [n_images, n_exc]."""
    period_steps = spikes.n_steps + int(round(float(rest / spec.dt)))
    net = build_evaluation_network(spec, 1, spikes.pixel, spikes.step + spikes.image * period_steps, weights,
                                   states, hidden_weights=hidden_weights, name="seq")
    monitor = SpikeMonitor(net.exc, name="seq_spikes")
    net.network.add(monitor)
    net.network.run(spikes.n_images * period_steps * spec.dt, namespace={})
    presentation = np.asarray(np.round(monitor.t / spec.dt), dtype=np.int64) // period_steps
    counts = np.zeros((spikes.n_images, spec.n_exc), dtype=np.int32)
    np.add.at(counts, (presentation, np.asarray(monitor.i)), 1)
    return counts
