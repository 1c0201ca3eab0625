"""'Use it or lose it': w(t) = w(t_s) * exp(-k_p * ((t - t_s)/tau_prune)**2), t_s = last presynaptic spike."""
import numpy as np
import pytest
import netspec
from brian2 import ms, second, NeuronGroup, Synapses, StateMonitor, Network
from test_devices import deterministic_bars
from test_network import W, initial_weights

from bioplastic.devices import DeviceConfig, cython_available
from bioplastic.errors import ModelError
from bioplastic.models import get_plasticity_rule
from bioplastic.studies.common import train_with_snapshots

DT = 0.5 * ms

# A NaN in generated code shows as a RuntimeWarning (numpy target): here it fails the test.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def run_pruned_synapses(rule, pre_spike_every=None, duration=20 * second, record_at=(1, 5, 7.5, 12, 19)):
    """Two synapses onto one neuron: pre 0 silent, pre 1 spiking every `pre_spike_every` from t = 0.

    The spike times are counted up, not found by ``t % period``: the numpy target evaluates
    both sides of ``and``, so a silent neuron's ``t % 0`` made NaN (RuntimeWarning).
    """
    pre = NeuronGroup(2, "period : second\nnext_spike : second\n" + rule.pre_equations,
                      namespace=dict(rule.parameters), dt=DT, threshold="t > next_spike - dt/2",
                      reset=f"next_spike += period\n{rule.pre_reset}")
    pre.period = float(pre_spike_every or 0) * second
    pre.next_spike = [np.inf, 0] * second if pre_spike_every else np.inf * second
    post = NeuronGroup(1, "ge : 1\n" + rule.post_equations.replace("ltp_sign = 1 : 1", "ltp_sign : 1"),
                       threshold="False", namespace=dict(rule.parameters), dt=DT)   # never fires
    post.ltp_sign = 1
    rule.attach_traces(pre, "pre", DT)
    syn = Synapses(pre, post, rule.synapse_model, on_pre=f"{rule.before_transmission}\nge_post += w\n{rule.on_pre}",
                   on_post=rule.on_post, namespace={**rule.parameters, "learning": 1.0}, dt=DT)
    syn.connect()
    syn.w = 0.5
    mon = StateMonitor(syn, rule.weight_variable, record=True, dt=DT)
    Network(pre, post, syn, mon).run(duration)
    times = np.asarray(mon.t / second)
    values = np.asarray(getattr(mon, rule.weight_variable))
    idx = [int(np.argmin(np.abs(times - t))) for t in record_at]
    return times[idx], values[:, idx]


def test_silent_presynaptic_neuron_decays_by_the_formula():
    rule = get_plasticity_rule("stdp").with_overrides(pruning={"k_p": 1, "tau_prune": "7500 ms"})
    times, w = run_pruned_synapses(rule)
    expected = 0.5 * np.exp(-((times - 0.0) / 7.5) ** 2)     # t_s = 0: no presynaptic spike yet
    np.testing.assert_allclose(w[0], expected, rtol=1e-6)
    assert w[0][-1] < 0.5 * np.exp(-6)   # 19 s later the weight is essentially gone


def test_regularly_active_synapse_is_not_pruned():
    """Each presynaptic spike restarts the clock: the loss per 0.5 s gap is only exp(-(0.5/7.5)**2).

    Taken literally, w(t_s) carries the decay accumulated up to the spike, so without any
    plasticity (A = 0 here) the weight of an active synapse still shrinks by that factor per
    gap; in training STDP replaces it. The silent synapse is pruned meanwhile.
    """
    rule = get_plasticity_rule("stdp").with_overrides({"A_pre": 0.0, "A_post": 0.0},
                                                      pruning={"k_p": 1, "tau_prune": "7500 ms"})
    record_at = (1.25, 5.25, 7.75, 12.25, 19.25)
    times, w = run_pruned_synapses(rule, pre_spike_every=0.5, record_at=record_at)
    def gap(d):
        return np.exp(-(d / 7.5) ** 2)
    n_spikes = np.floor(times / 0.5)                 # spikes at 0.5, 1.0, ... (t = 0 changes nothing)
    expected = 0.5 * gap(0.5) ** n_spikes * gap(times - n_spikes * 0.5)
    np.testing.assert_allclose(w[1], expected, rtol=1e-6)
    assert w[1][-1] > 0.8 * 0.5 and w[0][-1] < rule.parameters["prune_below"]


def test_k_p_zero_leaves_weights_untouched():
    rule = get_plasticity_rule("stdp").with_overrides({"A_pre": 0.0, "A_post": 0.0},
                                                      pruning={"k_p": 0, "tau_prune": "7500 ms"})
    _, w = run_pruned_synapses(rule, pre_spike_every=0.5)
    np.testing.assert_array_equal(w, 0.5)


def test_bad_pruning_parameters():
    with pytest.raises(ModelError, match="tau_prune must be > 0"):
        get_plasticity_rule("stdp").with_overrides(pruning={"tau_prune": "0 ms"})
    with pytest.raises(ModelError, match="Did you mean 'tau_prune'"):
        get_plasticity_rule("stdp").with_overrides(pruning={"tau_prun": "10 ms"})


@pytest.mark.standalone
@pytest.mark.skipif(not cython_available(), reason="needs Cython and a C compiler")
def test_pruning_learns_the_same_weights_on_runtime_cython_numpy_and_cpp_standalone(tmp_path):
    """The supervised network with pruning, trained on each device/target.

    On runtime/Cython the presynaptic pathway once failed to compile and silently did nothing
    (see PlasticityRule.before_transmission): no transmission and every weight pruned. The input
    is deterministic (bar pixels spike in every step, the others never), so the runs must agree
    to rounding: measured, Cython and cpp_standalone bit for bit, numpy within 5e-15 relative
    (its vectorised arithmetic rounds differently). rtol 1e-12 allows for other compilers'
    -ffast-math; a spike that came out differently would move weights by A_post = 1e-4 or more.
    """
    spec = netspec.one_layer(**{"input.max_rate": "2000 Hz",            # 1/dt: p_spike is 0 or 1
                                "projections.input_to_exc.plasticity.pruning": {"k_p": 1, "tau_prune": "1 s"}})
    pool, labels = deterministic_bars(12)
    rng = np.random.default_rng(0)
    orders = np.stack([np.concatenate([rng.permutation(12), rng.permutation(12)]) for _ in range(2)])
    weights = {}
    for device in (DeviceConfig("cpp_standalone", build_dir=str(tmp_path / "cpp")), DeviceConfig("runtime"),
                   DeviceConfig("runtime", target="numpy")):
        result = train_with_snapshots(spec, device, pool, orders, labels[orders], 0, 100 * ms, 50 * ms,
                                      initial_weights(spec, 2))
        weights[device.name, device.target] = result.weights[W][-1]     # [copy, input, exc]
    reference = weights.pop(("cpp_standalone", "cython"))
    prune_below = spec.projections[W].rule.pruning["prune_below"]
    pruned = reference < prune_below
    assert 0.5 < pruned.mean() < 0.95          # never-shown pixels pruned, recently shown ones kept (3.6 s run)
    for (name, target), w in weights.items():
        np.testing.assert_array_equal(w < prune_below, pruned, err_msg=f"{name}/{target}: other synapses pruned")
        np.testing.assert_allclose(w, reference, rtol=1e-12, atol=1e-15, err_msg=f"{name}/{target}")
