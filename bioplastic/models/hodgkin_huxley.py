"""Hodgkin-Huxley (1952) squid giant axon at 6.3 °C, per unit membrane area.

Convention: the *modern* one, membrane potential measured from the outside with rest
near -65 mV (HH's original paper used depolarisation-positive deviations from rest,
V_HH = -(v + 65 mV)). Rates, in 1/ms with v in mV (Dayan & Abbott 2001; Gerstner et al.
2014, Neuronal Dynamics, Table 2.1)::

    alpha_m = 0.1 (v+40) / (1 - exp(-(v+40)/10))     beta_m = 4 exp(-(v+65)/18)
    alpha_h = 0.07 exp(-(v+65)/20)                     beta_h = 1 / (1 + exp(-(v+35)/10))
    alpha_n = 0.01 (v+55) / (1 - exp(-(v+55)/10))     beta_n = 0.125 exp(-(v+65)/80)

written with Brian2's ``exprel`` so that v = -40 mV and v = -55 mV are not 0/0. All
rates are multiplied by ``phi`` (1 at 6.3 °C; for temperature T use phi = 3**((T - 6.3 °C)/10)).
g_Na = 120, g_K = 36, g_L = 0.3 mS/cm**2; E_Na = 50, E_K = -77, E_L = -54.387 mV;
C_m = 1 uF/cm**2.

Units are per area: ``I_ext`` is a current density (``amp/meter**2``; write e.g.
``10*uA/cm**2``).

Spikes: there is no reset; a spike is the upward crossing of -20 mV (threshold
``v > -20*mV`` with ``refractory="v > -20*mV"``, so each action potential counts once).

Synaptic input: ``ge`` and ``gi`` are dimensionless, in units of ``g_ref`` = 0.3 mS/cm**2,
which equals the leak conductance g_L, the same convention as the LIF models (conductances
in units of the leak). A ge pulse of weight 1 (decaying with tau_ge = 1 ms) depolarises the
resting axon by a few mV; a steady ge of ~0.35 is about the repetitive-firing rheobase.

Measured with this implementation (exponential Euler, dt = 0.025 ms, step from rest,
firing counted between 100 and 300 ms): repetitive firing starts at 6.25 uA/cm**2
(a step of 6.20 gives a single spike; classic value ~6.2-6.3, the saddle-node of
periodic orbits of the bistable HH system); rates 53 Hz at onset, 68 Hz at 10,
79 Hz at 15 and 87 Hz at 20 uA/cm**2.

Integration: method "exponential_euler"; dt = 0.01-0.025 ms.
"""
from brian2 import cm, mS, ms, mV, uF

from bioplastic.models.base import NeuronModel

HH_EQUATIONS = """
dv/dt = (I_ext - g_Na*m**3*h*(v - E_Na) - g_K*n**4*(v - E_K) - g_L*(v - E_L) + g_ref*ge*(E_exc - v) + g_ref*gi*(E_inh - v)) / C_m : volt
dm/dt = phi*(alpha_m*(1 - m) - beta_m*m) : 1
dh/dt = phi*(alpha_h*(1 - h) - beta_h*h) : 1
dn/dt = phi*(alpha_n*(1 - n) - beta_n*n) : 1
alpha_m = (1/ms) / exprel(-(v + 40*mV)/(10*mV)) : Hz
beta_m = (4/ms) * exp(-(v + 65*mV)/(18*mV)) : Hz
alpha_h = (0.07/ms) * exp(-(v + 65*mV)/(20*mV)) : Hz
beta_h = (1/ms) / (1 + exp(-(v + 35*mV)/(10*mV))) : Hz
alpha_n = (0.1/ms) / exprel(-(v + 55*mV)/(10*mV)) : Hz
beta_n = (0.125/ms) * exp(-(v + 65*mV)/(80*mV)) : Hz
dge/dt = -ge/tau_ge : 1
dgi/dt = -gi/tau_gi : 1
I_ext : amp/meter**2
"""

# Steady state of the gating variables at v = -65 mV (from the rates above).
_REST = dict(v=-65 * mV, m=0.0529325, h=0.5961208, n=0.3176769)

HODGKIN_HUXLEY = NeuronModel(
    name="hodgkin_huxley",
    description=("Hodgkin-Huxley squid axon at 6.3 °C (Na, K, leak; modern convention, rest -65 mV), "
                 "per unit area; spikes are upward crossings of -20 mV."),
    equations=HH_EQUATIONS,
    threshold="v > -20*mV",
    reset="",
    refractory="v > -20*mV",
    parameters=dict(C_m=1 * uF / cm ** 2, g_Na=120 * mS / cm ** 2, g_K=36 * mS / cm ** 2, g_L=0.3 * mS / cm ** 2,
                    E_Na=50 * mV, E_K=-77 * mV, E_L=-54.387 * mV, phi=1.0,
                    g_ref=0.3 * mS / cm ** 2, E_exc=0 * mV, E_inh=-100 * mV, tau_ge=1 * ms, tau_gi=2 * ms),
    initial_values=dict(_REST),
    method="exponential_euler",
    positive_parameters=("C_m", "g_ref", "tau_ge", "tau_gi", "phi"),
    reference=("A. L. Hodgkin, A. F. Huxley (1952) J. Physiol. 117:500-544; rates in the modern convention "
               "as in P. Dayan, L. F. Abbott (2001) Theoretical Neuroscience, ch. 5"),
)
