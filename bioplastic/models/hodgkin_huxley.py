"""Hodgkin-Huxley (1952) squid giant axon, 6.3 °C, per unit membrane area, with conductance inputs.

Rest convention
---------------
The *modern* convention: v is the membrane potential (inside minus outside) and the
cell rests near **-65 mV**. Hodgkin & Huxley measured the depolarisation from rest with
the opposite sign; their V_HH equals -(v + 65 mV). The reversal potentials and rate
functions below are theirs, shifted accordingly: E_Na = -65 + 115 = 50 mV,
E_K = -65 - 12 = -77 mV, E_L = -65 + 10.613 = -54.387 mV (chosen by HH so that the
resting potential is exactly -65 mV).

Rate functions (v in mV, rates in 1/ms, at 6.3 °C)::

    alpha_m = 0.1 (v+40) / (1 - exp(-(v+40)/10))      beta_m = 4 exp(-(v+65)/18)
    alpha_h = 0.07 exp(-(v+65)/20)                     beta_h = 1 / (1 + exp(-(v+35)/10))
    alpha_n = 0.01 (v+55) / (1 - exp(-(v+55)/10))      beta_n = 0.125 exp(-(v+65)/80)

The removable 0/0 singularities of alpha_m, alpha_n are written with Brian2's ``exprel``
(``x/(exp(x) - 1) = 1/exprel(x)``), so they are exact at v = -40 mV and -55 mV.
``phi`` multiplies all rates: 1 at 6.3 °C; for another temperature T use
``phi = 3**((T - 6.3 °C)/10 °C)`` (Q10 = 3), e.g. ~6.2 at 23 °C.

Units are per area: C_m in uF/cm**2, conductance densities in mS/cm**2 and the injected
current ``I_ext`` in **uA/cm**2** (e.g. ``I_ext = 10*uA/cm**2``).

Synaptic input
--------------
``ge`` and ``gi`` are dimensionless, decay with ``tau_ge``/``tau_gi`` and are given in
units of the reference conductance density ``g_syn`` = 0.3 mS/cm**2, the leak
conductance, as the LIF models count their conductances in units of their leak
(synapses do ``ge_post += w``). A steady ge of ~0.5 makes the axon fire repetitively
(Diehl & Cook LIF: ~0.3), so weights of 0.1-1 matter in a similar way. Single inputs weigh
more than in the LIF (membrane time constant ~1.5-3 ms instead of 100 ms): a ge pulse of
weight 0.3 depolarises by ~3.5 mV (LIF: 0.2 mV) and weight 1 fires an action potential.

Spikes
------
There is no reset: a spike is the upward crossing of ``v_spike`` = -20 mV
(threshold ``v > v_spike``), and the neuron stays "refractory" while ``v > v_spike``,
so each action potential counts once.

Integration: method "exponential_euler" (the gating equations are linear in m, h, n).
Recommended dt: 0.01-0.025 ms (rates differ by < 1 % between the two). Coarser steps
still spike but bias the f-I curve: rates are 1.5 % low at 0.05 ms, 3-4 % low at 0.1 ms
(where firing at 6.3 uA/cm**2 is lost) and 20 % low at 0.5 ms (the network default).

Known behaviour at 6.3 °C (measured by tests/test_neuron_models.py, dt 0.025 ms):
rest at -65.0 mV; a 1 ms pulse fires the axon above ~6.5 uA/cm**2, the action potential
peaking near +40 mV. Under a current step from rest, sustained repetitive firing begins
at 6.27-6.28 uA/cm**2 (the fold of periodic orbits at ~6.26 uA/cm**2 in Guckenheimer &
Labouriau 1993; rest stays stable up to the Hopf point at ~9.8, so 6.3-9.8 is bistable),
where the rate jumps from 0 to ~51 Hz (type II excitability); 67.5 Hz at 10, 77.6 Hz
at 15 and 85.3 Hz at 20 uA/cm**2. A single strong inhibitory pulse (gi >= 2 in g_syn
units, tau_gi = 2 ms) is followed by a rebound (anode-break) spike, as in the real axon.

Numpy target: Brian2's ``exprel`` is slow there (its unit-checking wrapper formats the
argument array on every call): an f-I run takes ~30x longer than with the (compiled,
cached) Cython target, so prefer Cython for long Hodgkin-Huxley runs.
"""
import numpy as np
from brian2 import cm, mS, mV, ms, uF

from bioplastic.models.base import NeuronModel

HH_EQUATIONS = """
dv/dt = (I_Na + I_K + I_L + I_syn + I_ext) / C_m : volt
I_Na = g_Na * m**3 * h * (E_Na - v) : amp/meter**2
I_K = g_K * n**4 * (E_K - v) : amp/meter**2
I_L = g_L * (E_L - v) : amp/meter**2
I_syn = g_syn * (ge * (E_exc - v) + gi * (E_inh - v)) : amp/meter**2
dm/dt = phi * (alpha_m * (1 - m) - beta_m * m) : 1
dh/dt = phi * (alpha_h * (1 - h) - beta_h * h) : 1
dn/dt = phi * (alpha_n * (1 - n) - beta_n * n) : 1
alpha_m = (1/ms) / exprel(-(v + 40*mV) / (10*mV)) : Hz
beta_m = (4/ms) * exp(-(v + 65*mV) / (18*mV)) : Hz
alpha_h = (0.07/ms) * exp(-(v + 65*mV) / (20*mV)) : Hz
beta_h = (1/ms) / (1 + exp(-(v + 35*mV) / (10*mV))) : Hz
alpha_n = (0.1/ms) / exprel(-(v + 55*mV) / (10*mV)) : Hz
beta_n = (0.125/ms) * exp(-(v + 65*mV) / (80*mV)) : Hz
dge/dt = -ge/tau_ge : 1
dgi/dt = -gi/tau_gi : 1
I_ext : amp/meter**2
"""


def _gates_at_rest(v=-65.0) -> dict:
    """Steady state x_inf = alpha_x/(alpha_x + beta_x) of m, h, n at v (mV), from the rates above."""
    alpha_m, beta_m = 0.1 * (v + 40) / (1 - np.exp(-(v + 40) / 10)), 4 * np.exp(-(v + 65) / 18)
    alpha_h, beta_h = 0.07 * np.exp(-(v + 65) / 20), 1 / (1 + np.exp(-(v + 35) / 10))
    alpha_n, beta_n = 0.01 * (v + 55) / (1 - np.exp(-(v + 55) / 10)), 0.125 * np.exp(-(v + 65) / 80)
    return {"m": alpha_m / (alpha_m + beta_m), "h": alpha_h / (alpha_h + beta_h), "n": alpha_n / (alpha_n + beta_n)}


HH_PARAMETERS = dict(
    C_m=1 * uF / cm**2,
    g_Na=120 * mS / cm**2, g_K=36 * mS / cm**2, g_L=0.3 * mS / cm**2,
    E_Na=50 * mV, E_K=-77 * mV, E_L=-54.387 * mV,
    phi=1.0,
    g_syn=0.3 * mS / cm**2, E_exc=0 * mV, E_inh=-100 * mV, tau_ge=1 * ms, tau_gi=2 * ms,
    v_spike=-20 * mV,
)

HODGKIN_HUXLEY = NeuronModel(
    name="hodgkin_huxley",
    description=("Hodgkin-Huxley squid axon at 6.3 °C (Na, K, leak; m, h, n gating), rest at -65 mV "
                 "(modern sign convention), per-area units: I_ext in uA/cm**2, ge/gi in units of "
                 "g_syn = 0.3 mS/cm**2. Spike = upward crossing of -20 mV. Use dt <= 0.025 ms "
                 "(method exponential_euler)."),
    equations=HH_EQUATIONS,
    threshold="v > v_spike",
    reset="",
    refractory="v > v_spike",
    parameters=HH_PARAMETERS,
    # Start at rest (-65 mV) with the gates at their steady state there (m 0.053, h 0.596, n 0.318).
    initial_values={"v": -65 * mV, **_gates_at_rest(-65.0)},
    method="exponential_euler",
    positive_parameters=("C_m", "phi", "tau_ge", "tau_gi"),
    reference=("A. L. Hodgkin, A. F. Huxley (1952) J. Physiol. 117:500-544; "
               "rates in the modern -65 mV convention as in Dayan & Abbott (2001), Ch. 5"),
)
