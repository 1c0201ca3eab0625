"""Izhikevich (2003) simple spiking neurons, in physical units, with conductance inputs.

The paper's model (E. M. Izhikevich 2003, IEEE Trans. Neural Netw. 14:1569) is::

    v' = 0.04 v**2 + 5 v + 140 - u + I,    u' = a (b v - u),
    if v >= 30 mV:  v <- c,  u <- u + d

with v in mV and t in ms. Here the same equation is written with Brian2 units (``a``,
``b`` in 1/ms, ``c`` in mV, ``d`` and ``u`` in mV/ms) and the input ``I`` (mV/ms) is::

    I_term = I_ext/C_in + ge*(E_exc - v)/tau_in + gi*(E_inh - v)/tau_in

* **Injected current** ``I_ext`` (amp) enters through ``C_in`` = 100 pF, so the paper's
  "I = 10" (10 mV/ms) is ``I_ext = 1 nA``: the paper's I = x is ``I_ext = x * 0.1 nA``.
  Rheobase of the RS preset: I = 3.8 (0.377 nA; FS: 0.386 nA).
* **Synaptic conductances** ``ge``, ``gi`` are dimensionless and decay with ``tau_ge``,
  ``tau_gi`` as in the LIF models (synapses do ``ge_post += w``). A conductance g drives
  ``g*(E - v)/tau_in`` with ``tau_in`` = 5 ms. Scaling rule: a *steady* conductance has
  about the same effect as for the Diehl & Cook LIF (whose conductances are in units of
  its leak): a steady ge of ~0.3-0.35 makes the RS cell fire (LIF: 0.25), so weights
  0.1-1 and input rates matter in the same way in the mean-driven regime. Near rest the
  Izhikevich cell integrates over ~2 ms instead of the LIF's 100 ms, so a *single* input
  weighs more: a ge pulse of weight 1 (tau_ge = 1 ms) depolarises the resting RS cell by
  ~7.5 mV (LIF: 0.6 mV); weight 3 fires it. LTS, TC and RZ rest closer to threshold
  (rheobase I ~ 1 instead of 3.8): a single pulse of weight 0.5 fires them.

Integration: method "euler" (the quadratic term rules out exponential Euler). **Use
dt <= 0.1 ms** (the tests use 0.1 and 0.05 ms and get the same patterns). At the network
default of 0.5 ms the upstroke is distorted and strong inhibition is numerically unstable:
gi = 17 (the Diehl & Cook lateral inhibition) overshoots to -121 mV, below E_inh, and
gi = 50 produces spurious spikes. The spike is cut at ``v_peak`` = 30 mV.

Initial state: the resting equilibrium (u = b v, dv/dt = 0): -70 mV for b = 0.2,
-64.4 mV for b = 0.25, -62.5 mV for the resonator. (The paper's code starts at
v = -65 mV, which is off rest and makes the resonator fire twice at t = 0.)

Presets (Fig. 2 of the paper; a [1/ms], b [1/ms], c [mV], d [mV/ms]); ``izhikevich`` is
the regular-spiking preset::

    izhikevich_rs   regular spiking            0.02  0.2   -65  8
    izhikevich_ib   intrinsically bursting     0.02  0.2   -55  4
    izhikevich_ch   chattering                 0.02  0.2   -50  2
    izhikevich_fs   fast spiking               0.1   0.2   -65  2
    izhikevich_lts  low-threshold spiking      0.02  0.25  -65  2
    izhikevich_tc   thalamo-cortical           0.02  0.25  -65  0.05
    izhikevich_rz   resonator                  0.1   0.26  -65  2

What each preset does under the paper's step protocols, as measured by
tests/test_neuron_models.py (dt 0.1 ms, I = 10 = 1 nA unless stated):

* RS: 56 Hz initially, adapting to 22 Hz (ISIs 17.8 -> 45.1 ms).
* IB: a burst of 3 spikes (ISIs 2.4, 3.7 ms), then single spikes every 31.6 ms.
* CH: a burst of 8 spikes, then bursts of 5 (intra-burst ISIs 1.6-5.7 ms) every 60.5 ms.
* FS: 238 Hz initially, 129 Hz steady; hardly adapts at the rates where RS adapts.
* LTS: 323 Hz initially, adapting to 73 Hz.
* TC: tonic firing at small depolarising input (I = 1.5); a rebound burst after release
  from hyperpolarisation (I = -30, v ~ -87 mV as in the paper).
* RZ: damped subthreshold oscillation at ~24 Hz after a brief pulse (linearisation at
  rest: f = sqrt(a b - a**2/4)/(2 pi) = 24.4 Hz).
"""
from brian2 import mV, ms, pF

from bioplastic.models.base import NeuronModel

IZHIKEVICH_EQUATIONS = """
dv/dt = (0.04/ms/mV)*v**2 + (5/ms)*v + 140*mV/ms - u + I_term : volt
du/dt = a*(b*v - u) : volt/second
I_term = I_ext/C_in + ge*(E_exc - v)/tau_in + gi*(E_inh - v)/tau_in : volt/second
dge/dt = -ge/tau_ge : 1
dgi/dt = -gi/tau_gi : 1
I_ext : amp
"""

# Input coupling shared by all presets (see module docstring), and the LIF's synapses.
_INPUT = dict(C_in=100 * pF, tau_in=5 * ms, E_exc=0 * mV, E_inh=-100 * mV, tau_ge=1 * ms, tau_gi=2 * ms,
              v_peak=30 * mV)

_POSITIVE = ("a", "C_in", "tau_in", "tau_ge", "tau_gi")

_REFERENCE = "E. M. Izhikevich (2003) Simple model of spiking neurons. IEEE Trans. Neural Netw. 14:1569-1572, Fig. 2"

# Start at the resting equilibrium: u = b*v and dv/dt = 0, the lower root of
# 0.04 v**2 + (5 - b) v + 140 = 0 (paper's units). As expressions, so it follows an overridden b.
REST_STATE = {"v": "(-(5 - b*ms) - sqrt((5 - b*ms)**2 - 4*0.04*140)) / (2*0.04) * mV", "u": "b*v"}

# name suffix, description, a, b, c, d
_PRESETS = [
    ("rs", "regular spiking (RS): tonic firing with spike-frequency adaptation", 0.02, 0.2, -65, 8),
    ("ib", "intrinsically bursting (IB): an initial burst, then tonic single spikes", 0.02, 0.2, -55, 4),
    ("ch", "chattering (CH): repetitive bursts of closely spaced spikes", 0.02, 0.2, -50, 2),
    ("fs", "fast spiking (FS): high-frequency tonic firing with little adaptation", 0.1, 0.2, -65, 2),
    ("lts", "low-threshold spiking (LTS): high initial rate with adaptation; rebound spikes", 0.02, 0.25, -65, 2),
    ("tc", "thalamo-cortical (TC): tonic firing when depolarised from rest; "
           "rebound burst after release from hyperpolarisation", 0.02, 0.25, -65, 0.05),
    ("rz", "resonator (RZ): damped subthreshold oscillations (~24 Hz), fires for resonant input", 0.1, 0.26, -65, 2),
]


def izhikevich_model(name: str, description: str, a: float, b: float, c: float, d: float) -> NeuronModel:
    """A NeuronModel for one (a, b, c, d) parameter set, given in the paper's units."""
    return NeuronModel(
        name=name,
        description=(f"Izhikevich (2003) neuron, {description}. I_ext = 1 nA is the paper's I = 10; "
                     "ge/gi scaled like the LIF's (tau_in = 5 ms). Method euler, use dt <= 0.1 ms."),
        equations=IZHIKEVICH_EQUATIONS,
        threshold="v >= v_peak",
        reset="v = c\nu += d",
        parameters=dict(_INPUT, a=a / ms, b=b / ms, c=c * mV, d=d * mV / ms),
        initial_values=dict(REST_STATE),
        method="euler",
        positive_parameters=_POSITIVE,
        reference=_REFERENCE,
    )


IZHIKEVICH_MODELS = [izhikevich_model(f"izhikevich_{suffix}", description, a, b, c, d)
                     for suffix, description, a, b, c, d in _PRESETS]

(IZHIKEVICH_RS, IZHIKEVICH_IB, IZHIKEVICH_CH, IZHIKEVICH_FS,
 IZHIKEVICH_LTS, IZHIKEVICH_TC, IZHIKEVICH_RZ) = IZHIKEVICH_MODELS

# The plain name is the regular-spiking cell, the paper's typical excitatory cortical neuron.
IZHIKEVICH = izhikevich_model("izhikevich", _PRESETS[0][1], *_PRESETS[0][2:])
