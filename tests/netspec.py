"""Small networks for the tests, declared as configs (``network.layers`` / ``network.projections``)
and built through the same path as an experiment file: defaults, key checks, ``network_from_config``.

The shapes are those of the synthetic "bars" images of ``test_network``: 12 x 12 inputs, 3 classes.
"""
from __future__ import annotations

import dataclasses

from bioplastic.config import COMMON_DEFAULTS, deep_merge, dotted_to_nested
from bioplastic.network.spec import network_from_config

N_CLASSES, SIDE = 3, 12


def config(network: dict) -> dict:
    """A full config whose ``network`` section is ``network`` (dotted keys relative to ``network.``)."""
    return deep_merge(COMMON_DEFAULTS, dotted_to_nested({f"network.{k}": v for k, v in network.items()}))


def build(network: dict, n_classes: int = N_CLASSES, side: int = SIDE):
    """The NetworkSpec of a ``network`` section given as dotted keys, on ``side x side`` inputs."""
    return network_from_config(config(network)["network"], n_classes, n_inputs=side * side,
                               input_shape=(1, side, side))


def one_layer_network(n_per_class=3, rule="supervised", trace_location="neuron", lateral="all_but_self", *,
                      A_pre=0.05, w_init_max=0.6, **overrides) -> dict:
    """input --input_to_exc (plastic, all-to-all)--> exc (class segments) <-> inhibitory partners."""
    network = {
        "layers.exc.n_per_class": n_per_class,
        "layers.exc.inhibition.lateral": lateral,
        "projections.input_to_exc": {"source": "input", "target": "exc", "w_init_max": w_init_max,
                                     "plasticity": {"rule": rule, "parameters": {"A_pre": A_pre},
                                                    "trace_location": trace_location}},
    }
    network.update(overrides)
    return network


def one_layer(n_per_class=3, n_classes=N_CLASSES, rule="supervised", trace_location="neuron",
              lateral="all_but_self", **overrides):
    """``overrides``: dotted keys under ``network.``, e.g. ``**{"layers.exc.inhibition.radius": 1.5}``."""
    return build(one_layer_network(n_per_class, rule, trace_location, lateral, **overrides), n_classes)


def two_layer_network(n_hidden=9, n_per_class=3, *, hidden_lateral="all_but_self", A_pre=0.05, w_init_max=0.6,
                      hidden_normalization=40.0, gain=8.0, teacher=("200 Hz", 2.0), **overrides) -> dict:
    """input --input_to_hidden (stdp)--> hidden --hidden_to_exc (supervised, gain)--> exc segments."""
    network = {
        "layers.hidden.size": n_hidden,
        "layers.hidden.inhibition.lateral": hidden_lateral,
        "layers.exc.n_per_class": n_per_class,
        "layers.exc.teacher": {"rate": teacher[0], "weight": teacher[1]},
        "projections.input_to_hidden": {"source": "input", "target": "hidden", "w_init_max": w_init_max,
                                        "weight_normalization": hidden_normalization,
                                        "plasticity": {"rule": "stdp", "parameters": {"A_pre": A_pre}}},
        "projections.hidden_to_exc": {"source": "hidden", "target": "exc", "w_init_max": w_init_max, "gain": gain,
                                      "plasticity": {"rule": "supervised", "parameters": {"A_pre": A_pre}}},
    }
    network.update(overrides)
    return network


def two_layer(n_hidden=9, n_per_class=3, n_classes=N_CLASSES, **options):
    return build(two_layer_network(n_hidden, n_per_class, **options), n_classes)


def with_bounds(spec):
    """Every plastic projection with per-synapse bounds (freeze masks, [w_lo, w_hi], Langevin noise),
    as the forgetting study makes them."""
    projections = {name: dataclasses.replace(p, rule=p.rule.with_overrides(per_synapse_bounds=True)) if p.plastic
                   else p for name, p in spec.projections.items()}
    return dataclasses.replace(spec, projections=projections)
