"""The plastic network: Poisson input -> (plastic) excitatory segments <-> inhibitory neurons.

    input (n_inputs per copy) --S_in: plastic, all-to-all--> excitatory (n_classes x n_per_class)
    excitatory --S_ei: one-to-one--> inhibitory --S_ie: all-but-self or within radius--> excitatory

With a hidden layer (``NetworkSpec.hidden``, the two-layer network) the input first drives
an unsupervised layer with its own inhibitory partners and lateral inhibition, and that
layer drives the class segments:

    input --S_hid_in: plastic (e.g. STDP)--> hidden excitatory <-> hidden inhibitory
    hidden excitatory --S_in: plastic (e.g. supervised)--> excitatory segments <-> inhibitory

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


def lateral_pairs(kind: str, n: int, radius: float = 0.0, sheet_width: int | None = None):
    """(inhibitory i, excitatory j) pairs of the inhibitory feedback within one layer of one copy."""
    if kind == "all_but_self":
        return topology.all_but_self(n)
    if kind == "radius":
        return topology.within_radius(topology.sheet_positions(n, sheet_width), radius)
    if kind == "none":
        return np.array([], int), np.array([], int)
    raise ConfigError(f"lateral_inhibition must be 'all_but_self', 'radius' or 'none', got {kind!r}.")


@dataclass(frozen=True)
class HiddenLayer:
    """An unsupervised plastic layer between the input and the class segments.

    Its ``n`` excitatory neurons sit on a 2-D sheet (``sheet_width`` columns, square by
    default), each with a one-to-one inhibitory partner that inhibits all other hidden
    neurons, those within ``inhibition_radius`` on the sheet, or none. Spikes of the hidden
    layer reach the segments through plastic synapses that add ``output_gain * w``.
    """
    n: int
    excitatory: NeuronModel
    rule: PlasticityRule
    lateral_inhibition: str = "all_but_self"
    inhibition_radius: float = 0.0
    sheet_width: int | None = None
    weight_normalization: float | None = 78.0
    w_init_max: float = 0.3
    output_gain: float = 1.0

    def lateral_pairs(self):
        return lateral_pairs(self.lateral_inhibition, self.n, self.inhibition_radius, self.sheet_width)

    def validate(self, output_rule: PlasticityRule) -> "HiddenLayer":
        if self.n < 1:
            raise ConfigError(f"network.hidden.n must be >= 1 (0 means no hidden layer), got {self.n}.")
        if self.rule.name == "supervised":
            raise ConfigError("network.hidden.plasticity.rule: the hidden layer has no class segments, so the "
                              "'supervised' rule has nothing to follow; use 'stdp' (or 'all_ltd').")
        if self.output_gain <= 0:
            raise ConfigError(f"network.hidden.output_gain must be > 0, got {self.output_gain}.")
        if self.rule.trace_location != "neuron" or output_rule.trace_location != "neuron":
            raise ConfigError("a hidden layer needs per-neuron traces (plasticity.trace_location: neuron) "
                              "in both layers.")
        # A hidden neuron's one trace serves as postsynaptic trace of its input synapses and as
        # presynaptic trace of its output synapses, so both must decay alike.
        if abs(float(self.rule.parameters["tau_post"]) - float(output_rule.parameters["tau_pre"])) > 1e-12:
            raise ConfigError(
                f"the hidden layer's tau_post ({self.rule.parameters['tau_post']}) must equal the output "
                f"rule's tau_pre ({output_rule.parameters['tau_pre']}): a hidden neuron keeps one spike "
                "trace for both roles. Set network.hidden.plasticity.parameters.tau_post or "
                "network.plasticity.parameters.tau_pre so that they agree.")
        return self


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
    hidden: HiddenLayer | None = None

    @property
    def n_exc(self) -> int:
        return self.n_classes * self.n_per_class

    def segments(self) -> np.ndarray:
        """Class of each excitatory neuron: neurons k*n_per_class ... belong to class k."""
        return np.repeat(np.arange(self.n_classes), self.n_per_class)

    @property
    def n_segment_inputs(self) -> int:
        """Presynaptic neurons of the segments: the input, or the hidden layer when there is one."""
        return self.hidden.n if self.hidden else self.n_inputs

    def lateral_pairs(self):
        """(inhibitory i, excitatory j) pairs of the segments' inhibitory feedback within one copy."""
        return lateral_pairs(self.lateral_inhibition, self.n_exc, self.inhibition_radius, self.sheet_width)

    def initial_weights(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform in [0, w_init_max), as in Diehl & Cook (2015); shape [n_segment_inputs, n_exc]."""
        return rng.uniform(0, self.w_init_max, size=(self.n_segment_inputs, self.n_exc))

    def initial_hidden_weights(self, rng: np.random.Generator) -> np.ndarray:
        """Input -> hidden weights, uniform in [0, hidden.w_init_max): [n_inputs, hidden.n]."""
        return rng.uniform(0, self.hidden.w_init_max, size=(self.n_inputs, self.hidden.n))


HIDDEN = "hidden_"   # prefix of the hidden layer's state variables in state dicts ("hidden_theta")


def _excitatory_inhibitory(spec: NetworkSpec, model: NeuronModel, n: int, pairs, n_copies: int,
                           exc_equations: str, exc_reset: str, namespace: dict, name: str):
    """One layer: ``n`` excitatory neurons per copy, each with an inhibitory partner that
    inhibits the excitatory neurons given by ``pairs`` (within the layer and copy)."""
    exc = model.make_group(n * n_copies, extra_equations=exc_equations, extra_reset=exc_reset,
                           namespace=namespace, name=f"{name}_exc", dt=spec.dt)
    inh = spec.inhibitory.make_group(n * n_copies, namespace={"learning": 0.0}, name=f"{name}_inh", dt=spec.dt)
    # Each excitatory neuron drives its own inhibitory partner ...
    s_ei = Synapses(exc, inh, on_pre=f"{spec.inhibitory.excitatory_input}_post += w_exc_inh",
                    namespace={"w_exc_inh": spec.w_exc_inh}, name=f"{name}_S_ei", dt=spec.dt)
    i, j = topology.replicate(*topology.one_to_one(n), n, n, n_copies)
    s_ei.connect(i=i, j=j)
    # ... which inhibits all other excitatory neurons (or those within a radius on the sheet).
    li, lj = pairs
    if not len(li):                     # R = 0 or "none": no lateral inhibition at all
        return exc, inh, s_ei, None
    s_ie = Synapses(inh, exc, on_pre=f"{model.inhibitory_input}_post += w_inh_exc",
                    namespace={"w_inh_exc": spec.w_inh_exc}, name=f"{name}_S_ie", dt=spec.dt)
    i, j = topology.replicate(li, lj, n, n, n_copies)
    s_ie.connect(i=i, j=j)
    return exc, inh, s_ei, s_ie


def _segment_layer(spec, n_copies, exc_equations="", exc_reset="", namespace=None, name="train"):
    return _excitatory_inhibitory(spec, spec.excitatory, spec.n_exc, spec.lateral_pairs(), n_copies,
                                  exc_equations, exc_reset, namespace or {"learning": 0.0}, name)


def _hidden_layer(spec, n_copies, exc_equations="", exc_reset="", namespace=None, name="train"):
    h = spec.hidden
    return _excitatory_inhibitory(spec, h.excitatory, h.n, h.lateral_pairs(), n_copies, exc_equations, exc_reset,
                                  namespace or {"learning": 0.0}, f"{name}_hidden")


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


def _learning_equations(rule: PlasticityRule, normalizing: bool) -> str:
    """Variables a postsynaptic group of a plastic projection needs."""
    return "\n".join(["w_total : 1" if normalizing else "",
                      "w_free : 1" if normalizing and rule.per_synapse_bounds else "",
                      "learning : 1", rule.slot_post_equations])   # per neuron: brian2genn cannot pass shared ones to synapses


def _follow_schedule(group, protocol: Protocol, rule: PlasticityRule) -> None:
    """Plasticity on/off, the current label and the sign of LTP, set once per schedule slot.

    Variables rather than subexpressions of the schedules (same values: the schedules change
    only between slots), because GeNN's synapse code (brian2genn) cannot read subexpressions.
    """
    code = ["learning = learning_schedule(t)"]
    if "label_now" in group.variables:
        code.append("label_now = label_schedule(t, copy)")
    code.append(rule.ltp_sign_code)
    group.run_regularly("\n".join(code), dt=protocol.slot, when="start", order=-2, name=f"{group.name}_schedule")


def _plastic_projection(pre, post, n_pre: int, n_post: int, n_copies: int, rule: PlasticityRule, target: str,
                        weights: np.ndarray, *, gain: float, normalization: float | None, synapse_state: dict | None,
                        langevin_sigma: float, protocol: Protocol, namespace: dict, name: str, dt) -> Synapses:
    """All-to-all plastic synapses ``pre -> post`` (per copy), with their protections."""
    summed = ""
    if normalization:
        summed = f"\nw_total_post = {rule.weight_variable} : 1 (summed)"
        if rule.per_synapse_bounds:
            summed += f"\nw_free_post = plastic_w*{rule.weight_variable} : 1 (summed)"
    # `learning` in the rule's code resolves to the postsynaptic group's (Brian2 reads
    # unsuffixed names in synaptic code as postsynaptic variables).
    transmit = f"{target}_post += w" if gain == 1 else f"{target}_post += output_gain*w"
    syn = Synapses(pre, post, model=rule.synapse_model + summed,
                   on_pre=f"{rule.before_transmission}\n{transmit}\n{rule.on_pre}", on_post=rule.on_post,
                   namespace={**namespace, **rule.parameters, "output_gain": float(gain)}, name=name, dt=dt)
    i, j = topology.replicate(*topology.all_to_all(n_pre, n_post), n_pre, n_post, n_copies)
    syn.connect(i=i, j=j)
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n_copies, n_pre, n_post):
        raise ConfigError(f"{name}: initial weights have shape {weights.shape}, expected "
                          f"{(n_copies, n_pre, n_post)} (copies, presynaptic, postsynaptic neurons).")
    syn.w = weights.ravel()   # same order as (i, j): copy-major, then presynaptic, then postsynaptic
    if (synapse_state or langevin_sigma) and not rule.per_synapse_bounds:
        raise ConfigError("freeze masks, per-weight bounds and Langevin noise need a rule with "
                          "per_synapse_bounds=True.")
    if rule.per_synapse_bounds:
        for var, default in (("plastic_w", 1.0), ("w_lo", 0.0), ("w_hi", float(rule.parameters["w_max"]))):
            values = (synapse_state or {}).get(var)
            setattr(syn, var, default if values is None else np.broadcast_to(values, weights.shape).ravel())
        if langevin_sigma:
            # Langevin phase, dw = F(w) dt + noise: the plasticity rule gives F(w); Gaussian noise
            # of std langevin_sigma is added to every plastic weight once per schedule slot while
            # learning is on (every weight, also those whose neurons are silent: the noise is
            # what finds out which weights the task does not hold in place).
            syn.run_regularly("w = clip(w + plastic_w*learning*langevin_sigma*randn(), w_lo, w_hi)",
                              dt=protocol.slot, when="end", name=f"{name}_langevin")
            syn.namespace["langevin_sigma"] = float(langevin_sigma)
    if normalization:
        normalize_weights(syn, normalization, protocol.slot, name)
    return syn


@dataclass
class TrainingNetwork:
    network: Network
    spec: NetworkSpec
    protocol: Protocol
    input: NeuronGroup
    exc: NeuronGroup
    s_in: Synapses                     # plastic synapses onto the segments (from input or hidden layer)
    weight_monitor: StateMonitor | None
    state_monitor: StateMonitor | None
    spike_monitor: SpikeMonitor | None
    snapshot_period: object
    hidden_exc: NeuronGroup | None = None
    s_hidden: Synapses | None = None   # plastic input -> hidden synapses
    hidden_weight_monitor: StateMonitor | None = None
    hidden_state_monitor: StateMonitor | None = None

    def weight_snapshots(self) -> np.ndarray:
        """Weights onto the segments at each snapshot: [snapshot, copy, presynaptic, excitatory neuron]."""
        return self._snapshots(self.weight_monitor, self.spec.rule, self.spec.n_segment_inputs, self.spec.n_exc)

    def hidden_weight_snapshots(self) -> np.ndarray:
        """Input -> hidden weights at each snapshot: [snapshot, copy, input, hidden neuron]."""
        return self._snapshots(self.hidden_weight_monitor, self.spec.hidden.rule, self.spec.n_inputs,
                               self.spec.hidden.n)

    def _snapshots(self, monitor, rule, n_pre, n_post):
        w = np.array(getattr(monitor, rule.weight_variable)).T  # [time, synapse], a copy: the monitor's memory goes with the network
        return w.reshape(len(w), self.protocol.n_copies, n_pre, n_post)

    def state_snapshots(self, variable: str) -> np.ndarray:
        """State variable at each snapshot: [snapshot, copy, neuron]; ``hidden_theta`` is the hidden layer's."""
        monitor, n = self.state_monitor, self.spec.n_exc
        if variable.startswith(HIDDEN):
            monitor, n, variable = self.hidden_state_monitor, self.spec.hidden.n, variable[len(HIDDEN):]
        values = np.array(getattr(monitor, variable + "_")).T   # SI units, copied
        return values.reshape(len(values), self.protocol.n_copies, n)

    def final_weights(self) -> np.ndarray:
        return np.array(getattr(self.s_in, self.spec.rule.weight_variable)[:]).reshape(
            self.protocol.n_copies, self.spec.n_segment_inputs, self.spec.n_exc)


def adaptive_variables(model: NeuronModel) -> list[str]:
    """State variables that learning changes and evaluation must carry over (e.g. theta)."""
    eqs = brian2.Equations(model.equations)
    return [name for name in ("theta",) if name in eqs.diff_eq_names]


def adaptive_state_names(spec: NetworkSpec) -> list[str]:
    """Adaptive variables of every layer; the hidden layer's carry the ``hidden_`` prefix."""
    names = adaptive_variables(spec.excitatory)
    if spec.hidden:
        names += [HIDDEN + v for v in adaptive_variables(spec.hidden.excitatory)]
    return names


def _set_states(exc, hidden_exc, states: dict | None, n_copies: int, spec: NetworkSpec) -> None:
    """Set state variables (SI values, [copy, neuron] or [neuron] shared by all copies)."""
    for var, values in (states or {}).items():
        group, n = exc, spec.n_exc
        if var.startswith(HIDDEN):
            if hidden_exc is None:
                raise ConfigError(f"state {var!r} given, but the network has no hidden layer.")
            group, n, var = hidden_exc, spec.hidden.n, var[len(HIDDEN):]
        # Trailing underscore: values in SI units, as the snapshots store them.
        setattr(group, var + "_", np.broadcast_to(np.asarray(values, float), (n_copies, n)).ravel())


def build_training_network(spec: NetworkSpec, protocol: Protocol, initial_weights: np.ndarray, *,
                           record_spikes: bool = False, name: str = "train", initial_state: dict | None = None,
                           synapse_state: dict | None = None, langevin_sigma: float = 0.0,
                           hidden_weights: np.ndarray | None = None,
                           hidden_synapse_state: dict | None = None) -> TrainingNetwork:
    """Build the plastic network that runs a whole protocol in one ``run()``.

    ``initial_weights``: [copy, n_segment_inputs, n_exc] onto the segments; with a hidden layer
    also ``hidden_weights`` [copy, n_inputs, hidden.n]. Snapshots of weights and adaptive
    thresholds are recorded at the protocol's snapshot times (evenly spaced).
    ``initial_state``: variables to start from (e.g. ``theta``, ``hidden_theta`` after a first
    task); ``synapse_state`` / ``hidden_synapse_state``: ``plastic_w``, ``w_lo``, ``w_hi`` arrays
    shaped like the weights, for rules with per-synapse bounds; ``langevin_sigma``: Gaussian
    weight noise per schedule slot (Langevin phase), in every plastic projection.
    """
    hidden = spec.hidden
    if (hidden is None) != (hidden_weights is None):
        raise ConfigError("hidden_weights must be given exactly when the network has a hidden layer.")
    n_copies, rule = protocol.n_copies, spec.rule
    first_rule = hidden.rule if hidden else rule      # the rule of the synapses leaving the input
    functions = protocol.timed_arrays(name_prefix=f"{name}_")

    inp = NeuronGroup(spec.n_inputs * n_copies,
                      "copy : integer (constant)\npixel : integer (constant)\np_spike : 1\n" + first_rule.pre_equations,
                      # rand() is only drawn for pixels that are on: most of MNIST is background.
                      threshold="p_spike > 0 and rand() < p_spike",
                      reset=first_rule.pre_reset or None, namespace=dict(functions), name=f"{name}_input",
                      dt=spec.dt, method="exact")
    first_rule.attach_traces(inp, "pre", spec.dt)
    if first_rule.pre_reset:
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
    projection = dict(n_copies=n_copies, langevin_sigma=langevin_sigma, protocol=protocol, namespace=functions,
                      dt=spec.dt)

    objects, pre, hidden_objects = [inp], inp, {}
    if hidden:
        # The hidden neurons' one spike trace is the postsynaptic trace of their input synapses
        # and the presynaptic trace of their synapses onto the segments (same time constant).
        h_exc, h_inh, h_ei, h_ie = _hidden_layer(
            spec, n_copies, "copy : integer (constant)\n" + _learning_equations(hidden.rule, bool(hidden.weight_normalization)),
            hidden.rule.post_reset, dict(functions), name)
        hidden.rule.attach_traces(h_exc, "post", spec.dt)
        _follow_schedule(h_exc, protocol, hidden.rule)
        h_exc.copy = np.repeat(np.arange(n_copies), hidden.n)
        s_hidden = _plastic_projection(inp, h_exc, spec.n_inputs, hidden.n, rule=hidden.rule,
                                       target=hidden.excitatory.excitatory_input, weights=hidden_weights, gain=1.0,
                                       normalization=hidden.weight_normalization, synapse_state=hidden_synapse_state,
                                       name=f"{name}_S_hid_in", **projection)
        objects += [h_exc, h_inh, h_ei, h_ie, s_hidden]
        hidden_objects = dict(hidden_exc=h_exc, s_hidden=s_hidden)
        pre = h_exc

    normalizing = bool(spec.weight_normalization)
    exc_equations = "\n".join(["segment : integer (constant)", "copy : integer (constant)",
                               "label_now : 1", _learning_equations(rule, normalizing)])
    exc, inh, s_ei, s_ie = _segment_layer(spec, n_copies, exc_equations, rule.post_reset, dict(functions), name)
    rule.attach_traces(exc, "post", spec.dt)
    _follow_schedule(exc, protocol, rule)
    if float(spec.teacher_rate) > 0 and spec.teacher_weight > 0:
        exc.run_regularly(f"{spec.excitatory.excitatory_input} += teacher_weight * learning * "
                          "int(label_now == segment) * int(rand() < teacher_p)", when="start", name=f"{name}_teacher")
        exc.namespace.update(teacher_weight=float(spec.teacher_weight), teacher_p=float(spec.teacher_rate * spec.dt))
    exc.segment = np.tile(spec.segments(), n_copies)
    exc.copy = np.repeat(np.arange(n_copies), spec.n_exc)
    s_in = _plastic_projection(pre, exc, spec.n_segment_inputs, spec.n_exc, rule=rule,
                               target=spec.excitatory.excitatory_input, weights=initial_weights,
                               gain=hidden.output_gain if hidden else 1.0, normalization=spec.weight_normalization,
                               synapse_state=synapse_state, name=f"{name}_S_in", **projection)
    _set_states(exc, hidden_objects.get("hidden_exc"), initial_state, n_copies, spec)
    objects += [exc, inh, s_in, s_ei, s_ie]
    if protocol.reset_state:
        # No rest between images: at the start of each (slot = image) every neuron and trace is
        # put back at rest, which is what a long rest achieves (adaptive thresholds are kept).
        groups = [(inp, None), (exc, spec.excitatory), (inh, spec.inhibitory)]
        if hidden:
            groups += [(hidden_objects["hidden_exc"], hidden.excitatory)]
        for group, model in groups:
            code = "\n".join(c for c in (model.resting_state_code() if model else "",
                                         "stdp_trace = 0" if "stdp_trace" in group.variables else "") if c)
            group.run_regularly(code, dt=protocol.slot, when="start", order=-1, name=f"{group.name}_rest_reset")
    objects = [obj for obj in objects if obj is not None]

    monitors = dict(weight_monitor=None, state_monitor=None, hidden_weight_monitor=None, hidden_state_monitor=None)
    period = None
    if protocol.snapshot_slots:
        gaps = np.diff(protocol.snapshot_slots)
        if len(gaps) and (gaps != gaps[0]).any():
            raise ConfigError("protocol: snapshots must be evenly spaced.")
        first = protocol.snapshot_slots[0]
        period = (gaps[0] if len(gaps) else first or 1) * protocol.slot
        if first % int(round(float(period / protocol.slot))):
            raise ConfigError("protocol: snapshots must fall on multiples of their spacing.")
        layers = [("", s_in, exc, spec.excitatory, rule)]
        if hidden:
            layers.append(("hidden_", hidden_objects["s_hidden"], hidden_objects["hidden_exc"], hidden.excitatory,
                           hidden.rule))
        for prefix, syn, group, model, layer_rule in layers:
            monitors[f"{prefix}weight_monitor"] = StateMonitor(syn, layer_rule.weight_variable, record=True, dt=period,
                                                              when="start", name=f"{syn.name}_w_snapshots")
            adaptive = adaptive_variables(model)
            if adaptive:
                monitors[f"{prefix}state_monitor"] = StateMonitor(group, adaptive, record=True, dt=period, when="start",
                                                                 name=f"{group.name}_state_snapshots")
        objects += [m for m in monitors.values() if m is not None]
    spike_monitor = None
    if record_spikes:
        spike_monitor = SpikeMonitor(exc, name=f"{name}_exc_spikes")
        objects.append(spike_monitor)
    return TrainingNetwork(Network(*objects), spec, protocol, inp, exc, s_in, monitors["weight_monitor"],
                           monitors["state_monitor"], spike_monitor, period, hidden_exc=hidden_objects.get("hidden_exc"),
                           s_hidden=hidden_objects.get("s_hidden"), hidden_weight_monitor=monitors["hidden_weight_monitor"],
                           hidden_state_monitor=monitors["hidden_state_monitor"])


@dataclass
class EvaluationNetwork:
    network: Network
    spec: NetworkSpec
    n_copies: int
    s_in: Synapses
    exc: NeuronGroup
    counter: SpikeMonitor
    hidden_exc: NeuronGroup | None = None
    s_hidden: Synapses | None = None

    def counts(self) -> np.ndarray:
        """Spike count of each excitatory neuron: [copy, n_exc]."""
        return np.array(self.counter.count[:]).reshape(self.n_copies, self.spec.n_exc)

    def assign(self, weights: np.ndarray, states: dict | None = None, hidden_weights: np.ndarray | None = None):
        """Set weights and states, per copy ([copy, ...]) or shared by all copies (no copy axis)."""
        spec = self.spec
        self.s_in.w = np.ascontiguousarray(np.broadcast_to(
            np.asarray(weights, float), (self.n_copies, spec.n_segment_inputs, spec.n_exc))).ravel()
        if (self.s_hidden is None) != (hidden_weights is None):
            raise ConfigError("hidden weights must be given exactly when the network has a hidden layer.")
        if self.s_hidden is not None:
            self.s_hidden.w = np.ascontiguousarray(np.broadcast_to(
                np.asarray(hidden_weights, float), (self.n_copies, spec.n_inputs, spec.hidden.n))).ravel()
        _set_states(self.exc, self.hidden_exc, states, self.n_copies, spec)


def _frozen_projection(pre, post, n_pre, n_post, n_copies, target, gain, name, dt):
    syn = Synapses(pre, post, "w : 1", on_pre=f"{target}_post += {float(gain)!r}*w", name=name, dt=dt)
    i, j = topology.replicate(*topology.all_to_all(n_pre, n_post), n_pre, n_post, n_copies)
    syn.connect(i=i, j=j)
    return syn


def build_evaluation_network(spec: NetworkSpec, n_copies: int, input_neurons: np.ndarray, input_steps: np.ndarray,
                             weights: np.ndarray, states: dict | None = None, *, hidden_weights=None,
                             name: str = "eval") -> EvaluationNetwork:
    """Frozen network of ``n_copies`` copies driven by given input spikes (plasticity off).

    ``weights``: [copy, n_segment_inputs, n_exc] (or without the copy axis, shared by all
    copies); ``hidden_weights`` likewise for input -> hidden; ``states``: variables to carry
    over, e.g. ``{"theta": [copy, n_exc], "hidden_theta": [copy, hidden.n]}``.
    """
    gen = SpikeGeneratorGroup(spec.n_inputs * n_copies, input_neurons, input_steps * spec.dt,
                              name=f"{name}_input", dt=spec.dt)
    objects, pre, hidden_objects = [gen], gen, {}
    if spec.hidden:
        h_exc, h_inh, h_ei, h_ie = _hidden_layer(spec, n_copies, name=name)
        s_hidden = _frozen_projection(gen, h_exc, spec.n_inputs, spec.hidden.n, n_copies,
                                      spec.hidden.excitatory.excitatory_input, 1.0, f"{name}_S_hid_in", spec.dt)
        objects += [h_exc, h_inh, h_ei, h_ie, s_hidden]
        hidden_objects = dict(hidden_exc=h_exc, s_hidden=s_hidden)
        pre = h_exc
    exc, inh, s_ei, s_ie = _segment_layer(spec, n_copies, name=name)
    s_in = _frozen_projection(pre, exc, spec.n_segment_inputs, spec.n_exc, n_copies, spec.excitatory.excitatory_input,
                              spec.hidden.output_gain if spec.hidden else 1.0, f"{name}_S_in", spec.dt)
    counter = SpikeMonitor(exc, record=False, name=f"{name}_counter")
    objects += [exc, inh, s_in, s_ei, s_ie, counter]
    net = EvaluationNetwork(Network(*[obj for obj in objects if obj is not None]), spec, n_copies, s_in, exc, counter,
                            **hidden_objects)
    net.assign(weights, states, hidden_weights)
    return net
