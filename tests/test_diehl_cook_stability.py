"""Which integration method keeps the Diehl & Cook excitatory neuron stable under inhibitory volleys.

In the Diehl & Cook network every inhibitory neuron inhibits every other excitatory neuron
with a conductance of 17 (in units of the leak). Without input delays many neurons fire in
the same 0.5 ms step, so an excitatory neuron receives a volley of k * 17 at once. The
membrane equation

    tau_m dv/dt = (E_rest - v) + ge (E_exc - v) + gi (E_inh - v)

relaxes towards a weighted mean of E_rest, E_exc and E_inh at rate (1 + ge + gi)/tau_m. One
forward-Euler step multiplies the distance to that mean by 1 - dt (1 + ge + gi)/tau_m: for
gi > tau_m/dt - 1 (199 at dt = 0.5 ms, tau_m = 100 ms, i.e. 12 simultaneous inhibitory
spikes) v jumps past E_inh, and for gi > 2 tau_m/dt - 1 (399, 24 spikes) it oscillates with a
growing amplitude until gi has decayed, crossing the threshold: pure inhibition makes the
neuron fire. Exponential Euler solves the step exactly for the conductances at its start, so v
moves towards the weighted mean and never passes it: it stays in [E_inh, E_exc] for any
conductance.
"""
import numpy as np
import pytest
from brian2 import Network, NumpyCodeObject, SpikeGeneratorGroup, SpikeMonitor, StateMonitor, Synapses, ms, mV

from bioplastic.models import get_neuron_model

DT = 0.5 * ms              # the network's default time step
W_INH_EXC = 17.0           # Diehl & Cook's inhibitory -> excitatory conductance


def volley_response(method, n_inhibitory, *, w=W_INH_EXC, target="gi", v0="E_rest"):
    """v [mV] of one excitatory neuron (adaptive_lif) after ``n_inhibitory`` spikes in one step, and its spikes.

    v is read after integration, before the threshold is checked, so an overshoot that makes
    the neuron spike is seen.
    """
    model = get_neuron_model("adaptive_lif").with_overrides(method=method)
    neuron = model.make_group(1, dt=DT, namespace={"learning": 0.0}, codeobj_class=NumpyCodeObject)
    neuron.v = model.parameters[v0]
    volley = SpikeGeneratorGroup(n_inhibitory, np.arange(n_inhibitory), np.full(n_inhibitory, 1.0) * ms, dt=DT)
    synapses = Synapses(volley, neuron, on_pre=f"{target}_post += {w!r}", dt=DT, codeobj_class=NumpyCodeObject)
    synapses.connect()
    v = StateMonitor(neuron, "v", record=0, when="before_thresholds", dt=DT)
    spikes = SpikeMonitor(neuron)
    Network(neuron, volley, synapses, v, spikes).run(40 * ms)
    return np.asarray(v.v[0] / mV), int(spikes.count[0])


def reversal_potentials():
    p = get_neuron_model("adaptive_lif").parameters
    return float(p["E_inh"] / mV), float(p["E_exc"] / mV)


@pytest.mark.parametrize("n_inhibitory", [1, 11, 12, 24, 50, 399])
@pytest.mark.parametrize("v0", ["E_rest", "v_thresh"])
def test_exponential_euler_keeps_v_between_the_reversal_potentials(n_inhibitory, v0):
    # 399: every other neuron of the 400-neuron network inhibiting at once, gi = 6783.
    e_inh, e_exc = reversal_potentials()
    v, spikes = volley_response("exponential_euler", n_inhibitory, v0=v0)
    assert v.min() >= e_inh - 1e-9 and v.max() <= e_exc
    assert spikes == 0


@pytest.mark.parametrize("n_excitatory", [1, 50, 1000])
def test_exponential_euler_does_not_overshoot_E_exc_either(n_excitatory):
    e_inh, e_exc = reversal_potentials()
    v, _ = volley_response("exponential_euler", n_excitatory, w=1.0, target="ge")
    assert v.min() >= e_inh and v.max() <= e_exc + 1e-9


def test_forward_euler_is_safe_only_below_tau_m_over_dt():
    # Documentation of why the lead must not keep forward Euler for a synchronous network:
    e_inh, _ = reversal_potentials()
    tau_m, dt = 100.0, float(DT / ms)
    assert 11 * W_INH_EXC < tau_m / dt - 1 < 12 * W_INH_EXC
    v, spikes = volley_response("euler", 11)                   # gi = 187: stays above E_inh
    assert v.min() > e_inh and spikes == 0
    v, spikes = volley_response("euler", 12)                   # gi = 204: jumps past E_inh
    assert v.min() < e_inh and spikes == 0


@pytest.mark.parametrize("n_inhibitory", [30, 50, 399])
def test_forward_euler_turns_a_large_inhibitory_volley_into_a_spike(n_inhibitory):
    # gi > 2 tau_m/dt - 1 = 399: v oscillates around E_inh with a growing amplitude, far
    # below E_inh and then above threshold (-1252 mV ... spike for the 399-neuron volley).
    e_inh, _ = reversal_potentials()
    v, spikes = volley_response("euler", n_inhibitory)
    assert v.min() < e_inh - 50
    assert spikes == 1
