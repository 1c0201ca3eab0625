"""Build Brian2 networks from a :class:`~bioplastic.network.spec.NetworkSpec`.

    input (Poisson, one neuron per pixel) --projections--> layers --projections--> layers ...
    each layer: excitatory neurons (its neuron model) <-> one-to-one inhibitory partners that
    inhibit all other neurons of the layer, those within a radius on its sheet, or none.

Every object is built for ``n_copies`` independent copies of the network at once
(block-diagonal connectivity): seeds during training, test images during batched
evaluation. Copies share compiled code and per-step overhead, which is where small
networks spend their time. Objects are named ``{name}_{layer}``, ``{name}_{layer}_inh``,
``{name}_{projection}``, so that states and weights can be addressed by layer and
projection name.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import brian2
from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, StateMonitor, Synapses

from bioplastic.brian_compat import run_summed_variables_every
from bioplastic.errors import ConfigError
from bioplastic.models.plasticity import PlasticityRule
from bioplastic.network import topology
from bioplastic.network.spec import INPUT, Layer, NetworkSpec, Projection, rule_traces, split_state_name
from bioplastic.protocol import Protocol


# --- pieces of code a group needs ---------------------------------------------------------
def _trace_code(spec: NetworkSpec, layer: str) -> tuple[list[str], list[str], dict]:
    """Trace variables of a layer's neurons for the rules that touch them: (equations, spike code, decays).

    One variable per trace name serves every rule (e.g. a hidden neuron's ``stdp_trace`` is the
    postsynaptic trace of its input synapses and the presynaptic trace of its output synapses).
    The sign of LTP (``ltp_sign``) is a plain variable here, set with the schedule
    (:func:`_schedule_code`).
    """
    equations, on_spike, decay = [], [], {}
    for side, projections in (("post", spec.incoming(layer)), ("pre", spec.outgoing(layer))):
        for p in projections:
            if not p.plastic:
                continue
            rule = p.rule
            for line in (rule.pre_equations if side == "pre" else rule.post_equations).splitlines():
                line = "ltp_sign : 1" if line.startswith("ltp_sign =") else line
                if line.strip() and line not in equations:
                    equations.append(line)
            for line in (rule.pre_reset if side == "pre" else rule.post_reset).splitlines():
                if line.strip() and line not in on_spike:
                    on_spike.append(line)
            for trace in rule_traces(rule, side):
                decay.setdefault(trace, (rule, side))
    return equations, on_spike, decay


def _schedule_code(spec: NetworkSpec, layer: Layer, repeat: bool) -> str:
    """What a layer reads from the schedules, set once per slot (the schedules change only between
    slots): plasticity on/off, the label being learned, the sign of LTP. Variables rather than
    subexpressions, because GeNN's synapse code (brian2genn) cannot read subexpressions."""
    code = []
    incoming = [p for p in spec.incoming(layer.name) if p.plastic]
    if incoming:
        code.append("learning = learning_schedule(t)")
    if layer.has_segments:
        code.append("label_now = label_table(pointer*ms, copy)*int(label_schedule(t, copy) >= 0)"
                    " - int(label_schedule(t, copy) < 0)" if repeat else "label_now = label_schedule(t, copy)")
    signs = {p.rule.ltp_sign for p in incoming if p.rule.ltp_sign}
    code += [f"ltp_sign = {sign}" for sign in signs]
    return "\n".join(code)


def _attach_trace_decay(group, decay: dict, dt) -> None:
    """Exact once-per-step decay of every trace of a group (see PlasticityRule.trace_decay)."""
    for trace, (rule, side) in decay.items():
        group.run_regularly(f"{trace} *= {rule.trace_decay(side, dt, trace)!r}", when="start",
                            name=f"{group.name}_{trace}_decay")


def _learning_equations(spec: NetworkSpec, layer: str) -> list[str]:
    """Variables a target of plastic projections needs: the schedule flag and normalisation sums."""
    lines = []
    incoming = [p for p in spec.incoming(layer) if p.plastic]
    if incoming:
        lines.append("learning : 1")       # per neuron: brian2genn passes no shared variable to synapses
    for p in incoming:
        if p.weight_normalization:
            lines.append(f"{_total(p)} : 1")
            if p.rule.per_synapse_bounds:
                lines.append(f"{_free(p)} : 1")
    return lines


def _total(p: Projection) -> str:
    return f"w_total_{p.name}"


def _free(p: Projection) -> str:
    return f"w_free_{p.name}"


# --- layers ---------------------------------------------------------------------------------
def _input_group(spec: NetworkSpec, protocol: Protocol, n_copies: int, functions: dict, name: str,
                 presenter: NeuronGroup | None = None) -> NeuronGroup:
    equations, on_spike, decay = _trace_code(spec, INPUT)
    linked = ["pointer : 1 (linked)", "boost : 1 (linked)"] if presenter is not None else []
    inp = NeuronGroup(spec.n_inputs * n_copies,
                      "\n".join(["copy : integer (constant)", "pixel : integer (constant)", "p_spike : 1"]
                                + linked + equations),
                      # rand() is only drawn for pixels that are on: most of MNIST is background.
                      threshold="p_spike > 0 and rand() < p_spike",
                      reset="\n".join(on_spike) or None, namespace=dict(functions), name=f"{name}_input",
                      dt=spec.dt, method="exact")
    _attach_trace_decay(inp, decay, spec.dt)
    if on_spike:
        # Count a presynaptic spike in its trace before synaptic propagation, as the per-synapse
        # form does (its pre pathway runs before the post pathway): a pre and a post spike in the
        # same time step then pair as pre-before-post in both formulations.
        inp.resetter["spike"].when = "before_synapses"
    copies = np.repeat(np.arange(n_copies), spec.n_inputs)
    inp.copy = copies
    inp.pixel = np.tile(np.arange(spec.n_inputs), n_copies)
    # The spike probability changes only when the schedule does: set it once per slot.
    if presenter is None:
        code = "p_spike = rate_dt * stimulus(image_schedule(t, copy)*ms, pixel)"
    else:
        # Repeat mode: the image is the presenter's pointer into the order table, at a rate
        # raised by `boost` steps; nothing once every image was shown.
        inp.pointer = brian2.linked_var(presenter, "pointer", index=copies)
        inp.boost = brian2.linked_var(presenter, "boost", index=copies)
        code = ("p_spike = (rate_dt + boost_dt*boost) * stimulus(order_table(pointer*ms, copy)*ms, pixel)"
                " * int(image_schedule(t, copy) > 0) * int(pointer < n_order)")
        inp.namespace.update(boost_dt=float(protocol.repeat.rate_increase * spec.dt), n_order=len(protocol.order))
    inp.run_regularly(code, dt=protocol.slot, when="start", name=f"{name}_input_schedule")
    inp.namespace["rate_dt"] = float(spec.max_rate * spec.dt)
    return inp


def _presenter(spec: NetworkSpec, protocol: Protocol, n_copies: int, name: str) -> NeuronGroup:
    """Repeat mode (Diehl & Cook 2015): one neuron-less bookkeeper per copy. At the start of each
    presentation it moves to the next image if the readout layer fired ``min_spikes`` during the
    previous one (or after ``max_repeats`` tries), otherwise raises the input rate one step."""
    rule = protocol.repeat
    presenter = NeuronGroup(n_copies, "pointer : 1\nboost : 1\ncount : 1\nstarted : 1", name=f"{name}_presenter",
                            dt=spec.dt, namespace={"min_spikes": float(rule.min_spikes),
                                                   "max_repeats": float(rule.max_repeats),
                                                   "n_order": float(len(protocol.order))})
    presenter.run_regularly("advance = started * int(count >= min_spikes or boost >= max_repeats)"
                            " * int(pointer < n_order)\n"
                            "pointer += advance\nboost = (boost + 1) * (1 - advance) * started\n"
                            "count = 0\nstarted = 1", dt=protocol.period, when="start", order=-3,
                            name=f"{name}_presenter_step")
    return presenter


def _presenter_counter(presenter, readout, size: int, n_copies: int, name: str, dt) -> Synapses:
    counter = Synapses(readout, presenter, on_pre="count_post += 1", name=f"{name}_presenter_count", dt=dt)
    counter.connect(i=np.arange(n_copies * size), j=np.repeat(np.arange(n_copies), size))
    return counter


def _layer_groups(spec: NetworkSpec, layer: Layer, n_copies: int, name: str, *, training: bool,
                  functions: dict | None = None, extra_equations: str = "", slot=None) -> list:
    """A layer's excitatory group, its inhibitory partners and their synapses (None where absent)."""
    lines = ["copy : integer (constant)"]
    reset = []
    namespace = dict(functions or {})
    if training:
        if layer.has_segments:
            lines += ["segment : integer (constant)", "label_now : 1"]
            if "label_table" in namespace:                        # repeat mode: the pointer's label
                lines.append("pointer : 1 (linked)")
        lines += _learning_equations(spec, layer.name)
        equations, on_spike, decay = _trace_code(spec, layer.name)
        lines += equations
        reset += on_spike
    if "learning : 1" not in lines:
        namespace["learning"] = 0.0
    if extra_equations:
        lines.append(extra_equations)
    exc = layer.model.make_group(layer.size * n_copies, extra_equations="\n".join(lines), extra_reset="\n".join(reset),
                                 namespace=namespace, name=f"{name}_{layer.name}", dt=spec.dt)
    exc.copy = np.repeat(np.arange(n_copies), layer.size)
    if training:
        _attach_trace_decay(exc, decay, spec.dt)
        if layer.has_segments:
            exc.segment = np.tile(layer.segments(), n_copies)
        schedule = _schedule_code(spec, layer, "label_table" in namespace)
        if schedule and slot is not None:
            exc.run_regularly(schedule, dt=slot, when="start", order=-2, name=f"{exc.name}_schedule")
    if layer.inhibition is None:
        return [exc, None, None, None]
    inhibition = layer.inhibition
    inh = inhibition.model.make_group(layer.size * n_copies, namespace={"learning": 0.0},
                                      name=f"{name}_{layer.name}_inh", dt=spec.dt)
    # Each excitatory neuron drives its own inhibitory partner ...
    s_ei = Synapses(exc, inh, on_pre=f"{inhibition.model.excitatory_input}_post += w_exc_inh",
                    namespace={"w_exc_inh": inhibition.w_exc_inh}, name=f"{name}_{layer.name}_ei", dt=spec.dt)
    i, j = topology.replicate(*topology.one_to_one(layer.size), layer.size, layer.size, n_copies)
    s_ei.connect(i=i, j=j)
    # ... which inhibits all other excitatory neurons (or those within a radius on the sheet).
    li, lj = layer.lateral_pairs()
    if not len(li):                     # R = 0 or "none": no lateral inhibition at all
        return [exc, inh, s_ei, None]
    s_ie = Synapses(inh, exc, on_pre=f"{layer.model.inhibitory_input}_post += w_inh_exc",
                    namespace={"w_inh_exc": inhibition.w_inh_exc}, name=f"{name}_{layer.name}_ie", dt=spec.dt)
    i, j = topology.replicate(li, lj, layer.size, layer.size, n_copies)
    s_ie.connect(i=i, j=j)
    return [exc, inh, s_ei, s_ie]


# --- projections ----------------------------------------------------------------------------
def normalize_weights(syn: Synapses, p: Projection, period, name: str) -> None:
    """Scale each neuron's input weights to sum to ``total`` (Diehl & Cook 2015), once per ``period``.

    The sums are Brian2 summed variables. Their updaters normally run every time step (a pass
    over all synapses per step); here they run on a clock of ``period``, just before the
    rescaling, so normalisation costs two or three passes per period instead. Frozen weights
    (``plastic_w == 0``) keep their values: only the free ones are rescaled.
    """
    run_summed_variables_every(syn, period, name)
    total, free = _total(p), _free(p)
    if p.rule.per_synapse_bounds:
        code = (f"w = clip(w*(1 - plastic_w) + plastic_w*w*(w_norm_total - ({total}_post - {free}_post))"
                f"/clip({free}_post, 1e-12, inf), w_lo, w_hi)")
    else:
        code = f"w = clip(w * w_norm_total / {total}_post, 0, w_max)"
    syn.run_regularly(code, dt=period, when="start", order=1, name=f"{name}_normalize")
    syn.namespace["w_norm_total"] = float(p.weight_normalization)


def _connect(spec: NetworkSpec, syn: Synapses, name: str, n_copies: int) -> None:
    p = spec.projections[name]
    i, j = topology.replicate(*spec.pairs(name), spec.size(p.source), spec.size(p.target), n_copies)
    syn.connect(i=i, j=j)


def _set_weights(syn: Synapses, spec: NetworkSpec, name: str, weights, n_copies: int, variable: str = "w") -> None:
    """Weights [copy, ...] or [...] shared by every copy; order: copy-major, then as the pairs."""
    shape = (n_copies,) + spec.weight_shape(name)
    weights = np.asarray(weights, dtype=float)
    if weights.shape not in (shape, shape[1:]):
        raise ConfigError(f"projection {name!r}: weights have shape {weights.shape}, expected {shape} "
                          "(copies, then presynaptic x postsynaptic neurons, or synapses).")
    setattr(syn, variable, np.ascontiguousarray(np.broadcast_to(weights, shape)).ravel())


def _plastic_projection(spec: NetworkSpec, name: str, pre, post, n_copies: int, weights, *, synapse_state,
                        langevin_sigma: float, protocol: Protocol, namespace: dict, prefix: str) -> Synapses:
    """Plastic synapses of one projection (per copy), with their protections."""
    p = spec.projections[name]
    rule: PlasticityRule = p.rule
    target = spec.layers[p.target].model.excitatory_input
    summed = ""
    if p.weight_normalization:
        summed = f"\n{_total(p)}_post = {rule.weight_variable} : 1 (summed)"
        if rule.per_synapse_bounds:
            summed += f"\n{_free(p)}_post = plastic_w*{rule.weight_variable} : 1 (summed)"
    # `learning` in the rule's code resolves to the postsynaptic group's (Brian2 reads
    # unsuffixed names in synaptic code as postsynaptic variables).
    transmit = f"{target}_post += w" if p.gain == 1 else f"{target}_post += output_gain*w"
    syn = Synapses(pre, post, model=rule.synapse_model + summed,
                   on_pre=f"{rule.before_transmission}\n{transmit}\n{rule.on_pre}", on_post=rule.on_post,
                   namespace={**namespace, **rule.parameters, "output_gain": float(p.gain)},
                   name=f"{prefix}_{name}", dt=spec.dt)
    _connect(spec, syn, name, n_copies)
    _set_weights(syn, spec, name, weights, n_copies)
    shape = (n_copies,) + spec.weight_shape(name)
    if (synapse_state or langevin_sigma) and not rule.per_synapse_bounds:
        raise ConfigError(f"projection {name!r}: freeze masks, per-weight bounds and Langevin noise need a rule "
                          "with per_synapse_bounds=True.")
    if rule.per_synapse_bounds:
        for var, default in (("plastic_w", 1.0), ("w_lo", 0.0), ("w_hi", float(rule.parameters["w_max"]))):
            values = (synapse_state or {}).get(var)
            setattr(syn, var, default if values is None else np.broadcast_to(values, shape).ravel())
        if langevin_sigma:
            # Langevin phase, dw = F(w) dt + noise: the plasticity rule gives F(w); Gaussian noise
            # of std langevin_sigma is added to every plastic weight once per schedule slot while
            # learning is on (every weight, also those whose neurons are silent: the noise is
            # what finds out which weights the task does not hold in place).
            syn.run_regularly("w = clip(w + plastic_w*learning*langevin_sigma*randn(), w_lo, w_hi)",
                              dt=protocol.slot, when="end", name=f"{prefix}_{name}_langevin")
            syn.namespace["langevin_sigma"] = float(langevin_sigma)
    if p.weight_normalization:
        normalize_weights(syn, p, protocol.slot, f"{prefix}_{name}")
    return syn


def _frozen_projection(spec: NetworkSpec, name: str, pre, post, n_copies: int, prefix: str) -> Synapses:
    p = spec.projections[name]
    target = spec.layers[p.target].model.excitatory_input
    syn = Synapses(pre, post, "w : 1", on_pre=f"{target}_post += {float(p.gain)!r}*w", name=f"{prefix}_{name}",
                   dt=spec.dt)
    _connect(spec, syn, name, n_copies)
    return syn


# --- training network -----------------------------------------------------------------------
@dataclass
class TrainingNetwork:
    network: Network
    spec: NetworkSpec
    protocol: Protocol
    groups: dict                      # layer name (and "input") -> NeuronGroup
    synapses: dict                    # projection name -> Synapses
    weight_monitors: dict             # plastic projection -> StateMonitor
    state_monitors: dict              # layer -> StateMonitor of its adaptive variables
    spike_monitor: SpikeMonitor | None
    snapshot_period: object = None
    progress_monitor: StateMonitor | None = None     # repeat mode: images completed at each snapshot

    def images_completed(self) -> np.ndarray:
        """Repeat mode: images shown to the end at each snapshot, [snapshot, copy]."""
        return np.array(self.progress_monitor.pointer).T.astype(int)

    def weight_snapshots(self, projection: str) -> np.ndarray:
        """Weights of a projection at each snapshot: [snapshot, copy, pre, post] (or [..., synapse])."""
        p = self.spec.projections[projection]
        w = np.array(getattr(self.weight_monitors[projection], p.weight_variable)).T   # a copy: [time, synapse]
        return w.reshape((len(w), self.protocol.n_copies) + self.spec.weight_shape(projection))

    def state_snapshots(self, state: str) -> np.ndarray:
        """``layer.variable`` at each snapshot: [snapshot, copy, neuron], SI units."""
        layer, var = split_state_name(state)
        values = np.array(getattr(self.state_monitors[layer], var + "_")).T
        return values.reshape(len(values), self.protocol.n_copies, self.spec.size(layer))

    def final_weights(self, projection: str) -> np.ndarray:
        p = self.spec.projections[projection]
        return np.array(getattr(self.synapses[projection], p.weight_variable)[:]).reshape(
            (self.protocol.n_copies,) + self.spec.weight_shape(projection))


def set_states(groups: dict, states: dict | None, n_copies: int, spec: NetworkSpec) -> None:
    """Set ``layer.variable`` states (SI values, [copy, neuron] or [neuron] shared by all copies)."""
    for name, values in (states or {}).items():
        layer, var = split_state_name(name)
        if layer not in groups:
            raise ConfigError(f"state {name!r} given, but the network has no layer {layer!r}; "
                              f"layers: {', '.join(spec.layers)}.")
        # Trailing underscore: values in SI units, as the snapshots store them.
        setattr(groups[layer], var + "_",
                np.broadcast_to(np.asarray(values, float), (n_copies, spec.size(layer))).ravel())


def _snapshot_period(protocol: Protocol):
    if not protocol.snapshot_slots:
        return None
    gaps = np.diff(protocol.snapshot_slots)
    if len(gaps) and (gaps != gaps[0]).any():
        raise ConfigError("protocol: snapshots must be evenly spaced.")
    first = protocol.snapshot_slots[0]
    period = (gaps[0] if len(gaps) else first or 1) * protocol.slot
    if first % int(round(float(period / protocol.slot))):
        raise ConfigError("protocol: snapshots must fall on multiples of their spacing.")
    return period


def _rest_reset(spec: NetworkSpec, groups: dict, inhibitory: dict, protocol: Protocol) -> None:
    """No rest between images: at the start of each (slot = image) every neuron and trace is put
    back at rest, which is what a long rest achieves (adaptive thresholds are kept)."""
    parts = [(groups[INPUT], None, INPUT)] + [(groups[n], spec.layers[n].model, n) for n in spec.layers]
    parts += [(inh, spec.layers[n].inhibition.model, None) for n, inh in inhibitory.items()]
    for group, model, layer in parts:
        traces = list(_trace_code(spec, layer)[2]) if layer else []
        code = "\n".join(c for c in ([model.resting_state_code()] if model else []) + [f"{t} = 0" for t in traces] if c)
        group.run_regularly(code, dt=protocol.slot, when="start", order=-1, name=f"{group.name}_rest_reset")


def _projection(spec, pname, groups, n_copies, weights, synapse_state, langevin_sigma, protocol, functions, name):
    p = spec.projections[pname]
    if p.plastic:
        return _plastic_projection(spec, pname, groups[p.source], groups[p.target], n_copies, weights,
                                   synapse_state=synapse_state, langevin_sigma=langevin_sigma, protocol=protocol,
                                   namespace=functions, prefix=name)
    syn = _frozen_projection(spec, pname, groups[p.source], groups[p.target], n_copies, name)
    _set_weights(syn, spec, pname, weights, n_copies)
    return syn


def _snapshot_monitors(spec: NetworkSpec, groups: dict, synapses: dict, period) -> tuple[dict, dict]:
    """Weights of every plastic projection and adaptive states of every layer, once per ``period``."""
    weight_monitors, state_monitors = {}, {}
    if period is None:
        return weight_monitors, state_monitors
    for pname in spec.plastic_projections:
        syn = synapses[pname]
        weight_monitors[pname] = StateMonitor(syn, spec.projections[pname].weight_variable, record=True, dt=period,
                                              when="start", name=f"{syn.name}_w_snapshots")
    by_layer: dict = {}
    for state in spec.adaptive_states():
        layer, var = split_state_name(state)
        by_layer.setdefault(layer, []).append(var)
    for layer, variables in by_layer.items():
        state_monitors[layer] = StateMonitor(groups[layer], variables, record=True, dt=period, when="start",
                                             name=f"{groups[layer].name}_state_snapshots")
    return weight_monitors, state_monitors


def _teacher(layer: Layer, exc, spec: NetworkSpec, name: str) -> None:
    """Poisson excitation of the label's segment while learning (rate, conductance per spike)."""
    if float(layer.teacher_rate) > 0 and layer.teacher_weight > 0:
        exc.run_regularly(f"{layer.model.excitatory_input} += teacher_weight * learning * "
                          "int(label_now == segment) * int(rand() < teacher_p)", when="start",
                          name=f"{name}_{layer.name}_teacher")
        exc.namespace.update(teacher_weight=float(layer.teacher_weight), teacher_p=float(layer.teacher_rate * spec.dt))


def _check_named(spec: NetworkSpec, weights: dict, synapse_state: dict | None) -> None:
    missing = [p for p in spec.projections if p not in weights]
    unknown = [p for p in list(weights) + list(synapse_state or {}) if p not in spec.projections]
    if missing or unknown:
        raise ConfigError(f"initial weights missing for {missing}, weights or synapse state for unknown projections "
                          f"{unknown}; projections: {', '.join(spec.projections)}.")


def build_training_network(spec: NetworkSpec, protocol: Protocol, weights: dict, *, record_spikes: bool = False,
                           name: str = "train", initial_state: dict | None = None,
                           synapse_state: dict | None = None, langevin_sigma: float = 0.0) -> TrainingNetwork:
    """Build the plastic network that runs a whole protocol in one ``run()``.

    ``weights``: {projection: [copy, ...]} initial weights of every projection.
    ``initial_state``: {``layer.variable``: values} to start from (e.g. ``exc.theta`` after a
    first task); ``synapse_state``: {projection: {``plastic_w``, ``w_lo``, ``w_hi``}} for rules
    with per-synapse bounds; ``langevin_sigma``: Gaussian weight noise per schedule slot
    (Langevin phase) in every plastic projection with per-synapse bounds.
    Weights of plastic projections and adaptive states are recorded at the protocol's
    snapshot times (evenly spaced).
    """
    _check_named(spec, weights, synapse_state)
    n_copies = protocol.n_copies
    functions = protocol.timed_arrays(name_prefix=f"{name}_")
    presenter = _presenter(spec, protocol, n_copies, name) if protocol.repeat else None
    groups = {INPUT: _input_group(spec, protocol, n_copies, functions, name, presenter)}
    inhibitory, objects = {}, [groups[INPUT], presenter]
    for layer in spec.layers.values():
        exc, inh, s_ei, s_ie = _layer_groups(spec, layer, n_copies, name, training=True, functions=functions,
                                             slot=protocol.slot)
        groups[layer.name] = exc
        if presenter is not None and "pointer" in exc.variables:
            exc.pointer = brian2.linked_var(presenter, "pointer", index=np.repeat(np.arange(n_copies), layer.size))
        if inh is not None:
            inhibitory[layer.name] = inh
        objects += [exc, inh, s_ei, s_ie]
        _teacher(layer, exc, spec, name)
    synapses = {pname: _projection(spec, pname, groups, n_copies, weights[pname], (synapse_state or {}).get(pname),
                                   langevin_sigma, protocol, functions, name) for pname in spec.projections}
    set_states(groups, initial_state, n_copies, spec)
    objects += list(synapses.values())
    if protocol.reset_state:
        _rest_reset(spec, groups, inhibitory, protocol)

    period = _snapshot_period(protocol)
    weight_monitors, state_monitors = _snapshot_monitors(spec, groups, synapses, period)
    objects += list(weight_monitors.values()) + list(state_monitors.values())
    progress_monitor = None
    if presenter is not None:
        objects.append(_presenter_counter(presenter, groups[spec.readout_layer], spec.readout.size, n_copies, name,
                                          spec.dt))
        if period is not None:
            progress_monitor = StateMonitor(presenter, "pointer", record=True, dt=period, when="start", order=1,
                                            name=f"{name}_presenter_snapshots")
            objects.append(progress_monitor)
    spike_monitor = None
    if record_spikes:
        spike_monitor = SpikeMonitor(groups[spec.readout_layer], name=f"{name}_{spec.readout_layer}_spikes")
        objects.append(spike_monitor)
    return TrainingNetwork(Network(*[o for o in objects if o is not None]), spec, protocol, groups, synapses,
                           weight_monitors, state_monitors, spike_monitor, period, progress_monitor)


# --- frozen (evaluation) network ------------------------------------------------------------
@dataclass
class EvaluationNetwork:
    network: Network
    spec: NetworkSpec
    n_copies: int
    groups: dict
    synapses: dict
    counter: SpikeMonitor
    extra: dict = field(default_factory=dict)

    def counts(self) -> np.ndarray:
        """Spike count of each readout neuron: [copy, n_readout]."""
        return np.array(self.counter.count[:]).reshape(self.n_copies, self.spec.readout.size)

    def assign(self, weights: dict, states: dict | None = None):
        """Set weights ({projection: [copy, ...] or shared}) and ``layer.variable`` states."""
        missing = [p for p in self.spec.projections if p not in weights]
        if missing:
            raise ConfigError(f"weights missing for projection(s) {missing}.")
        for pname, syn in self.synapses.items():
            _set_weights(syn, self.spec, pname, weights[pname], self.n_copies)
        set_states(self.groups, states, self.n_copies, self.spec)


def build_evaluation_network(spec: NetworkSpec, n_copies: int, input_neurons: np.ndarray, input_steps: np.ndarray,
                             weights: dict, states: dict | None = None, *, name: str = "eval") -> EvaluationNetwork:
    """Frozen network of ``n_copies`` copies driven by given input spikes (plasticity off).

    ``weights``: {projection: [copy, ...]} (or without the copy axis, shared by all copies);
    ``states``: ``layer.variable`` values to carry over, e.g. ``{"exc.theta": [copy, n]}``.
    """
    groups = {INPUT: SpikeGeneratorGroup(spec.n_inputs * n_copies, input_neurons, input_steps * spec.dt,
                                         name=f"{name}_input", dt=spec.dt)}
    objects = [groups[INPUT]]
    for layer in spec.layers.values():
        parts = _layer_groups(spec, layer, n_copies, name, training=False)
        groups[layer.name] = parts[0]
        objects += parts
    synapses = {pname: _frozen_projection(spec, pname, groups[p.source], groups[p.target], n_copies, name)
                for pname, p in spec.projections.items()}
    counter = SpikeMonitor(groups[spec.readout_layer], record=False, name=f"{name}_counter")
    objects += list(synapses.values()) + [counter]
    net = EvaluationNetwork(Network(*[o for o in objects if o is not None]), spec, n_copies, groups, synapses, counter)
    net.assign(weights, states)
    return net

