"""Specification of the plasticity rules: weight change for one known spike pair."""
import numpy as np
import pytest
from brian2 import ms, NeuronGroup, Synapses, Network, TimedArray

from bioplastic.errors import ModelError
from bioplastic.models import get_plasticity_rule

DT = 0.1 * ms
W0 = 0.5


def weight_change(rule, pre_times, post_times, *, label=0, segment=0, learning=1.0, w0=W0, bounds=None):
    """Weight change of one synapse for given presynaptic and postsynaptic spike times.

    ``bounds``: (plastic_w, w_lo, w_hi) for a rule with per-synapse bounds.
    """
    end = max([*pre_times, *post_times]) + 5 * DT
    n_steps = int(round(float(end / DT))) + 1

    def spikes_at(times):
        train = np.zeros(n_steps)
        train[[int(round(float(t / DT))) for t in times]] = 1
        return TimedArray(train, dt=DT)

    pre = NeuronGroup(1, rule.pre_equations, threshold="pre_spikes(t) > 0.5", reset=rule.pre_reset,
                      namespace={**rule.parameters, "pre_spikes": spikes_at(pre_times)}, dt=DT, method="exact")
    post = NeuronGroup(1, "label_now : 1\nsegment : integer\n" + rule.post_equations,
                       threshold="post_spikes(t) > 0.5", reset=rule.post_reset,
                       namespace={**rule.parameters, "post_spikes": spikes_at(post_times)}, dt=DT, method="exact")
    rule.attach_traces(pre, "pre", DT)
    rule.attach_traces(post, "post", DT)
    if rule.pre_reset:   # as in the network: a pre spike counts before synaptic propagation
        pre.resetter["spike"].when = "before_synapses"
    post.label_now, post.segment = label, segment
    syn = Synapses(pre, post, rule.synapse_model, on_pre=rule.on_pre, on_post=rule.on_post,
                   namespace={**rule.parameters, "learning": learning}, dt=DT, method="exact")
    syn.connect()
    syn.w = w0
    if rule.per_synapse_bounds:
        syn.plastic_w, syn.w_lo, syn.w_hi = bounds or (1.0, 0.0, float(rule.parameters["w_max"]))
    Network(pre, post, syn).run(end)
    return float(syn.w[0]) - w0


def pair_weight_change(rule, t_pre, t_post, **kwargs):
    """Weight change of one synapse for one presynaptic and one postsynaptic spike."""
    return weight_change(rule, [t_pre], [t_post], **kwargs)


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


# --- generated code of the pair rules, pinned (taken before traces became data) ------------

# The decay is written out, not read from w_effective, so that Brian2's Cython target compiles it
# (see PlasticityRule.before_transmission); w_decayed keeps the arithmetic of the subexpression.
PRUNED_TRANSMISSION = "w_decayed = w * exp(-k_p * ((t - t_s)/tau_prune)**2)\nw = w_decayed\nt_s = t"

PINNED = {
    ("stdp", "neuron", False, False): dict(
        pre_equations="stdp_trace : 1", pre_reset="stdp_trace += 1",
        post_equations="stdp_trace : 1\nltp_sign = 1 : 1", post_reset="stdp_trace += 1",
        synapse_model="w : 1", before_transmission="", weight_variable="w",
        on_pre="w = clip(w + learning*A_post*stdp_trace_post, 0, w_max)",
        on_post="w = clip(w + learning*ltp_sign_post*A_pre*stdp_trace_pre, 0, w_max)"),
    ("supervised", "synapse", True, True): dict(
        pre_equations="", pre_reset="", post_equations="ltp_sign = 2*int(label_now == segment) - 1 : 1",
        post_reset="",
        synapse_model=("w : 1\nplastic_w : 1\nw_lo : 1\nw_hi : 1\ndapre/dt = -apre/tau_pre : 1 (event-driven)\n"
                       "dapost/dt = -apost/tau_post : 1 (event-driven)\nt_s : second\n"
                       "w_effective = w * exp(-k_p * ((t - t_s)/tau_prune)**2) : 1"),
        before_transmission=PRUNED_TRANSMISSION, weight_variable="w_effective",
        on_pre="w = clip(w + plastic_w*learning*A_post*apost, w_lo, w_hi)\napre += 1",
        on_post="w = clip(w + plastic_w*learning*ltp_sign_post*A_pre*apre, w_lo, w_hi)\napost += 1"),
    ("all_ltd", "neuron", True, True): dict(
        pre_equations="stdp_trace : 1", pre_reset="stdp_trace += 1",
        post_equations="stdp_trace : 1\nltp_sign = -1 : 1", post_reset="stdp_trace += 1",
        synapse_model=("w : 1\nplastic_w : 1\nw_lo : 1\nw_hi : 1\nt_s : second\n"
                       "w_effective = w * exp(-k_p * ((t - t_s)/tau_prune)**2) : 1"),
        before_transmission=PRUNED_TRANSMISSION, weight_variable="w_effective",
        on_pre="w = clip(w + plastic_w*learning*A_post*stdp_trace_post, w_lo, w_hi)",
        on_post="w = clip(w + plastic_w*learning*ltp_sign_post*A_pre*stdp_trace_pre, w_lo, w_hi)"),
    ("stdp", "synapse", False, False): dict(
        pre_equations="", pre_reset="", post_equations="ltp_sign = 1 : 1", post_reset="",
        synapse_model="w : 1\ndapre/dt = -apre/tau_pre : 1 (event-driven)\n"
                      "dapost/dt = -apost/tau_post : 1 (event-driven)",
        before_transmission="", weight_variable="w",
        on_pre="w = clip(w + learning*A_post*apost, 0, w_max)\napre += 1",
        on_post="w = clip(w + learning*ltp_sign_post*A_pre*apre, 0, w_max)\napost += 1"),
}


@pytest.mark.parametrize("name, location, pruning, bounds", list(PINNED))
def test_generated_code_of_the_pair_rules_is_unchanged(name, location, pruning, bounds):
    rule = get_plasticity_rule(name).with_overrides(trace_location=location, pruning={"k_p": 1.0} if pruning else None,
                                                    per_synapse_bounds=bounds)
    pinned = PINNED[name, location, pruning, bounds]
    assert {key: getattr(rule, key) for key in pinned} == pinned
    assert rule.trace_decay("pre", 0.5 * ms) == 0.9753099120283326   # exp(-0.5/20)


def test_pair_rules_keep_one_stdp_trace_per_side():
    rule = get_plasticity_rule("stdp")
    assert rule.traces("pre") == {"stdp_trace": 20 * ms} and rule.traces("post") == {"stdp_trace": 20 * ms}
    assert rule.trace_reset_code("pre") == rule.trace_reset_code("post") == "stdp_trace = 0"
    synaptic = rule.with_overrides(trace_location="synapse")
    assert synaptic.traces("pre") == {} and synaptic.trace_reset_code("post") == ""


# --- Diehl & Cook (2015) ---------------------------------------------------------------------

def diehl_cook_reference(pre_times, post_times, p, w0=W0):
    """The rule event by event in numpy: nearest-spike traces, post traces read before the spike.

    At one time step a presynaptic spike is processed before a postsynaptic one, and the
    presynaptic trace already counts the spike of its own step.
    """
    pre_s, post_s = [float(t / ms) for t in pre_times], [float(t / ms) for t in post_times]
    tau_pre, tau_post, tau_post2 = (float(p[k] / ms) for k in ("tau_pre", "tau_post", "tau_post2"))
    events = sorted([(t, 0) for t in pre_s] + [(t, 1) for t in post_s])
    w = w0
    for t, is_post in events:
        if not is_post:
            last_post = [s for s in post_s if s < t]
            post1 = np.exp(-(t - last_post[-1]) / tau_post) if last_post else 0.0
            w = np.clip(w - p["nu_pre"] * post1, 0, p["w_max"])
        else:
            last_pre, last_post = [s for s in pre_s if s <= t], [s for s in post_s if s < t]
            pre = np.exp(-(t - last_pre[-1]) / tau_pre) if last_pre else 0.0
            post2_before = np.exp(-(t - last_post[-1]) / tau_post2) if last_post else 0.0
            w = np.clip(w + p["nu_post"] * pre * post2_before, 0, p["w_max"])
    return w - w0


def test_diehl_cook_rule_code_reads_like_the_paper():
    rule = get_plasticity_rule("diehl_cook")
    assert rule.on_pre == "w = clip(w - learning*nu_pre*post1_post, 0, w_max)"
    assert rule.on_post == "w = clip(w + learning*nu_post*pre_pre*post2_post, 0, w_max)"
    assert (rule.pre_reset, rule.post_reset) == ("pre = 1", "post1 = 1\npost2 = 1")   # set, not incremented
    assert rule.traces("pre") == {"pre": 20 * ms}
    assert rule.traces("post") == {"post1": 20 * ms, "post2": 40 * ms}
    assert rule.trace_reset_code("post") == "post1 = 0\npost2 = 0"
    assert {k: rule.parameters[k] for k in ("nu_pre", "nu_post", "w_max")} == dict(nu_pre=0.0001, nu_post=0.01,
                                                                                   w_max=1.0)


def test_diehl_cook_single_pair_does_not_potentiate_without_an_earlier_post_spike():
    # post2_before is 0 at the first postsynaptic spike, so pre -> post alone changes nothing.
    assert pair_weight_change(get_plasticity_rule("diehl_cook"), 10 * ms, 15 * ms) == 0.0


@pytest.mark.parametrize("trace_location", ["neuron", "synapse"])
@pytest.mark.parametrize("pre_times, post_times", [
    ([13 * ms], [10 * ms, 18 * ms]),                     # post-pre-post triplet
    ([10 * ms, 12 * ms], [5 * ms, 15 * ms]),             # two pre spikes: only the nearest counts
    ([10 * ms], [10 * ms, 20 * ms, 21 * ms]),            # simultaneous pre and post, a post burst
    ([4 * ms, 9 * ms, 30 * ms], [2 * ms, 9 * ms, 31 * ms]),
])
def test_diehl_cook_weight_change_follows_the_formula(trace_location, pre_times, post_times):
    rule = get_plasticity_rule("diehl_cook").with_overrides(trace_location=trace_location)
    expected = diehl_cook_reference(pre_times, post_times, rule.parameters)
    assert expected != 0
    assert weight_change(rule, pre_times, post_times) == pytest.approx(expected, rel=1e-9)


def test_diehl_cook_triplet_by_hand():
    # post at 10 ms, pre at 13 ms, post at 18 ms:
    #   at the pre spike:  -nu_pre * exp(-3/20)
    #   at the 2nd post:   +nu_post * exp(-5/20) * exp(-8/40)   (post2 before the 2nd post spike)
    p = get_plasticity_rule("diehl_cook").parameters
    expected = -p["nu_pre"] * np.exp(-3 / 20) + p["nu_post"] * np.exp(-5 / 20) * np.exp(-8 / 40)
    change = weight_change(get_plasticity_rule("diehl_cook"), [13 * ms], [10 * ms, 18 * ms])
    assert change == pytest.approx(expected, rel=1e-9)


def test_diehl_cook_traces_are_nearest_spike_not_cumulative():
    # Two pre spikes 1 ms apart before a post spike: a cumulative trace would be
    # exp(-2/20) + exp(-3/20); the nearest-spike trace is exp(-2/20) only.
    p = get_plasticity_rule("diehl_cook").parameters
    potentiation = weight_change(get_plasticity_rule("diehl_cook"), [11 * ms, 12 * ms], [5 * ms, 14 * ms])
    depression = -p["nu_pre"] * (np.exp(-6 / 20) + np.exp(-7 / 20))
    assert potentiation - depression == pytest.approx(p["nu_post"] * np.exp(-2 / 20) * np.exp(-9 / 40), rel=1e-9)


def test_diehl_cook_weights_are_clipped_to_zero_and_w_max():
    rule = get_plasticity_rule("diehl_cook").with_overrides({"nu_post": 5.0, "w_max": 0.6})
    assert W0 + weight_change(rule, [13 * ms], [10 * ms, 18 * ms]) == pytest.approx(0.6)
    rule = get_plasticity_rule("diehl_cook").with_overrides({"nu_pre": 5.0})
    assert W0 + weight_change(rule, [13 * ms], [10 * ms]) == pytest.approx(0.0)


def test_diehl_cook_learning_zero_switches_it_off():
    rule = get_plasticity_rule("diehl_cook")
    assert weight_change(rule, [13 * ms], [10 * ms, 18 * ms], learning=0.0) == 0.0


def test_diehl_cook_with_per_synapse_bounds_freezes_and_clips():
    rule = get_plasticity_rule("diehl_cook").with_overrides({"nu_post": 5.0}, per_synapse_bounds=True)
    assert weight_change(rule, [13 * ms], [10 * ms, 18 * ms], bounds=(0.0, 0.0, 1.0)) == 0.0   # frozen
    assert W0 + weight_change(rule, [13 * ms], [10 * ms, 18 * ms], bounds=(1.0, 0.4, 0.7)) == pytest.approx(0.7)


def test_diehl_cook_learning_rates_are_magnitudes():
    with pytest.raises(ModelError, match="nu_pre must be >= 0"):
        get_plasticity_rule("diehl_cook").with_overrides({"nu_pre": -0.1})
    with pytest.raises(ModelError, match="tau_post2 must be > 0"):
        get_plasticity_rule("diehl_cook").with_overrides({"tau_post2": "0 ms"})


def test_a_side_with_several_traces_asks_which_decay():
    rule = get_plasticity_rule("diehl_cook")
    assert rule.trace_decay("post", DT, "post2") == pytest.approx(np.exp(-0.1 / 40), rel=1e-12)
    with pytest.raises(ModelError, match="post1, post2"):
        rule.trace_decay("post", DT)
