"""Specification of the plasticity rules: weight change for one known spike pair."""
import numpy as np
import pytest
import brian2
from brian2 import ms, NeuronGroup, Synapses, Network

from bioplastic.errors import ModelError
from bioplastic.models import get_plasticity_rule

DT = 0.1 * ms
W0 = 0.5


def pair_weight_change(rule, t_pre, t_post, *, label=0, segment=0):
    """Weight change of one synapse for one presynaptic and one postsynaptic spike."""
    pre = NeuronGroup(1, "t_spike : second\n" + rule.pre_equations,
                      threshold="abs(t - t_spike) < dt/2", reset=rule.pre_reset,
                      namespace=dict(rule.parameters), dt=DT, method="exact")
    post = NeuronGroup(1, "t_spike : second\nlabel_now : 1\nsegment : integer\n" + rule.post_equations,
                       threshold="abs(t - t_spike) < dt/2", reset=rule.post_reset,
                       namespace=dict(rule.parameters), dt=DT, method="exact")
    rule.attach_traces(pre, "pre", DT)
    rule.attach_traces(post, "post", DT)
    if rule.pre_reset:   # as in the network: a pre spike counts before synaptic propagation
        pre.resetter["spike"].when = "before_synapses"
    pre.t_spike, post.t_spike = t_pre, t_post
    post.label_now, post.segment = label, segment
    syn = Synapses(pre, post, rule.synapse_model, on_pre=rule.on_pre, on_post=rule.on_post,
                   namespace={**rule.parameters, "learning": 1.0}, dt=DT, method="exact")
    syn.connect()
    syn.w = W0
    Network(pre, post, syn).run(max(t_pre, t_post) + 5 * DT)
    return float(syn.w[0]) - W0


@pytest.mark.parametrize("trace_location", ["neuron", "synapse"])
@pytest.mark.parametrize("delta_t", [0 * ms, 2 * ms, 10 * ms, 35 * ms])
def test_stdp_pre_before_post_potentiates_by_formula(trace_location, delta_t):
    rule = get_plasticity_rule("stdp").with_overrides(trace_location=trace_location)
    p = rule.parameters
    expected = p["A_pre"] * np.exp(-float(delta_t / p["tau_pre"]))
    assert pair_weight_change(rule, 10 * ms, 10 * ms + delta_t) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("trace_location", ["neuron", "synapse"])
@pytest.mark.parametrize("delta_t", [-2 * ms, -10 * ms, -35 * ms])
def test_stdp_post_before_pre_depresses_by_formula(trace_location, delta_t):
    rule = get_plasticity_rule("stdp").with_overrides({"A_post": -0.004}, trace_location=trace_location)
    p = rule.parameters
    expected = p["A_post"] * np.exp(float(delta_t / p["tau_post"]))
    assert expected < 0
    assert pair_weight_change(rule, 10 * ms - delta_t, 10 * ms) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("delta_t", [3 * ms, -3 * ms])
def test_all_ltd_depresses_for_both_spike_orders(delta_t):
    rule = get_plasticity_rule("all_ltd").with_overrides({"A_post": -0.004})
    p = rule.parameters
    if delta_t > 0:   # the pre-before-post branch of STDP, with its sign flipped
        expected = -p["A_pre"] * np.exp(-float(delta_t / p["tau_pre"]))
        change = pair_weight_change(rule, 10 * ms, 10 * ms + delta_t)
    else:
        expected = p["A_post"] * np.exp(float(delta_t / p["tau_post"]))
        change = pair_weight_change(rule, 10 * ms - delta_t, 10 * ms)
    assert change < 0
    assert change == pytest.approx(expected, rel=1e-9)


def test_supervised_rule_uses_stdp_only_in_the_label_segment():
    rule = get_plasticity_rule("supervised")
    stdp_change = pair_weight_change(get_plasticity_rule("stdp"), 10 * ms, 15 * ms)
    in_segment = pair_weight_change(rule, 10 * ms, 15 * ms, label=2, segment=2)
    other_segment = pair_weight_change(rule, 10 * ms, 15 * ms, label=2, segment=1)
    no_label = pair_weight_change(rule, 10 * ms, 15 * ms, label=-1, segment=0)
    assert in_segment == pytest.approx(stdp_change, rel=1e-12) and in_segment > 0
    assert other_segment == pytest.approx(-stdp_change, rel=1e-12)
    assert no_label == pytest.approx(-stdp_change, rel=1e-12)


def test_weights_stay_within_bounds():
    rule = get_plasticity_rule("stdp").with_overrides({"A_pre": 5.0, "w_max": 0.6})
    assert W0 + pair_weight_change(rule, 10 * ms, 11 * ms) == pytest.approx(0.6)
    rule = get_plasticity_rule("all_ltd").with_overrides({"A_pre": 5.0})
    assert W0 + pair_weight_change(rule, 10 * ms, 11 * ms) == pytest.approx(0.0)


@pytest.mark.parametrize("overrides, message", [
    ({"tau_pre": "-1 ms"}, "tau_pre must be > 0"),
    ({"tau_pre": "1 mV"}, "wrong unit"),
    ({"A_post": 0.1}, "A_post <= 0"),
    ({"A_pree": 0.1}, "Did you mean 'A_pre'"),
])
def test_bad_rule_parameters_are_explained(overrides, message):
    with pytest.raises(ModelError, match=message):
        get_plasticity_rule("stdp").with_overrides(overrides)


def test_unknown_rule_suggests_the_closest():
    with pytest.raises(ModelError, match="Did you mean 'stdp'"):
        get_plasticity_rule("stpd")
