"""Leaky integrate-and-fire neurons, conductance-based, as in Diehl & Cook (2015).

Conductances ``ge`` and ``gi`` are dimensionless, in units of the leak conductance, so a
synaptic weight of 1 opens as much conductance as the leak. ``I_ext`` is an injected
current (through the membrane resistance ``R_m``) used for f-I curves and step protocols.
"""
from brian2 import Mohm, mV, ms

from bioplastic.models.base import NeuronModel

_LIF_EQUATIONS = """
dv/dt = (E_rest - v + ge*(E_exc - v) + gi*(E_inh - v) + R_m*I_ext) / tau_m : volt (unless refractory)
dge/dt = -ge/tau_ge : 1
dgi/dt = -gi/tau_gi : 1
I_ext : amp
"""

_POSITIVE = ("tau_m", "tau_ge", "tau_gi", "R_m")

# Diehl & Cook (2015), excitatory population (their `v_rest_e`, `tc_e` = 100 ms, ...).
_EXCITATORY = dict(E_rest=-65 * mV, E_exc=0 * mV, E_inh=-100 * mV, v_reset=-65 * mV, v_thresh=-52 * mV,
                   tau_m=100 * ms, tau_ge=1 * ms, tau_gi=2 * ms, t_ref=5 * ms, R_m=100 * Mohm)

LIF = NeuronModel(
    name="lif",
    description="Conductance-based leaky integrate-and-fire neuron (Diehl & Cook 2015 excitatory parameters).",
    equations=_LIF_EQUATIONS,
    threshold="v > v_thresh",
    reset="v = v_reset",
    refractory="t_ref",
    parameters=dict(_EXCITATORY),
    initial_values={"v": "E_rest"},
    positive_parameters=_POSITIVE,
    reference="P. U. Diehl, M. Cook (2015) Front. Comput. Neurosci. 9:99",
)

ADAPTIVE_LIF = NeuronModel(
    name="adaptive_lif",
    description=("LIF with an adaptive threshold theta: each spike raises the threshold by theta_plus, "
                 "which decays very slowly (homeostasis; frozen while `learning` is 0)."),
    equations=_LIF_EQUATIONS + "\ndtheta/dt = -learning*theta/tau_theta : volt\n",
    threshold="v > v_thresh + theta",
    reset="v = v_reset\ntheta += learning*theta_plus",
    refractory="t_ref",
    parameters=dict(_EXCITATORY, theta_plus=0.05 * mV, tau_theta=1e7 * ms),
    initial_values={"v": "E_rest"},
    positive_parameters=_POSITIVE + ("tau_theta",),
    reference="P. U. Diehl, M. Cook (2015) Front. Comput. Neurosci. 9:99, adaptive threshold",
)

INHIBITORY_LIF = NeuronModel(
    name="inhibitory_lif",
    description="Fast conductance-based LIF interneuron (Diehl & Cook 2015 inhibitory parameters).",
    equations=_LIF_EQUATIONS,
    threshold="v > v_thresh",
    reset="v = v_reset",
    refractory="t_ref",
    parameters=dict(E_rest=-60 * mV, E_exc=0 * mV, E_inh=-85 * mV, v_reset=-45 * mV, v_thresh=-40 * mV,
                    tau_m=10 * ms, tau_ge=1 * ms, tau_gi=2 * ms, t_ref=2 * ms, R_m=100 * Mohm),
    initial_values={"v": "E_rest"},
    positive_parameters=_POSITIVE,
    reference="P. U. Diehl, M. Cook (2015) Front. Comput. Neurosci. 9:99",
)
