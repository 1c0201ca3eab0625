"""Brian2 simulation of a convolutional chain (:mod:`bioplastic.network.convnet`), image after image.

Image k occupies time steps ``k*P .. k*P + P - 1`` with ``P = n_steps + depth + 1`` (one step
of delay per simulated layer, one to spare). At the start of each period one Brian2
``network_operation`` reads the finished image from the layers' state variables
(``spiked``, ``t_first``, ``v_first``), records the last layer's first-spike steps, lets the
learning layer's winners update their kernels, and a ``run_regularly`` then puts every
layer back at rest. Runs on the runtime device (network operations are Python).
"""
from __future__ import annotations

import brian2 as b2
import numpy as np

from bioplastic.network.convnet import SILENT, ConvNetSpec, LayerTraining, learn_image


def _spike_times(first_steps: np.ndarray, first_image: int, period: int, dt):
    """SpikeGeneratorGroup indices and times of images ``first_image ...`` (steps, -1 silent)."""
    image, neuron = np.nonzero(first_steps >= 0)
    steps = (image + first_image) * period + first_steps[image, neuron].astype(np.int64)
    return neuron, steps * dt


# _deliver_after_resets: a neuron crossing threshold at step s records v_first in its reset;
# Brian2 delivers a step's spikes before resets by default, which would add step s's inputs
# to v_first. Delivering them after the resets keeps v_first = the potential that crossed,
# the reference's "potential at the first-spike step"; the one-step delay per layer is unchanged.

class ChainSimulation:
    """Brian2 groups for ``spec.chain(start, stop)``, fed with the first-spike steps of ``start``."""

    def __init__(self, spec: ConvNetSpec, start: str, stop: str, weights: dict, *, record_potential: bool = False):
        self.spec, self.start = spec, start
        self.names = spec.chain(start, stop)
        self.period = spec.n_steps + len(self.names) + 1
        self.dt = b2.defaultclock.dt
        n_start = int(np.prod(spec.shape(start)))
        self.source = b2.SpikeGeneratorGroup(n_start, [], [] * b2.second, name="chain_input")
        self.groups, self.kernels, objects = {}, {}, [self.source]
        previous = self.source
        for name in self.names:
            group, synapses, kernels = self._layer(name, previous, weights.get(name))
            self.groups[name] = group
            objects += [group, synapses] + ([kernels] if kernels is not None else [])
            if kernels is not None:
                self.kernels[name] = kernels
            previous = group
        self.record_potential = record_potential
        self.training: LayerTraining | None = None
        self.operation = b2.NetworkOperation(self._end_of_image, dt=self.period * self.dt, when="start", order=-1)
        self.network = b2.Network(*objects, self.operation)
        self.periods_done = 0
        self.potential = None

    def _layer(self, name, previous, weights):
        layer, proj = self.spec.layers[name], self.spec.projections[name]
        model = layer.model
        group = model.make_group(layer.size, name=f"chain_{name}")
        group.run_regularly(model.resting_state_code(), dt=self.period * self.dt, when="start", order=0)
        conn = self.spec.connectivity(name)
        target = f"{model.excitatory_input}_post"
        if proj.kind == "max_pool":
            synapses = b2.Synapses(previous, group, on_pre=f"{target} += 1", name=f"chain_{proj.name}")
            synapses.connect(i=conn.pre, j=conn.post)
            synapses.pre.when = "after_resets"        # see _deliver_after_resets
            return group, synapses, None
        kernels = b2.NeuronGroup(int(np.prod(conn.weight_shape)), "w : 1", name=f"kernels_{name}")
        kernels.w = np.asarray(weights, dtype=np.float64).ravel()
        synapses = b2.Synapses(previous, group, "w : 1 (linked)\nkidx : integer (constant)",
                               on_pre=f"{target} += w", name=f"chain_{proj.name}")
        synapses.connect(i=conn.pre, j=conn.post)
        synapses.w = b2.linked_var(kernels.w, index="kidx")
        synapses.kidx = conn.weight_index
        synapses.pre.when = "after_resets"            # see _deliver_after_resets
        return group, synapses, kernels

    # --- reading a finished image -------------------------------------------------------------
    def _first_steps(self, name: str, image: int) -> np.ndarray:
        """First-spike steps (in the reference's steps, ``inf`` if silent) of a simulated layer."""
        group = self.groups[name]
        depth = self.names.index(name) + 1
        steps = np.rint(group.t_first_[:] / float(self.dt)) - image * self.period - depth
        return np.where(group.spiked_[:] > 0, steps, np.inf)

    def _end_of_image(self, t):
        image = int(round(float(t / b2.second) / (self.period * float(self.dt)))) - 1 - self.first_period
        if image < 0 or image >= len(self.input_steps):
            return
        last = self.names[-1]
        first = self._first_steps(last, image + self.first_period)
        self.output[image] = np.where(np.isfinite(first), first, SILENT)
        if self.potential is not None:
            self.potential[image] = self.groups[last].v_[:]
        if self.training is not None:
            self._learn(image)

    def _learn(self, image: int):
        name = self.training.layer
        shape, source = self.spec.layers[name].shape, self.spec.projections[name].source
        first = self._first_steps(name, image + self.first_period).reshape(shape)
        potential = self.groups[name].v_first_[:].reshape(shape)
        if source == self.start:
            source_first = self.input_steps[image].astype(np.float64)
            source_first = np.where(source_first >= 0, source_first, np.inf)
        else:
            source_first = self._first_steps(source, image + self.first_period)
        if learn_image(self.spec, self.training, first, potential, source_first):
            self.kernels[name].w_[:] = self.training.weights.ravel()

    # --- running ------------------------------------------------------------------------------
    def run(self, input_steps: np.ndarray, *, chunk: int = 500, progress=None) -> np.ndarray:
        """Present every image once; returns the last layer's first-spike steps (n_images, size), -1 silent.

        Images are fed ``chunk`` at a time (the spike generator holds one chunk); one spare
        period at the end lets the network operation read the last image.
        """
        n_images = len(input_steps)
        last = self.spec.layers[self.names[-1]]
        self.input_steps = input_steps
        self.output = np.full((n_images, last.size), SILENT, dtype=np.int8)
        self.potential = np.zeros((n_images, last.size)) if self.record_potential else None
        self.first_period = self.periods_done
        for first in range(0, n_images, chunk):
            block = np.asarray(input_steps[first:first + chunk])
            indices, times = _spike_times(block, self.first_period + first, self.period, self.dt)
            self.source.set_spikes(indices, times)
            self.network.run(len(block) * self.period * self.dt, namespace={})
            if progress is not None:
                progress(len(block))
        self.source.set_spikes([], [] * b2.second)
        self.network.run(self.period * self.dt, namespace={})
        self.periods_done = self.first_period + n_images + 1
        return self.output
