"""Convolutional spiking networks of feature maps, coded by first-spike latency, on Brian2.

The same ``network.layers`` / ``network.projections`` vocabulary as the dense networks,
with layers of shape ``[maps, rows, cols]`` and map-to-map connectivity kinds
(:data:`MAP_KINDS`): ``conv`` (shared kernels), ``max_pool`` (first-spike gate) and
``local`` (the receptive fields of ``conv`` with unshared weights)::

    layers:
      s1: {neuron: {model: if_first_spike, parameters: {v_thresh: 15}}, shape: [30, 28, 28],
           inhibition: null, competition: {k: 5, radius: 3}}
      c1: {neuron: {model: if_first_spike, parameters: {v_thresh: 0}}, shape: [30, 14, 14], inhibition: null}
    projections:
      input_to_s1: {source: input, target: s1, connectivity: conv, kernel_size: 5, padding: 2,
                    plasticity: {rule: stdp_kernel}}
      s1_to_c1: {source: s1, target: c1, connectivity: max_pool, kernel_size: 2, stride: 2, plasticity: null}

Brian2 simulates every presentation: one :class:`NeuronGroup` per layer (equations of the
layer's neuron model), one :class:`Synapses` per projection whose weight is linked to a
kernel group through the per-synapse index ``kidx`` (``linked_var(K.w, index='kidx')``),
so a kernel written once changes every synapse that shares it. Each layer adds one time
step of transmission delay; spike times are reported in the reference's steps (delay
removed). Competition (pointwise inhibition, k-winners-take-all) is a global, sequential
choice over a whole layer, once per image, that Brian2's generated code cannot express:
while a layer learns, it runs as a Brian2 ``network_operation`` on the runtime device
(numpy, :mod:`bioplastic.network.competition`), which also writes the winners' kernels.
Frozen passes (feature caching, inference) run on any device.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bioplastic.errors import ConfigError
from bioplastic.models import neuron_from_config
from bioplastic.models.base import NeuronModel
from bioplastic.network import competition as comp
from bioplastic.network import topology
from bioplastic.network.kernel_rules import (KernelSTDP, RewardSTDP, SupervisedKernel, kernel_rule_from_config,
                                             local_stdp_step, stdp_step)

INPUT = "input"
MAP_KINDS = ("conv", "max_pool", "local")
SILENT = -1


@dataclass(frozen=True)
class Competition:
    k: int
    radius: int = 0
    pointwise: bool = True


@dataclass(frozen=True)
class MapLayer:
    name: str
    model: NeuronModel
    shape: tuple
    competition: Competition | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class MapProjection:
    name: str
    source: str
    target: str
    kind: str
    kernel_size: int
    stride: int
    padding: int
    drop_remainder: bool
    rule: KernelSTDP | RewardSTDP | None
    w_init: tuple = (0.8, 0.05)          # normal(mean, std) for conv/local weights

    def connectivity(self, in_shape, n_maps: int) -> topology.MapConnectivity:
        if self.kind == "conv":
            return topology.conv2d(in_shape, n_maps, self.kernel_size, self.stride, self.padding)
        if self.kind == "local":
            return topology.locally_connected(in_shape, n_maps, self.kernel_size, self.stride, self.padding)
        return topology.max_pool2d(in_shape, self.kernel_size, self.stride, self.padding,
                                   drop_remainder=self.drop_remainder)


@dataclass(frozen=True)
class ConvNetSpec:
    """A feed-forward chain input -> layer -> layer ..., one projection into each layer."""
    input_shape: tuple
    n_steps: int
    layers: dict                 # name -> MapLayer, in chain order
    projections: dict            # target layer name -> MapProjection
    n_classes: int

    def shape(self, name: str) -> tuple:
        return self.input_shape if name == INPUT else self.layers[name].shape

    def connectivity(self, target: str) -> topology.MapConnectivity:
        proj = self.projections[target]
        return proj.connectivity(self.shape(proj.source), self.layers[target].shape[0])

    def chain(self, start: str = INPUT, stop: str | None = None) -> list[str]:
        """Layer names after ``start`` up to and including ``stop`` (default: the last)."""
        names = [INPUT] + list(self.layers)
        end = names.index(stop) if stop else len(names) - 1
        return names[names.index(start) + 1:end + 1]

    @property
    def decision_layer(self) -> str:
        return list(self.layers)[-1]

    def maps_per_class(self) -> int:
        return self.layers[self.decision_layer].shape[0] // self.n_classes

    def initial_weights(self, seed: int) -> dict:
        """Weights of every weighted projection, normal(mean, std) as in SpykeTorch, by target layer."""
        rng = np.random.default_rng([seed, 7])
        weights = {}
        for target, proj in self.projections.items():
            if proj.kind != "max_pool":
                mean, std = proj.w_init
                weights[target] = rng.normal(mean, std, self.connectivity(target).weight_shape)
        return weights


def _int(value, where, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < minimum:
        raise ConfigError(f"{where} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _layer(name: str, section: dict) -> MapLayer:
    where = f"network.layers.{name}"
    shape = section.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise ConfigError(f"{where}.shape must be [maps, rows, cols] in a convolutional network, got {shape!r}.")
    if section.get("inhibition") is not None:
        raise ConfigError(f"{where}.inhibition: layers of feature maps compete by `competition: {{k, radius}}`, "
                          "not by inhibitory partners; set inhibition: null.")
    shape = tuple(_int(s, f"{where}.shape", 1) for s in shape)
    compet = section.get("competition")
    if compet is not None:
        unknown = set(compet) - {"k", "radius", "pointwise"}
        if unknown:
            raise ConfigError(f"{where}.competition: unknown key(s) {', '.join(sorted(unknown))}; "
                              "known: k, radius, pointwise.")
        compet = Competition(_int(compet.get("k"), f"{where}.competition.k", 1),
                             _int(compet.get("radius", 0), f"{where}.competition.radius", 0),
                             bool(compet.get("pointwise", True)))
        comp.validate_competition(compet.k, compet.radius, n_maps=shape[0])
    return MapLayer(name, neuron_from_config(section["neuron"]), shape, compet)


def _projection(name: str, section: dict, layers: dict) -> MapProjection:
    where = f"network.projections.{name}"
    kind = section.get("connectivity")
    if kind not in MAP_KINDS:
        raise ConfigError(f"{where}.connectivity: a network of feature maps connects them by one of "
                          f"{', '.join(MAP_KINDS)}, got {kind!r}.")
    if section.get("kernel_size") is None:
        raise ConfigError(f"{where}.kernel_size is required for connectivity {kind!r}.")
    w_init = section.get("w_init_normal") or [0.8, 0.05]
    rule = kernel_rule_from_config(section.get("plasticity"), f"{where}.plasticity")
    if kind == "max_pool" and rule is not None:
        raise ConfigError(f"{where}: pooling has no weights to learn; set plasticity: null.")
    stride = section.get("stride")
    return MapProjection(name, section.get("source"), section.get("target"), kind,
                         _int(section["kernel_size"], f"{where}.kernel_size", 1),
                         _int(section["kernel_size"] if stride is None and kind == "max_pool" else (stride or 1),
                              f"{where}.stride", 1),
                         _int(section.get("padding") or 0, f"{where}.padding", 0),
                         bool(section.get("drop_remainder")), rule, (float(w_init[0]), float(w_init[1])))


def _check_chain(layers: dict, projections: list[MapProjection]) -> dict:
    """Projections by target, checked to form the chain input -> first layer -> ... in declaration order."""
    names = [INPUT] + list(layers)
    by_target = {}
    for proj in projections:
        where = f"network.projections.{proj.name}"
        if proj.target not in layers:
            raise ConfigError(f"{where}.target: no layer named {proj.target!r}; layers: {', '.join(layers)}.")
        expected = names[names.index(proj.target) - 1]
        if proj.source != expected or proj.target in by_target:
            raise ConfigError(f"{where}: a convolutional network is a chain in the order of network.layers, one "
                              f"projection into each layer; layer {proj.target!r} must be fed by {expected!r} "
                              f"(got source {proj.source!r}).")
        by_target[proj.target] = proj
    missing = [name for name in layers if name not in by_target]
    if missing:
        raise ConfigError(f"layer(s) {', '.join(missing)} receive no projection; add one under network.projections.")
    return {name: by_target[name] for name in layers}


def conv_network_from_config(network: dict, input_shape: tuple, n_steps: int, n_classes: int) -> ConvNetSpec:
    """The :class:`ConvNetSpec` of a config's ``network`` section; every error before anything is built."""
    if not network.get("layers") or not network.get("projections"):
        raise ConfigError("network.layers and network.projections must declare the convolutional network "
                          "(see experiments/conv_stdp_mnist.yaml).")
    layers = {name: _layer(name, section) for name, section in network["layers"].items()}
    projections = _check_chain(layers, [_projection(name, section, layers)
                                        for name, section in network["projections"].items()])
    spec = ConvNetSpec(tuple(input_shape), int(n_steps), layers, projections, int(n_classes))
    for name, layer in layers.items():
        proj = projections[name]
        conn = spec.connectivity(name)
        if proj.kind == "max_pool" and spec.shape(proj.source)[0] != layer.shape[0]:
            raise ConfigError(f"network.layers.{name}.shape: pooling keeps the {spec.shape(proj.source)[0]} maps of "
                              f"{proj.source!r}, got {layer.shape[0]}.")
        if conn.out_shape != layer.shape:
            raise ConfigError(f"network.layers.{name}.shape is {list(layer.shape)}, but projection {proj.name!r} "
                              f"({proj.kind} {proj.kernel_size}x{proj.kernel_size}, stride {proj.stride}, padding "
                              f"{proj.padding}) of {list(spec.shape(proj.source))} gives {list(conn.out_shape)}.")
    decision = layers[spec.decision_layer]
    if (not isinstance(projections[decision.name].rule, (RewardSTDP, SupervisedKernel, type(None)))
            or decision.shape[0] % n_classes):
        raise ConfigError(f"network.layers.{decision.name}: the last layer decides; its {decision.shape[0]} maps must "
                          f"divide into the {n_classes} classes and its rule must be rstdp or supervised_alltd "
                          "(or null).")
    for name in list(layers)[:-1]:
        if isinstance(projections[name].rule, (RewardSTDP, SupervisedKernel)):
            raise ConfigError(f"network.projections.{projections[name].name}: {projections[name].rule.name} "
                              "needs class maps; only the last (decision) layer can use it. Use stdp_kernel here.")
        if projections[name].rule is not None and layers[name].competition is None:
            raise ConfigError(f"network.layers.{name}: an STDP layer learns through its k winners; give it "
                              "competition: {k: ..., radius: ...}.")
    return spec


@dataclass
class LayerTraining:
    """A layer learning with STDP: its kernels (changed in place) and images trained so far."""
    layer: str
    weights: np.ndarray
    images_seen: int = 0
    winners: list = field(default_factory=list)      # number of winners of each image


def learn_image(spec: ConvNetSpec, training: LayerTraining, first: np.ndarray, potential: np.ndarray,
                source_first: np.ndarray) -> bool:
    """Competition and STDP for one image; True when a kernel changed.

    ``first``/``potential``: the layer's first-spike steps (``inf`` silent) and potentials at
    them, (maps, rows, cols); ``source_first``: the input layer's first-spike steps.
    """
    layer, proj = spec.layers[training.layer], spec.projections[training.layer]
    if layer.competition.pointwise:
        keep = comp.pointwise_inhibition(first, potential)
        first, potential = np.where(keep, first, np.inf), np.where(keep, potential, 0.0)
    winners = comp.k_winners(first, potential, layer.competition.k, layer.competition.radius)
    training.images_seen += 1
    training.winners.append(len(winners))
    if not len(winners):
        return False
    winner_first = first[winners[:, 0], winners[:, 1], winners[:, 2]]
    if proj.kind == "local":
        conn = spec.connectivity(training.layer)
        local_stdp_step(proj.rule, training.weights, training.images_seen, source_first.ravel(), conn.pre, conn.post,
                        np.ravel_multi_index(tuple(winners.T), layer.shape), winner_first)
    else:
        stdp_step(proj.rule, training.weights, training.images_seen, source_first.reshape(spec.shape(proj.source)),
                  winners, winner_first, proj.kernel_size, proj.stride, proj.padding)
    return True
