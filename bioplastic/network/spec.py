"""A network as named layers and projections (``network.layers``, ``network.projections``).

    network:
      input: {max_rate: 63.75 Hz}          # Poisson input layer "input": one neuron per pixel
      layers:                              # ordered: name -> population
        exc:
          neuron: {model: adaptive_lif, parameters: {theta_plus: 0.05 mV}}
          n_per_class: 10                  # class segments (size = classes x n_per_class) ...
          # size: 400                      # ... or a plain size, or shape: [channels, height, width]
          inhibition: {neuron: {model: inhibitory_lif}, lateral: all_but_self, radius: 0,
                       w_exc_inh: 10.4, w_inh_exc: 17.0}
      projections:                         # name -> synapses between two layers
        input_to_exc:
          source: input
          target: exc
          connectivity: all_to_all         # one_to_one | all_but_self | within_radius | fixed_probability
          plasticity: {rule: supervised, parameters: {A_pre: 0.003}}   # or `plasticity: null` (frozen)
          weight_normalization: 78.0
      readout: {layer: exc, kind: segments}  # or label_assignment; layer: null = the last one

Weights and conductances are dimensionless, in units of the target neuron model's leak
conductance (see ``models/lif.py``): ``w_exc_inh`` 10.4, ``w_inh_exc`` 17.0 and
``w_init_max`` 0.3 are Diehl & Cook's (2015) values (their code, ``weight['ee_input'] =
78`` normalisation, ``weight['ei'] = 10.4``, ``weight['ie'] = 17.0``). A new connectivity
kind (convolution, pooling, locally connected) is a new entry of
:data:`bioplastic.network.topology.CONNECTIVITY`, not a new special case here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from brian2 import Hz, ms

from bioplastic.errors import ConfigError
from bioplastic.models import get_plasticity_rule, neuron_from_config
from bioplastic.models.base import NeuronModel
from bioplastic.models.plasticity import PlasticityRule
from bioplastic.network import topology
from bioplastic.units import check_unit, parse_quantity, positive

INPUT = "input"          # the name of the Poisson input layer
LATERAL = ("all_but_self", "radius", "none")


@dataclass(frozen=True)
class Inhibition:
    """Competition within a layer: a one-to-one inhibitory partner per neuron, inhibiting
    all other neurons (``all_but_self``), those within ``radius`` on the layer's sheet, or none."""
    model: NeuronModel
    lateral: str = "all_but_self"
    radius: float = 0.0
    w_exc_inh: float = 10.4      # excitatory -> its partner, relative conductance
    w_inh_exc: float = 17.0      # partner -> the others, relative conductance


@dataclass(frozen=True)
class Layer:
    name: str
    model: NeuronModel
    size: int
    shape: tuple | None = None           # [channels, height, width] when given
    sheet_width: int | None = None       # columns of the sheet for radius inhibition (default: square)
    inhibition: Inhibition | None = None
    n_per_class: int | None = None       # class segments: neurons k*n_per_class... belong to class k
    n_classes: int = 0
    # Teacher: while learning, neurons of the label's segment receive Poisson excitation
    # (rate, conductance per spike); without it, segments of new classes never win and never learn.
    teacher_rate: object = field(default_factory=lambda: 0 * Hz)
    teacher_weight: float = 0.0

    @property
    def has_segments(self) -> bool:
        return self.n_per_class is not None

    def segments(self) -> np.ndarray:
        """Class of each neuron: neurons k*n_per_class ... belong to class k."""
        if not self.has_segments:
            raise ConfigError(f"layer {self.name!r} has no class segments (set network.layers.{self.name}."
                              "n_per_class), so a segment readout or a supervised rule cannot use it.")
        return np.repeat(np.arange(self.n_classes), self.n_per_class)

    def lateral_pairs(self):
        """(inhibitory i, excitatory j) pairs of the layer's lateral inhibition within one copy."""
        if self.inhibition is None:
            return np.array([], int), np.array([], int)
        kind = self.inhibition.lateral
        if kind == "all_but_self":
            return topology.all_but_self(self.size)
        if kind == "radius":
            return topology.within_radius(topology.sheet_positions(self.size, self.sheet_width),
                                          self.inhibition.radius)
        return np.array([], int), np.array([], int)


@dataclass(frozen=True)
class Projection:
    name: str
    source: str
    target: str
    rule: PlasticityRule | None          # None: frozen weights
    connectivity: str = "all_to_all"
    radius: float = 0.0                  # within_radius: distance on the sheets
    probability: float = 1.0             # fixed_probability
    connect_seed: int = 0
    w_init_max: float = 0.3              # initial weights uniform in [0, w_init_max) (Diehl & Cook)
    weight_normalization: float | None = None   # each target neuron's input weights sum to this
    gain: float = 1.0                    # a spike adds gain * w to the target's conductance

    @property
    def plastic(self) -> bool:
        return self.rule is not None

    @property
    def dense(self) -> bool:
        """All-to-all weights are kept as [pre, post] matrices, others per synapse."""
        return self.connectivity == "all_to_all"

    @property
    def weight_variable(self) -> str:
        return self.rule.weight_variable if self.rule else "w"


@dataclass(frozen=True)
class NetworkSpec:
    n_inputs: int
    layers: dict                         # name -> Layer, in build order (sources before targets)
    projections: dict                    # name -> Projection
    readout_layer: str
    readout_kind: str = "segments"
    max_rate: object = field(default_factory=lambda: 63.75 * Hz)
    dt: object = field(default_factory=lambda: 0.5 * ms)
    input_shape: tuple | None = None

    # --- sizes and structure -------------------------------------------------------------
    def size(self, layer: str) -> int:
        return self.n_inputs if layer == INPUT else self.layers[layer].size

    @property
    def readout(self) -> Layer:
        return self.layers[self.readout_layer]

    @property
    def n_classes(self) -> int:
        return self.readout.n_classes

    def segments(self) -> np.ndarray:
        return self.readout.segments()

    def incoming(self, layer: str) -> list:
        return [p for p in self.projections.values() if p.target == layer]

    def outgoing(self, layer: str) -> list:
        return [p for p in self.projections.values() if p.source == layer]

    @property
    def plastic_projections(self) -> list:
        return [name for name, p in self.projections.items() if p.plastic]

    @property
    def single_driven_layer(self) -> bool:
        """One layer, fed only by all-to-all input: batched evaluation can replace the input by a drive."""
        return (len(self.layers) == 1 and all(p.source == INPUT and p.dense for p in self.projections.values()))

    def synapse_estimate(self) -> int:
        """Synapses of one copy, counted from sizes alone (nothing is built): projections, and
        each layer's excitatory <-> inhibitory partners and lateral inhibition."""
        total = 0
        for p in self.projections.values():
            n_pre, n_post = self.size(p.source), self.size(p.target)
            total += {"all_to_all": n_pre * n_post, "one_to_one": n_post, "all_but_self": n_pre * (n_post - 1),
                      "fixed_probability": p.probability * n_pre * n_post,
                      "within_radius": n_post * min(n_pre, np.pi * (p.radius + 0.5) ** 2)}.get(p.connectivity,
                                                                                            n_pre * n_post)
        for layer in self.layers.values():
            if layer.inhibition is None:
                continue
            n = layer.size
            lateral = {"all_but_self": n * (n - 1), "radius": n * min(n, np.pi * (layer.inhibition.radius + 0.5) ** 2),
                       "none": 0}[layer.inhibition.lateral]
            total += n + lateral
        return int(total)

    def pairs(self, name: str):
        """(pre, post) index pairs of a projection within one copy."""
        p = self.projections[name]
        return topology.connect(p.connectivity, self.size(p.source), self.size(p.target),
                                radius=p.radius, probability=p.probability, seed=p.connect_seed,
                                pre_width=self._sheet_width(p.source), post_width=self._sheet_width(p.target),
                                where=f"network.projections.{name}")

    def _sheet_width(self, layer: str):
        if layer == INPUT:
            return self.input_shape[-1] if self.input_shape else None
        lay = self.layers[layer]
        return lay.sheet_width or (lay.shape[-1] if lay.shape else None)

    def weight_shape(self, name: str) -> tuple:
        """Shape of one copy's weights of a projection: (pre, post) if all-to-all, else (synapses,)."""
        p = self.projections[name]
        if p.dense:
            return (self.size(p.source), self.size(p.target))
        return (len(self.pairs(name)[0]),)

    def initial_weights(self, name: str, rng: np.random.Generator) -> np.ndarray:
        """Uniform in [0, w_init_max), as in Diehl & Cook (2015)."""
        return rng.uniform(0, self.projections[name].w_init_max, size=self.weight_shape(name))

    def seeded_initial_weights(self, seeds) -> dict:
        """Initial weights of every projection, one copy per seed: {projection: [copy, ...]}.

        Each projection draws from its own stream ``default_rng([seed, k])``: k = 1 for the
        projections onto the readout layer, then 2, 3, ... for the others in declaration order.
        """
        order = ([n for n, p in self.projections.items() if p.target == self.readout_layer]
                 + [n for n, p in self.projections.items() if p.target != self.readout_layer])
        return {name: np.stack([self.initial_weights(name, np.random.default_rng([int(s), k])) for s in seeds])
                for k, name in enumerate(order, start=1)}

    def adaptive_states(self) -> list[str]:
        """``layer.variable`` of every adaptive state that learning changes and evaluation carries (theta)."""
        import brian2
        names = []
        for layer in self.layers.values():
            eqs = brian2.Equations(layer.model.equations)
            names += [f"{layer.name}.{v}" for v in ("theta",) if v in eqs.diff_eq_names]
        return names

    def describe(self) -> str:
        """One line per layer and projection."""
        lines = [f"{INPUT}: {self.n_inputs} Poisson neurons (max {self.max_rate})"]
        for layer in self.layers.values():
            extra = f", {layer.n_classes} segments x {layer.n_per_class}" if layer.has_segments else ""
            inh = f", inhibition {layer.inhibition.lateral}" if layer.inhibition else ""
            if layer.inhibition and layer.inhibition.lateral == "radius":
                inh += f" R={layer.inhibition.radius:g}"
            lines.append(f"{layer.name}: {layer.size} x {layer.model.name}{extra}{inh}")
        for name, p in self.projections.items():
            rule = p.rule.name if p.rule else "frozen"
            lines.append(f"{name}: {p.source} -> {p.target}, {p.connectivity}, {rule}")
        return "\n".join(lines)


def split_state_name(name: str) -> tuple[str, str]:
    """``"exc.theta"`` -> ("exc", "theta")."""
    if "." not in name:
        raise ConfigError(f"state {name!r}: name it as layer.variable (e.g. 'exc.theta').")
    layer, var = name.split(".", 1)
    return layer, var


# --- from the configuration ---------------------------------------------------------------
def rule_traces(rule: PlasticityRule, side: str) -> dict:
    """Per-neuron trace variables a rule keeps on the ``side`` ("pre"/"post") neurons: {name: tau}."""
    return dict(rule.traces(side))


def _positive_number(value, name, *, integer=False, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        number = int(value) if integer else float(value)
        if integer and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{name} must be {kind}{' (or null)' if allow_none else ''}, got {value!r}.") from None
    if number <= 0:
        raise ConfigError(f"{name} must be > 0{' (or null to switch it off)' if allow_none else ''}, got {value!r}.")
    return number


def _number(value, name, *, minimum=None):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name} must be >= {minimum:g}, got {value!r}.")
    return number


def layer_from_config(name: str, section: dict, n_classes: int) -> Layer:
    where = f"network.layers.{name}"
    if name == INPUT:
        raise ConfigError(f"{where}: the name {INPUT!r} is the Poisson input layer's; choose another name.")
    given = [k for k in ("size", "shape", "n_per_class") if section.get(k) is not None]
    if len(given) != 1:
        raise ConfigError(f"{where}: give exactly one of size (a number of neurons), shape ([channels, height, "
                          f"width]) or n_per_class (class segments); got {', '.join(given) or 'none'}.")
    shape, n_per_class = None, None
    if section.get("shape") is not None:
        shape = section["shape"]
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise ConfigError(f"{where}.shape must be [channels, height, width], got {shape!r}.")
        shape = tuple(_positive_number(s, f"{where}.shape", integer=True) for s in shape)
        size = int(np.prod(shape))
    elif section.get("n_per_class") is not None:
        n_per_class = _positive_number(section["n_per_class"], f"{where}.n_per_class", integer=True)
        if n_classes < 1:
            raise ConfigError(f"{where}: class segments need the number of classes, which this study does not set.")
        size = n_classes * n_per_class
    else:
        size = _positive_number(section["size"], f"{where}.size", integer=True)
    if section.get("competition") is not None:
        raise ConfigError(f"{where}.competition (k-winners-take-all) belongs to layers of feature maps (study: "
                          "conv_stdp); a dense layer competes through its inhibition partners.")
    inhibition = None
    inh = section.get("inhibition")
    if inh is not None:
        if inh["lateral"] not in LATERAL:
            raise ConfigError(f"{where}.inhibition.lateral must be one of {', '.join(LATERAL)}, "
                              f"got {inh['lateral']!r}.")
        inhibition = Inhibition(neuron_from_config(inh["neuron"]), inh["lateral"],
                                _number(inh["radius"], f"{where}.inhibition.radius", minimum=0),
                                _number(inh["w_exc_inh"], f"{where}.inhibition.w_exc_inh", minimum=0),
                                _number(inh["w_inh_exc"], f"{where}.inhibition.w_inh_exc", minimum=0))
    teacher = section.get("teacher") or {"rate": "0 Hz", "weight": 0.0}
    rate = check_unit(parse_quantity(teacher["rate"], name=f"{where}.teacher.rate"), Hz, name=f"{where}.teacher.rate")
    if (float(rate) > 0 and float(teacher["weight"]) > 0) and n_per_class is None:
        raise ConfigError(f"{where}.teacher: a teacher excites the label's segment, but the layer has no segments "
                          "(set n_per_class).")
    return Layer(name, neuron_from_config(section["neuron"]), size, shape,
                 _positive_number(section.get("sheet_width"), f"{where}.sheet_width", integer=True, allow_none=True),
                 inhibition, n_per_class, n_classes if n_per_class else 0, rate,
                 _number(teacher["weight"], f"{where}.teacher.weight", minimum=0))


def projection_from_config(name: str, section: dict, layers: dict) -> Projection:
    where = f"network.projections.{name}"
    for end in ("source", "target"):
        value = section.get(end)
        valid = [INPUT] + list(layers) if end == "source" else list(layers)
        if value not in valid:
            import difflib
            close = difflib.get_close_matches(str(value), valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}.{end}: no layer named {value!r}.{hint} Layers: {', '.join(valid)}.")
    if section["connectivity"] in ("conv", "max_pool", "local"):
        raise ConfigError(f"{where}.connectivity {section['connectivity']!r} connects layers of feature maps, which "
                          "the latency-coded convolutional networks build (study: conv_stdp, see "
                          "experiments/conv_stdp_mnist.yaml); this study's networks are dense.")
    rule = None
    plast = section.get("plasticity")
    if plast is not None:
        rule = get_plasticity_rule(plast["rule"]).with_overrides(plast.get("parameters"), plast.get("trace_location"),
                                                                 pruning=plast.get("pruning"))
    if rule is not None and rule.name == "supervised" and not layers[section["target"]].has_segments:
        raise ConfigError(f"{where}.plasticity.rule: the 'supervised' rule follows the class segments of its "
                          f"target, but layer {section['target']!r} has none; use 'stdp' (or 'all_ltd'), or give "
                          f"the layer n_per_class.")
    return Projection(name, section["source"], section["target"], rule, section["connectivity"],
                      _number(section["radius"], f"{where}.radius", minimum=0),
                      _number(section["probability"], f"{where}.probability", minimum=0),
                      int(section["connect_seed"]),
                      _number(section["w_init_max"], f"{where}.w_init_max", minimum=0),
                      _positive_number(section["weight_normalization"], f"{where}.weight_normalization",
                                       allow_none=True),
                      _positive_number(section["gain"], f"{where}.gain"))


def _build_order(layers: dict, projections: dict) -> list[str]:
    """Layers in order of their distance from the input (ties: declaration order)."""
    reached, order, frontier = {INPUT}, [], [INPUT]
    while frontier:
        nxt = [p.target for p in projections.values() if p.source in frontier and p.target not in reached]
        for name in layers:
            if name in nxt and name not in reached:
                reached.add(name)
                order.append(name)
        frontier = [n for n in layers if n in nxt]
    unreached = [n for n in layers if n not in reached]
    if unreached:
        raise ConfigError(f"layer(s) {', '.join(map(repr, unreached))} receive no input: add a projection from "
                          f"'{INPUT}' or from another layer under network.projections.")
    return order


def check_traces(spec: NetworkSpec) -> None:
    """A neuron keeps one variable per trace name for every rule touching it: their taus must agree."""
    for layer in [INPUT] + list(spec.layers):
        seen = {}
        for side, projections in (("pre", spec.outgoing(layer)), ("post", spec.incoming(layer))):
            for p in projections:
                if not p.plastic:
                    continue
                if p.rule.trace_location != "neuron" and len(spec.layers) > 1:
                    raise ConfigError(f"network.projections.{p.name}: a network of several layers needs per-neuron "
                                      "traces (plasticity.trace_location: neuron).")
                for trace, tau in rule_traces(p.rule, side).items():
                    if trace in seen and abs(float(seen[trace][0]) - float(tau)) > 1e-12:
                        other, other_side = seen[trace][1:]
                        raise ConfigError(
                            f"layer {layer!r} keeps one {trace!r} trace for projection {other!r} ({other_side}) and "
                            f"{p.name!r} ({side}), but their time constants differ ({seen[trace][0]} vs {tau}). "
                            f"Set the tau_pre/tau_post parameters of network.projections.{p.name}.plasticity so "
                            "they agree.")
                    seen[trace] = (tau, p.name, side)
        signs = {p.rule.ltp_sign for p in spec.incoming(layer) if p.plastic} if layer != INPUT else set()
        if len(signs) > 1:
            raise ConfigError(f"layer {layer!r}: its incoming plastic projections use rules with different "
                              "postsynaptic signs (e.g. supervised and stdp); give them the same rule.")


def check_normalization(spec: NetworkSpec) -> None:
    """A neuron's input weights cannot sum to more than n_pre * w_max (they would all sit at w_max)."""
    for p in spec.projections.values():
        if not (p.weight_normalization and p.plastic and p.dense):
            continue
        n_pre, w_max = spec.size(p.source), float(p.rule.parameters["w_max"])
        if p.weight_normalization >= n_pre * w_max:
            raise ConfigError(
                f"network.projections.{p.name}.weight_normalization = {p.weight_normalization:g} cannot be reached: "
                f"each neuron has {n_pre} inputs with weights <= w_max = {w_max:g}, so every weight would sit "
                f"at w_max. Use a total well below {n_pre * w_max:g} (Diehl & Cook: 78 for 784 inputs).")
        if not p.plastic:
            raise ConfigError(f"network.projections.{p.name}: weight normalisation needs a plastic projection.")


def network_from_config(network: dict, n_classes: int = 0, *, n_inputs: int = 784,
                        input_shape: tuple | None = (1, 28, 28)) -> NetworkSpec:
    """The :class:`NetworkSpec` of a config's ``network`` section; every error before anything is built."""
    if not network.get("layers"):
        raise ConfigError("network.layers is empty: declare at least one layer (see experiments/*.yaml).")
    if not network.get("projections"):
        raise ConfigError("network.projections is empty: connect the input to a layer (see experiments/*.yaml).")
    layers = {name: layer_from_config(name, section, n_classes) for name, section in network["layers"].items()}
    projections = {name: projection_from_config(name, section, layers)
                   for name, section in network["projections"].items()}
    order = _build_order(layers, projections)
    readout = network["readout"]
    readout_layer = readout.get("layer") or order[-1]
    if readout_layer not in layers:
        raise ConfigError(f"network.readout.layer: no layer named {readout_layer!r}; layers: {', '.join(layers)}.")
    from bioplastic.readout import READOUTS
    if readout["kind"] not in READOUTS:
        raise ConfigError(f"network.readout.kind must be one of {', '.join(READOUTS)}, got {readout['kind']!r}.")
    if readout["kind"] == "segments" and not layers[readout_layer].has_segments:
        raise ConfigError(f"network.readout: the segment readout needs class segments in layer {readout_layer!r} "
                          f"(set network.layers.{readout_layer}.n_per_class), or use kind: label_assignment.")
    spec = NetworkSpec(n_inputs, {name: layers[name] for name in order}, projections, readout_layer, readout["kind"],
                       max_rate=positive(network["input"]["max_rate"], Hz, "network.input.max_rate"),
                       dt=positive(network["dt"], ms, "network.dt"), input_shape=input_shape)
    for name in projections:
        spec.pairs(name)              # connectivity errors (sizes, radius) now, not at build time
    check_traces(spec)
    check_normalization(spec)
    return spec
