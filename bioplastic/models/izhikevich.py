"""Izhikevich (2003) simple spiking neurons, in physical units, with conductance inputs.

The paper's model (E. M. Izhikevich 2003, IEEE Trans. Neural Netw. 14:1569) is

    v' = 0.04 v**2 + 5 v + 140 - u + I,    u' = a (b v - u),
    if v >= 30 mV:  v <- c,  u <- u + d

with v in mV and t in ms. Here the same equation is written with Brian2 units
(``a``, ``b`` in 1/ms, ``c`` in mV, ``d`` in mV/ms, ``u`` in mV/ms) and the input is
split into three terms::

    I_term = I_ext/C_in + ge*(E_exc - v)/tau_in + gi*(E_inh - v)/tau_in

* **Injected current** ``I_ext`` (amp) enters through ``C_in`` = 100 pF, so the paper's
  "I = 10" (10 mV/ms) is ``I_ext = 1 nA``; the paper's I = x is ``I_ext = x * 0.1 nA``.
  The rheobase of the regular-spiking preset is about I = 3.8, i.e. ~0.38 nA.
* **Synaptic conductances** ``ge``, ``gi`` are dimensionless and decay with ``tau_ge``,
  ``tau_gi`` exactly as in the LIF models (synapses do ``ge_post += w``; the network's
  lateral inhibition does ``gi_post += 17``). They act through the time constant
  ``tau_in`` = 5 ms: a conductance g drives ``g*(E - v)/tau_in``. This is chosen so that a
  *steady* excitatory conductance of ge ~ 0.3 brings the regular-spiking cell to fire
  (the paper's I ~ 4 at v ~ -60 mV), about what the Diehl & Cook LIF needs (ge ~ 0.25);
  so weights 0.1-1 and input rates matter as they do for the LIF. (Because v of the
  Izhikevich neuron relaxes within ~2 ms near rest, unlike the LIF's 100 ms, single
  inputs summate over a much shorter window.) A single ge pulse of weight 1 depolarises
  the resting RS cell by a few mV.

Integration: method "euler" as in the paper; use dt = 0.1 ms or smaller (the paper's
0.5-1 ms steps distort the upstroke; 0.05-0.1 ms gives stable spike patterns). The spike
is cut at ``v_peak`` = 30 mV, so v never shows the full upstroke beyond that.

Initial state as in the paper's code: v = -65 mV, u = b*v.

Presets (Fig. 2 of the paper; a [1/ms], b [1/ms], c [mV], d [mV/ms])::

    izhikevich_rs   regular spiking            0.02  0.2   -65  8
    izhikevich_ib   intrinsically bursting     0.02  0.2   -55  4
    izhikevich_ch   chattering                 0.02  0.2   -50  2
    izhikevich_fs   fast spiking               0.1   0.2   -65  2
    izhikevich_lts  low-threshold spiking      0.02  0.25  -65  2
    izhikevich_tc   thalamo-cortical           0.02  0.25  -65  0.05
    izhikevich_rz   resonator                  0.1   0.26  -65  2
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

# name suffix, description, a, b, c, d
_PRESETS = [
    ("rs", "regular spiking (RS): tonic firing with spike-frequency adaptation", 0.02, 0.2, -65, 8),
    ("ib", "intrinsically bursting (IB): an initial burst, then tonic single spikes", 0.02, 0.2, -55, 4),
    ("ch", "chattering (CH): repetitive bursts of closely spaced spikes", 0.02, 0.2, -50, 2),
    ("fs", "fast spiking (FS): high-frequency tonic firing with little adaptation", 0.1, 0.2, -65, 2),
    ("lts", "low-threshold spiking (LTS): high initial rate with adaptation; rebound spikes", 0.02, 0.25, -65, 2),
    ("tc", "thalamo-cortical (TC): tonic firing when depolarised from rest; "
           "rebound burst after release from hyperpolarisation", 0.02, 0.25, -65, 0.05),
    ("rz", "resonator (RZ): damped subthreshold oscillations, fires for resonant input", 0.1, 0.26, -65, 2),
]


def izhikevich_model(name: str, description: str, a: float, b: float, c: float, d: float) -> NeuronModel:
    """A NeuronModel for one (a, b, c, d) parameter set, given in the paper's units."""
    return NeuronModel(
        name=name,
        description=f"Izhikevich (2003) neuron, {description}.",
        equations=IZHIKEVICH_EQUATIONS,
        threshold="v >= v_peak",
        reset="v = c\nu += d",
        parameters=dict(_INPUT, a=a / ms, b=b / ms, c=c * mV, d=d * mV / ms),
        initial_values={"v": -65 * mV, "u": "b*v"},
        method="euler",
        positive_parameters=_POSITIVE,
        reference=_REFERENCE,
    )


IZHIKEVICH_MODELS = [izhikevich_model(f"izhikevich_{suffix}", description, a, b, c, d)
                     for suffix, description, a, b, c, d in _PRESETS]

(IZHIKEVICH_RS, IZHIKEVICH_IB, IZHIKEVICH_CH, IZHIKEVICH_FS,
 IZHIKEVICH_LTS, IZHIKEVICH_TC, IZHIKEVICH_RZ) = IZHIKEVICH_MODELS
