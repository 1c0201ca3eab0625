"""The plastic network: Poisson input -> (plastic) excitatory segments <-> inhibitory neurons.

    input (n_inputs per copy) --S_in: plastic, all-to-all--> excitatory (n_classes x n_per_class)
    excitatory --S_ei: one-to-one--> inhibitory --S_ie: all-but-self or within radius--> excitatory

Every object is built for ``n_copies`` independent copies of that network at once
(block-diagonal connectivity): seeds during training, test images during batched
evaluation. Copies share compiled code and per-step overhead, which is where small
networks spend their time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import brian2
from brian2 import Hz, ms, Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, StateMonitor, Synapses

from bioplastic.errors import ConfigError
from bioplastic.models.base import NeuronModel
from bioplastic.models.plasticity import PlasticityRule
from bioplastic.network import topology
from bioplastic.protocol import Protocol


@dataclass(frozen=True)
class NetworkSpec:
    excitatory: NeuronModel
    inhibitory: NeuronModel
    rule: PlasticityRule
    n_classes: int
    n_per_class: int
    n_inputs: int = 784
    max_rate: object = field(default_factory=lambda: 63.75 * Hz)
    dt: object = field(default_factory=lambda: 0.5 * ms)
    w_init_max: float = 0.3
    w_exc_inh: float = 10.4
    w_inh_exc: float = 17.0
    weight_normalization: float | None = None    # per-neuron sum of input weights (Diehl & Cook: 78)
    # Teacher: during training, neurons of the label's segment receive Poisson excitation
    # (rate, conductance per spike); 0 Hz = off. Without it, segments of new classes cannot
    # win against trained ones and never spike, so they never learn (continual learning).
    teacher_rate: object = field(default_factory=lambda: 0 * Hz)
    teacher_weight: float = 0.0
    lateral_inhibition: str = "all_but_self"     # "all_but_self" | "radius" | "none"
    inhibition_radius: float = 0.0
    sheet_width: int | None = None

    @property
    def n_exc(self) -> int:
        return self.n_classes * self.n_per_class

    def segments(self) -> np.ndarray:
        """Class of each excitatory neuron: neurons k*n_per_class ... belong to class k."""
        return np.repeat(np.arange(self.n_classes), self.n_per_class)

    def lateral_pairs(self):
        """(inhibitory i, excitatory j) pairs of the inhibitory feedback within one copy."""
        if self.lateral_inhibition == "all_but_self":
            return topology.all_but_self(self.n_exc)
        if self.lateral_inhibition == "radius":
            return topology.within_radius(topology.sheet_positions(self.n_exc, self.sheet_width),
                                          self.inhibition_radius)
        if self.lateral_inhibition == "none":
            return np.array([], int), np.array([], int)
        raise ConfigError(f"lateral_inhibition must be 'all_but_self', 'radius' or 'none', "
                          f"got {self.lateral_inhibition!r}.")

    def initial_weights(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform in [0, w_init_max), as in Diehl & Cook (2015); shape [n_inputs, n_exc]."""
        return rng.uniform(0, self.w_init_max, size=(self.n_inputs, self.n_exc))


def _excitatory_inhibitory(spec: NetworkSpec, n_copies: int, exc_equations: str, exc_reset: str,
                           namespace: dict, name: str):
    exc = spec.excitatory.make_group(spec.n_exc * n_copies, extra_equations=exc_equations, extra_reset=exc_reset,
                                     namespace=namespace, name=f"{name}_exc", dt=spec.dt)
    inh = spec.inhibitory.make_group(spec.n_exc * n_copies, namespace={"learning": 0.0},
                                     name=f"{name}_inh", dt=spec.dt)
    # Each excitatory neuron drives its own inhibitory partner ...
    s_ei = Synapses(exc, inh, on_pre=f"{spec.inhibitory.excitatory_input}_post += w_exc_inh",
                    namespace={"w_exc_inh": spec.w_exc_inh}, name=f"{name}_S_ei", dt=spec.dt)
    i, j = topology.replicate(*topology.one_to_one(spec.n_exc), spec.n_exc, spec.n_exc, n_copies)
    s_ei.connect(i=i, j=j)
    # ... which inhibits all other excitatory neurons (or those within a radius on the sheet).
    li, lj = spec.lateral_pairs()
    if not len(li):                     # R = 0 or "none": no lateral inhibition at all
        return exc, inh, s_ei, None
    s_ie = Synapses(inh, exc, on_pre=f"{spec.excitatory.inhibitory_input}_post += w_inh_exc",
                    namespace={"w_inh_exc": spec.w_inh_exc}, name=f"{name}_S_ie", dt=spec.dt)
    i, j = topology.replicate(li, lj, spec.n_exc, spec.n_exc, n_copies)
    s_ie.connect(i=i, j=j)
    return exc, inh, s_ei, s_ie


def normalize_weights(s_in: Synapses, total: float, period, name: str) -> None:
    """Scale each neuron's input weights to sum to ``total`` (Diehl & Cook 2015), once per ``period``.

    The sums are Brian2 summed variables. Their updaters normally run every time step (a pass
    over all synapses per step); here they run on a clock of ``period``, just before the
    rescaling, so normalisation costs two or three passes per period instead. Frozen weights
    (``plastic_w == 0``) keep their values: only the free ones are rescaled.
    """
    for target in s_in.summed_updaters:
        updater = s_in.summed_updaters[target]
        updater._clock = brian2.Clock(dt=period, name=f"{name}_{target}_clock")
        updater.when, updater.order = "start", 0
    if "w_free_post" in s_in.summed_updaters:
        code = ("w = clip(w*(1 - plastic_w) + plastic_w*w*(w_norm_total - (w_total_post - w_free_post))"
                "/clip(w_free_post, 1e-12, inf), w_lo, w_hi)")
    else:
        code = "w = clip(w * w_norm_total / w_total_post, 0, w_max)"
    s_in.run_regularly(code, dt=period, when="start", order=1, name=f"{name}_normalize")
    s_in.namespace["w_norm_total"] = float(total)


@dataclass
class TrainingNetwork:
    network: Network
    spec: NetworkSpec
    protocol: Protocol
    input: NeuronGroup
    exc: NeuronGroup
    s_in: Synapses
    weight_monitor: StateMonitor | None
    state_monitor: StateMonitor | None
    spike_monitor: SpikeMonitor | None
    snapshot_period: object

    def weight_snapshots(self) -> np.ndarray:
        """Weights at each snapshot: [snapshot, copy, input, excitatory neuron]."""
        w = np.array(getattr(self.weight_monitor, self.spec.rule.weight_variable)).T  # [time, synapse], a copy: the monitor's memory goes with the network
        return w.reshape(len(w), self.protocol.n_copies, self.spec.n_inputs, self.spec.n_exc)

    def state_snapshots(self, variable: str) -> np.ndarray:
        """Excitatory state variable at each snapshot: [snapshot, copy, neuron]."""
        values = np.array(getattr(self.state_monitor, variable + "_")).T   # SI units, copied
        return values.reshape(len(values), self.protocol.n_copies, self.spec.n_exc)

    def final_weights(self) -> np.ndarray:
        return np.array(getattr(self.s_in, self.spec.rule.weight_variable)[:]).reshape(self.protocol.n_copies, self.spec.n_inputs, self.spec.n_exc)


def adaptive_variables(model: NeuronModel) -> list[str]:
    """State variables that learning changes and evaluation must carry over (e.g. theta)."""
    eqs = brian2.Equations(model.equations)
    return [name for name in ("theta",) if name in eqs.diff_eq_names]


def build_training_network(spec: NetworkSpec, protocol: Protocol, initial_weights: np.ndarray, *,
                           record_spikes: bool = False, name: str = "train", initial_state: dict | None = None,
                           synapse_state: dict | None = None, langevin_sigma: float = 0.0) -> TrainingNetwork:
    """Build the plastic network that runs a whole protocol in one ``run()``.

    ``initial_weights``: [copy, n_inputs, n_exc]. Snapshots of weights and adaptive
    thresholds are recorded at the protocol's snapshot times (evenly spaced).
    ``initial_state``: excitatory variables to start from (e.g. ``theta`` after a first task);
    ``synapse_state``: ``plastic_w``, ``w_lo``, ``w_hi`` arrays [copy, n_inputs, n_exc] for a
    rule with per-synapse bounds; ``langevin_sigma``: weight noise per slot (Langevin phase).
    """
    if (synapse_state or langevin_sigma) and not spec.rule.per_synapse_bounds:
        raise ConfigError("freeze masks, per-weight bounds and Langevin noise need a rule with "
                          "per_synapse_bounds=True.")
    n_copies, rule = protocol.n_copies, spec.rule
    functions = protocol.timed_arrays(name_prefix=f"{name}_")
    namespace = {**functions, **rule.parameters}

    inp = NeuronGroup(spec.n_inputs * n_copies,
                      "copy : integer (constant)\npixel : integer (constant)\np_spike : 1\n" + rule.pre_equations,
                      # rand() is only drawn for pixels that are on: most of MNIST is background.
                      threshold="p_spike > 0 and rand() < p_spike",
                      reset=rule.pre_reset or None, namespace=namespace, name=f"{name}_input", dt=spec.dt,
                      method="exact")
    rule.attach_traces(inp, "pre", spec.dt)
    if rule.pre_reset:
        # Count a presynaptic spike in its trace before synaptic propagation, as the per-synapse
        # form does (its pre pathway runs before the post pathway): a pre and a post spike in the
        # same time step then pair as pre-before-post in both formulations.
        inp.resetter["spike"].when = "before_synapses"
    inp.copy = np.repeat(np.arange(n_copies), spec.n_inputs)
    inp.pixel = np.tile(np.arange(spec.n_inputs), n_copies)
    # The spike probability changes only when the schedule does: set it once per slot.
    inp.run_regularly("p_spike = rate_dt * stimulus(image_schedule(t, copy)*ms, pixel)",
                      dt=protocol.slot, when="start", name=f"{name}_input_schedule")
    inp.namespace["rate_dt"] = float(spec.max_rate * spec.dt)

    normalizing = bool(spec.weight_normalization)
    exc_equations = "\n".join([
        "segment : integer (constant)", "copy : integer (constant)",
        "w_total : 1" if normalizing else "", "w_free : 1" if normalizing and rule.per_synapse_bounds else "",
        "label_now = label_schedule(t, copy) : 1",
        "learning = learning_schedule(t) : 1 (shared)", rule.post_equations])
    exc, inh, s_ei, s_ie = _excitatory_inhibitory(spec, n_copies, exc_equations, rule.post_reset, namespace, name)
    rule.attach_traces(exc, "post", spec.dt)
    if float(spec.teacher_rate) > 0 and spec.teacher_weight > 0:
        exc.run_regularly(f"{spec.excitatory.excitatory_input} += teacher_weight * learning * "
                          "int(label_now == segment) * int(rand() < teacher_p)", when="start", name=f"{name}_teacher")
        exc.namespace.update(teacher_weight=float(spec.teacher_weight), teacher_p=float(spec.teacher_rate * spec.dt))
    exc.segment = np.tile(spec.segments(), n_copies)
    exc.copy = np.repeat(np.arange(n_copies), spec.n_exc)

    # `learning` in the rule's code resolves to the excitatory group's (Brian2 reads unsuffixed
    # names in synaptic code as postsynaptic variables).
    summed = ""
    if normalizing:
        summed = f"\nw_total_post = {rule.weight_variable} : 1 (summed)"
        if rule.per_synapse_bounds:
            summed += f"\nw_free_post = plastic_w*{rule.weight_variable} : 1 (summed)"
    s_in = Synapses(inp, exc, model=rule.synapse_model + summed,
                    on_pre=f"{rule.before_transmission}\n{spec.excitatory.excitatory_input}_post += w\n{rule.on_pre}",
                    on_post=rule.on_post,
                    namespace=namespace, name=f"{name}_S_in", dt=spec.dt)
    i, j = topology.replicate(*topology.all_to_all(spec.n_inputs, spec.n_exc), spec.n_inputs, spec.n_exc, n_copies)
    s_in.connect(i=i, j=j)
    initial_weights = np.asarray(initial_weights, dtype=float)
    if initial_weights.shape != (n_copies, spec.n_inputs, spec.n_exc):
        raise ConfigError(f"initial weights have shape {initial_weights.shape}, expected "
                          f"{(n_copies, spec.n_inputs, spec.n_exc)} (copies, inputs, excitatory neurons).")
    s_in.w = initial_weights.ravel()   # same order as (i, j): copy-major, then input, then neuron
    if rule.per_synapse_bounds:
        for var, default in (("plastic_w", 1.0), ("w_lo", 0.0), ("w_hi", float(rule.parameters["w_max"]))):
            values = (synapse_state or {}).get(var)
            setattr(s_in, var, default if values is None else np.broadcast_to(values, initial_weights.shape).ravel())
        if langevin_sigma:
            # Langevin phase: every weight update gets Gaussian noise, Delta w = F(w) + sigma*N(0,1),
            # applied once per schedule slot to every plastic synapse while learning is on.
            s_in.run_regularly("w = clip(w + plastic_w*learning*langevin_sigma*randn(), w_lo, w_hi)",
                               dt=protocol.slot, when="end", name=f"{name}_langevin")
            s_in.namespace["langevin_sigma"] = float(langevin_sigma)
    for var, values in (initial_state or {}).items():
        setattr(exc, var + "_", np.asarray(values, float).ravel())   # SI units, e.g. theta carried over

    if spec.weight_normalization:
        normalize_weights(s_in, spec.weight_normalization, protocol.slot, name)

    objects = [obj for obj in (inp, exc, inh, s_in, s_ei, s_ie) if obj is not None]
    weight_monitor = state_monitor = spike_monitor = None
    period = None
    if protocol.snapshot_slots:
        gaps = np.diff(protocol.snapshot_slots)
        if len(gaps) and (gaps != gaps[0]).any():
            raise ConfigError("protocol: snapshots must be evenly spaced.")
        first = protocol.snapshot_slots[0]
        period = (gaps[0] if len(gaps) else first or 1) * protocol.slot
        if first % int(round(float(period / protocol.slot))):
            raise ConfigError("protocol: snapshots must fall on multiples of their spacing.")
        weight_monitor = StateMonitor(s_in, rule.weight_variable, record=True, dt=period, when="start", name=f"{name}_w_snapshots")
        objects.append(weight_monitor)
        adaptive = adaptive_variables(spec.excitatory)
        if adaptive:
            state_monitor = StateMonitor(exc, adaptive, record=True, dt=period, when="start",
                                         name=f"{name}_state_snapshots")
            objects.append(state_monitor)
    if record_spikes:
        spike_monitor = SpikeMonitor(exc, name=f"{name}_exc_spikes")
        objects.append(spike_monitor)
    return TrainingNetwork(Network(*objects), spec, protocol, inp, exc, s_in, weight_monitor, state_monitor,
                           spike_monitor, period)


@dataclass
class EvaluationNetwork:
    network: Network
    spec: NetworkSpec
    n_copies: int
    s_in: Synapses
    exc: NeuronGroup
    counter: SpikeMonitor

    def counts(self) -> np.ndarray:
        """Spike count of each excitatory neuron: [copy, n_exc]."""
        return np.array(self.counter.count[:]).reshape(self.n_copies, self.spec.n_exc)


def build_evaluation_network(spec: NetworkSpec, n_copies: int, input_neurons: np.ndarray, input_steps: np.ndarray,
                             weights: np.ndarray, states: dict | None = None, *, name: str = "eval",
                             ) -> EvaluationNetwork:
    """Frozen network of ``n_copies`` copies driven by given input spikes (plasticity off).

    ``weights``: [copy, n_inputs, n_exc] (or [n_inputs, n_exc], shared by all copies);
    ``states``: excitatory variables to carry over, e.g. ``{"theta": [copy, n_exc]}``.
    """
    gen = SpikeGeneratorGroup(spec.n_inputs * n_copies, input_neurons, input_steps * spec.dt,
                              name=f"{name}_input", dt=spec.dt)
    exc, inh, s_ei, s_ie = _excitatory_inhibitory(spec, n_copies, "", "", {"learning": 0.0}, name)
    s_in = Synapses(gen, exc, "w : 1", on_pre=f"{spec.excitatory.excitatory_input}_post += w",
                    name=f"{name}_S_in", dt=spec.dt)
    i, j = topology.replicate(*topology.all_to_all(spec.n_inputs, spec.n_exc), spec.n_inputs, spec.n_exc, n_copies)
    s_in.connect(i=i, j=j)
    weights = np.broadcast_to(np.asarray(weights, float), (n_copies, spec.n_inputs, spec.n_exc))
    s_in.w = np.ascontiguousarray(weights).ravel()
    for var, values in (states or {}).items():
        # Trailing underscore: values in SI units, as the snapshots store them.
        setattr(exc, var + "_", np.broadcast_to(np.asarray(values, float), (n_copies, spec.n_exc)).ravel())
    counter = SpikeMonitor(exc, record=False, name=f"{name}_counter")
    objects = [obj for obj in (gen, exc, inh, s_in, s_ei, s_ie, counter) if obj is not None]
    return EvaluationNetwork(Network(*objects), spec, n_copies, s_in, exc, counter)
