"""Test presentations with plasticity off, and the readout of a class from spike counts.

The spike counts of the readout layer go to a readout of :mod:`bioplastic.readout`.

Evaluation is *batched*: with plasticity off, test images are independent, so B images
are simulated at once in B copies of the network. With the weights frozen, the input layer
only adds, at each time step, the summed input weight of that step's input spikes to the
excitatory input conductance: :func:`input_drive` computes it for every copy with one
sparse product, and the network adds it where the input synapses would have, so the
B x n_inputs x n_exc input synapses are never built. The network is then the same for
every batch and weight set; only the values of one TimedArray (and carried-over states)
change, set through :func:`run_values`. It is built once per call and re-run: on the
runtime device with ``store``/``restore``, on C++ standalone as one compiled binary re-run
with ``run_args``. :func:`evaluate_sequential` presents the same spike trains one image
after another to the synaptic network of :func:`build_evaluation_network`, as a reference.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import brian2
from brian2 import Network, NeuronGroup, Quantity, SpikeMonitor, Synapses, TimedArray, linked_var, ms, second
from brian2 import device as brian_device
from scipy import sparse

from bioplastic.brian_compat import standalone_run_args, write_timed_array
from bioplastic.devices import DeviceConfig, activated, build, scratch_dir
from bioplastic.encoding import poisson_spike_trains
from bioplastic.errors import ConfigError
from bioplastic.network.build import _layer_groups, build_evaluation_network
from bioplastic.network.spec import NetworkSpec, split_state_name


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
            images.reshape(len(images), -1), float(spec.max_rate / brian2.Hz), self.n_steps, float(spec.dt / second),
            rng)

    def batch(self, start: int, stop: int):
        """Spikes of images start..stop-1 laid out side by side (copy = image - start)."""
        keep = (self.image >= start) & (self.image < stop)
        return (self.image[keep] - start), self.pixel[keep], self.step[keep]


@dataclass
class DrivenEvaluationNetwork:
    """Frozen network of ``n_copies`` copies whose input layer is replaced by its drive.

    ``drive`` [step, copy*n_exc + neuron] holds, for every time step, the summed input weight
    of the input spikes of that step (see :func:`input_drive`); it is the only thing, with the
    carried-over states, that changes between batches and weight sets (see :func:`run_values`).
    """
    network: Network
    spec: NetworkSpec
    n_copies: int
    n_steps: int
    exc: NeuronGroup
    drive: TimedArray
    counter: SpikeMonitor

    def counts(self) -> np.ndarray:
        """Spike count of each neuron of the layer in the last run: [copy, n]."""
        return np.array(self.counter.count[:]).reshape(self.n_copies, self.spec.readout.size)


def build_driven_evaluation_network(spec: NetworkSpec, n_copies: int, n_steps: int, *,
                                    name: str = "evalb") -> DrivenEvaluationNetwork:
    """The network of :func:`~bioplastic.network.build.build_evaluation_network` without input synapses.

    Adding the precomputed drive in the ``synapses`` slot of each time step does what the
    input synapses' ``ge_post += w`` does for the input spikes of that step (only the order of
    the floating-point additions differs). The structure does not depend on the test images
    or the weights, so one network (one compiled binary) serves every batch and weight set.

    All-but-self lateral inhibition (n_exc * (n_exc - 1) synapses per copy, most of the memory,
    start-up time and results of a standalone run) is applied the same way, as what it sums to:
    each excitatory neuron receives ``w_inh_exc`` times the number of inhibitory spikes of its
    copy in this step, minus one if its own partner spiked. A per-copy counter gathers the
    spikes (one synapse per inhibitory neuron), so a copy costs O(n_exc) synapses, not O(n_exc^2).
    """
    layer = spec.readout
    if not spec.single_driven_layer:
        raise ConfigError("the driven evaluation network replaces the input synapses of a single layer; this "
                          "network has several layers (use the synaptic evaluation).")
    n = layer.size
    ge, gi = layer.model.excitatory_input, layer.model.inhibitory_input
    pooled = layer.inhibition is not None and layer.inhibition.lateral == "all_but_self"
    drive = TimedArray(np.zeros((n_steps, n_copies * n)), dt=spec.dt, name=f"{name}_drive")
    unpooled = dataclasses.replace(layer, inhibition=dataclasses.replace(layer.inhibition, lateral="none")) \
        if pooled else layer
    exc, inh, s_ei, s_ie = _layer_groups(spec, unpooled, n_copies, name, training=False,
                                         extra_equations=("lateral_total : 1 (linked)\nlateral_seen : 1" if pooled
                                                          else ""))
    w_inh_exc = layer.inhibition.w_inh_exc if layer.inhibition else 0.0
    exc.namespace.update({drive.name: drive, "w_inh_exc": w_inh_exc})
    code = f"{ge} += {drive.name}(t, i)"
    objects = [exc, inh, s_ei, s_ie]
    if pooled:
        # On the excitatory group's clock: each clock costs the runtime device time per step.
        pool = NeuronGroup(n_copies, "spikes : 1", name=f"{name}_pool", clock=exc.clock)
        s_pool = Synapses(inh, pool, on_pre="spikes_post += 1", name=f"{name}_S_pool", clock=exc.clock)
        s_pool.connect(i=np.arange(n_copies * n), j=np.repeat(np.arange(n_copies), n))
        s_self = Synapses(inh, exc, on_pre=f"{gi}_post -= w_inh_exc", namespace={"w_inh_exc": w_inh_exc},
                          name=f"{name}_S_self", clock=exc.clock)
        s_self.connect(j="i")
        exc.lateral_total = linked_var(pool, "spikes", index=np.repeat(np.arange(n_copies), n))
        # The counter only grows; each neuron takes the increase since the previous step.
        code += f"\n{gi} += w_inh_exc * (lateral_total - lateral_seen)\nlateral_seen = lateral_total"
        objects += [pool, s_pool, s_self]
    # After the synaptic pathways of this step (order 0), before the next state update.
    exc.run_regularly(code, when="synapses", order=10, name=f"{name}_input_drive")
    counter = SpikeMonitor(exc, record=False, name=f"{name}_counter")
    objects = [obj for obj in objects + [counter] if obj is not None]
    return DrivenEvaluationNetwork(Network(*objects), spec, n_copies, n_steps, exc, drive, counter)


def input_drive(spec: NetworkSpec, copy: np.ndarray, pixel: np.ndarray, step: np.ndarray, weights: np.ndarray,
                n_copies: int, n_steps: int, out: np.ndarray | None = None) -> np.ndarray:
    """Summed input weight onto each neuron of the layer, per step: [n_steps, n_copies * n].

    ``weights``: [n_inputs, n], the input projections' weights times their gains, summed.

    One sparse (spikes x inputs) by dense (inputs x neurons) product: row ``step*n_copies + copy``
    of the spike matrix marks the inputs of that copy that spike at that step. ``out``: an array
    to fill (e.g. the TimedArray's own), by blocks of steps so that no second full-size array is made.
    """
    rows = np.asarray(step, np.int64) * n_copies + np.asarray(copy, np.int64)
    spikes = sparse.csr_matrix((np.ones(len(rows)), (rows, np.asarray(pixel, np.int64))),
                               shape=(n_steps * n_copies, spec.n_inputs))
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if out is None:
        out = np.empty((n_steps, n_copies * spec.readout.size))
    flat = out.reshape(n_steps * n_copies, spec.readout.size)       # a view: out is C-contiguous
    block = max(n_copies, (1 << 20) // spec.readout.size // n_copies * n_copies)   # ~8 MB of rows, whole steps
    for start in range(0, len(flat), block):
        flat[start:start + block] = spikes[start:start + block] @ weights
    return out


def run_values(net: DrivenEvaluationNetwork, batch, weights: np.ndarray, states: dict | None = None) -> dict:
    """Everything one run of a built evaluation network takes: {TimedArray or VariableView: values}.

    The one place where a weight set and its carried-over states meet the built network, for
    both devices (runtime: :func:`_assign`; standalone: :func:`standalone_run_args`).
    ``batch``: (copy, pixel, step) of the input spikes, as :meth:`TestSpikes.batch` gives them;
    ``weights``: {projection: [n_inputs, n]}; ``states``: {``layer.var``: [n]} in SI units (e.g. ``exc.theta``).
    """
    weights = combined_input_weights(net.spec, weights)
    # Computed into the TimedArray's own array: the runtime device reads it as it is; the
    # standalone device writes it to a file for the binary.
    values = {net.drive: input_drive(net.spec, *batch, weights, net.n_copies, net.n_steps, out=net.drive.values)}
    for name, state in (states or {}).items():
        view = getattr(net.exc, split_state_name(name)[1])
        values[view] = Quantity(np.tile(np.asarray(state, dtype=np.float64).ravel(), net.n_copies), dim=view.dim)
    return values


def combined_input_weights(spec: NetworkSpec, weights: dict) -> np.ndarray:
    """What the input adds to the layer per input spike: the sum of gain * w over input projections."""
    total = np.zeros((spec.n_inputs, spec.readout.size))
    for name, p in spec.projections.items():
        w = np.asarray(weights[name], dtype=np.float64)
        if w.shape != total.shape:
            raise ConfigError(f"weights of {name!r} have shape {w.shape}, expected {total.shape}.")
        total += w if p.gain == 1 else p.gain * w
    return total


def _assign(values: dict) -> None:
    """Runtime device: write the values of :func:`run_values` into the network."""
    for key, value in values.items():
        if isinstance(key, TimedArray):
            write_timed_array(key, value)      # in place: the generated code reads this very array
        else:
            key[:] = value


@contextlib.contextmanager
def _run_arg_directory(build_dir: str, n_bytes: int):
    """Where the run arguments go: in memory (/dev/shm) where it has room, else the build directory.

    The drive is rewritten for every run (8 bytes x copies x neurons x steps); on a disk-backed
    file system those writes are flushed to disk over and over, for nothing.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * n_bytes:
        directory = scratch_dir("bioplastic_eval_args_", shm)
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    else:
        try:
            yield build_dir
        finally:
            for leftover in Path(build_dir).glob("run_arg_*.dat"):
                leftover.unlink()


def _run_batches(net: DrivenEvaluationNetwork, spikes: TestSpikes, weight_sets: dict, state_sets: dict, counts, run,
                 progress, compiles_first: bool = False):
    """Every batch of test images under every weight set; ``run(values) -> counts [copy, n]``.

    ``compiles_first``: the first run also compiles the code (the runtime device's Cython
    target): the progress bar says so instead of an ETA drawn from it.
    """
    n_sets = len(counts)
    with _first_run_compiles(progress, compiles_first):
        for start in range(0, spikes.n_images, net.n_copies):
            stop = min(start + net.n_copies, spikes.n_images)
            batch = spikes.batch(start, stop)        # copies stop-start.. (last batch) get no input and are dropped
            for s in range(n_sets):
                weights = {k: v[s] for k, v in weight_sets.items()}
                states = {k: v[s] for k, v in state_sets.items()}
                counts[s, start:stop] = run(run_values(net, batch, weights, states))[:stop - start]
                if progress is not None:
                    progress.update(stop - start)
                    _first_run_done(progress)


@contextlib.contextmanager
def _first_run_compiles(progress, compiles: bool):
    """While the first run compiles, the bar reads '<desc> (compiling, first batch)' without an ETA."""
    if progress is None or not compiles or not hasattr(progress, "set_description_str"):
        yield
        return
    progress.bioplastic_desc, progress.bioplastic_format = progress.desc, progress.bar_format
    progress.bar_format = "{desc}: {n_fmt}/{total_fmt} [{elapsed}]"
    progress.set_description_str(f"{progress.desc} (compiling, first batch)")
    try:
        yield
    finally:
        _first_run_done(progress)


def _first_run_done(progress) -> None:
    if getattr(progress, "bioplastic_desc", None) is not None:
        progress.bar_format = progress.bioplastic_format
        progress.set_description_str(progress.bioplastic_desc)
        progress.bioplastic_desc = None


def _n_sets(weight_sets: dict) -> int:
    sizes = {len(v) for v in weight_sets.values()}
    if len(sizes) != 1:
        raise ConfigError(f"every projection needs the same number of weight sets, got {sorted(sizes)}.")
    return sizes.pop()


def evaluate_batched(spec: NetworkSpec, spikes: TestSpikes, weight_sets: dict, state_sets: dict | None = None, *,
                     batch_size: int = 500, progress=None, device: DeviceConfig | None = None,
                     timings: dict | None = None) -> np.ndarray:
    """Spike counts of the readout layer for every test image under every weight set: [n_sets, n_images, n].

    ``weight_sets``: {projection: [n_sets, ...]}; ``state_sets``: {``layer.var``: [n_sets, n]}.
    A single layer fed by the input is evaluated with the input replaced by its drive (below);
    deeper networks run their synapses (:func:`_evaluate_batched_synaptic`, runtime device).
    At most ``batch_size`` images are simulated at once (memory: the drive takes
    ``8 * batch_size * n * n_steps`` bytes); the batches are made equal in size.
    One network is built per call and re-run for every batch and weight set:

    * ``device=None`` (the current Brian2 runtime settings) or a runtime :class:`DeviceConfig`:
      ``store``/``restore`` between runs, nothing is recompiled;
    * a ``cpp_standalone`` :class:`DeviceConfig`: compiled once, then the binary is re-run with
      the drive and states of each run passed as ``run_args``.

    ``timings``, if given, receives the seconds spent building the network (``build_s``),
    compiling it (``compile_s``, standalone) and running every batch under every set (``run_s``).
    """
    weight_sets = {k: np.asarray(v, dtype=np.float64) for k, v in weight_sets.items()}
    state_sets = dict(state_sets or {})
    n_sets = _n_sets(weight_sets)
    if not spec.single_driven_layer:
        return _evaluate_batched_synaptic(spec, spikes, weight_sets, state_sets, batch_size=batch_size,
                                          progress=progress, device=device)
    n = spec.readout.size
    counts = np.zeros((n_sets, spikes.n_images, n), dtype=np.int32)
    if n_sets == 0 or spikes.n_images == 0:
        return counts
    n_batches = -(-spikes.n_images // max(1, int(batch_size)))
    n_copies = -(-spikes.n_images // n_batches)
    timings = {} if timings is None else timings
    started = time.perf_counter()
    if device is None or device.name == "runtime":
        with contextlib.nullcontext() if device is None else activated(device, "eval"):
            net = build_driven_evaluation_network(spec, n_copies, spikes.n_steps)
            net.network.store("initial")
            built = compiled = time.perf_counter()      # Cython code compiles in the first run, if new

            def run(values):
                net.network.restore("initial")
                _assign(values)
                net.network.run(spikes.duration, namespace={})
                return net.counts()
            # Every Network.run() starts with a full gc.collect(), which walks every Python object
            # alive (~0.1 s with Brian2 loaded); objects older than the loop need no second look.
            gc.freeze()
            try:
                _run_batches(net, spikes, weight_sets, state_sets, counts, run, progress,
                             compiles_first=brian2.prefs.codegen.target == "cython")
            finally:
                gc.unfreeze()
    elif device.name == "cpp_standalone":
        drive_bytes = 8 * n_copies * n * spikes.n_steps
        with activated(device, "eval") as build_dir, _run_arg_directory(build_dir, drive_bytes) as arg_dir:
            net = build_driven_evaluation_network(spec, n_copies, spikes.n_steps)
            net.network.run(spikes.duration, namespace={})
            built = time.perf_counter()
            build(build_dir, device)
            compiled = time.perf_counter()

            def run(values):
                brian_device.run(directory=build_dir, with_output=False,
                                 run_args=standalone_run_args(values, arg_dir))
                return net.counts()
            _run_batches(net, spikes, weight_sets, state_sets, counts, run, progress)
    else:
        raise ConfigError(f"batched evaluation runs on the runtime or cpp_standalone device, not {device.name!r}.")
    timings.update(build_s=built - started, compile_s=compiled - built, run_s=time.perf_counter() - compiled,
                   n_copies=n_copies, n_runs=n_batches * n_sets)
    return counts


def _evaluate_batched_synaptic(spec, spikes, weight_sets: dict, state_sets: dict, *, batch_size, progress, device):
    """Batched evaluation with explicit synapses in every layer (networks of several layers)."""
    if device is not None and device.name != "runtime":
        raise ConfigError("a network of several layers is evaluated on the runtime device only, "
                          f"not {device.name!r}.")

    def weight_set(s):
        return ({k: v[s] for k, v in weight_sets.items()}, {k: np.asarray(v[s], float) for k, v in state_sets.items()})

    n_sets = _n_sets(weight_sets)
    counts = np.zeros((n_sets, spikes.n_images, spec.readout.size), dtype=np.int32)
    for start in range(0, spikes.n_images, batch_size):
        stop = min(start + batch_size, spikes.n_images)
        copy, pixel, step = spikes.batch(start, stop)
        net = build_evaluation_network(spec, stop - start, copy * spec.n_inputs + pixel, step, *weight_set(0))
        net.network.store("initial")
        for s in range(n_sets):
            net.network.restore("initial")
            net.assign(*weight_set(s))
            net.network.run(spikes.duration, namespace={})
            counts[s, start:stop] = net.counts()
            if progress is not None:
                progress.update(stop - start)
    return counts


def evaluate_sequential(spec: NetworkSpec, spikes: TestSpikes, weights: dict, states: dict | None = None,
                        rest=150 * ms) -> np.ndarray:
    """The same test spike trains presented one after another to one network: [n_images, n]."""
    period_steps = spikes.n_steps + int(round(float(rest / spec.dt)))
    net = build_evaluation_network(spec, 1, spikes.pixel, spikes.step + spikes.image * period_steps, weights,
                                   states, name="seq")
    monitor = SpikeMonitor(net.groups[spec.readout_layer], name="seq_spikes")
    net.network.add(monitor)
    net.network.run(spikes.n_images * period_steps * spec.dt, namespace={})
    presentation = np.asarray(np.round(monitor.t / spec.dt), dtype=np.int64) // period_steps
    counts = np.zeros((spikes.n_images, spec.readout.size), dtype=np.int32)
    np.add.at(counts, (presentation, np.asarray(monitor.i)), 1)
    return counts
