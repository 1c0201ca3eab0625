"""Neuron models and plasticity rules, as data (equations + parameters with units).

``NEURON_MODELS`` maps a name to a :class:`NeuronModel`; ``get_neuron_model(name)`` looks
one up with a helpful error. New models register by being added to ``_ALL_NEURONS``.
"""
from bioplastic.models.base import NeuronModel, lookup
from bioplastic.models.hodgkin_huxley import HODGKIN_HUXLEY
from bioplastic.models.integrate_fire import IF_FIRST_SPIKE
from bioplastic.models.izhikevich import IZHIKEVICH, IZHIKEVICH_MODELS
from bioplastic.models.lif import ADAPTIVE_LIF, INHIBITORY_LIF, LIF
from bioplastic.models.plasticity import PLASTICITY_RULES, PlasticityRule

_ALL_NEURONS = [LIF, ADAPTIVE_LIF, INHIBITORY_LIF, IZHIKEVICH, *IZHIKEVICH_MODELS, HODGKIN_HUXLEY, IF_FIRST_SPIKE]

NEURON_MODELS = {model.name: model for model in _ALL_NEURONS}


def get_neuron_model(name: str) -> NeuronModel:
    return lookup(NEURON_MODELS, name, "neuron")


def neuron_from_config(section: dict) -> NeuronModel:
    """A model from its config section: ``model`` plus parameter, equation and method overrides."""
    return get_neuron_model(section["model"]).with_overrides(
        parameters=section.get("parameters"), equations=section.get("equations"), threshold=section.get("threshold"),
        reset=section.get("reset"), refractory=section.get("refractory"),
        extra_parameters=section.get("extra_parameters"), initial_values=section.get("initial_values"),
        method=section.get("method"))


def get_plasticity_rule(name: str) -> PlasticityRule:
    return lookup(PLASTICITY_RULES, name, "plasticity")


__all__ = ["NeuronModel", "PlasticityRule", "NEURON_MODELS", "PLASTICITY_RULES",
           "get_neuron_model", "get_plasticity_rule", "neuron_from_config"]
