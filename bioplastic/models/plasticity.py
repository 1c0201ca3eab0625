"""Synaptic plasticity rules as data: trace equations, on_pre/on_post code and parameters.

Pair-based STDP with all-to-all spike pairing (Delta t = t_post - t_pre):

    Delta w = A_pre  * exp(-Delta t / tau_pre)    for Delta t > 0   (pre before post)
    Delta w = A_post * exp( Delta t / tau_post)   for Delta t < 0   (post before pre)

with A_pre > 0 (potentiation) and A_post < 0 (depression). **All-LTD** flips the sign
of the first branch, so both spike orders depress (anti-Hebbian). The **supervised** rule
applies STDP to postsynaptic neurons in the segment of the current label and All-LTD to
all others; the sign is ``ltp_sign`` of the postsynaptic neuron.

Traces are kept where they are cheapest. For all-to-all pairing the presynaptic trace
depends only on the presynaptic neuron (and likewise for the postsynaptic one), so
``trace_location="neuron"`` keeps one trace per neuron instead of two per synapse. That is
exact, not an approximation; ``trace_location="synapse"`` is the textbook per-synapse
event-driven formulation (Brian2's STDP example), kept as the reference that tests compare
against.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from brian2 import ms

from bioplastic.errors import ModelError
from bioplastic.models.base import resolve_parameters

#: ``ltp_sign`` of the postsynaptic neuron, per rule. ``label_now`` (the label of the image
#: being presented, -1 when none) and ``segment`` (the class a neuron belongs to) are
#: supplied by the network.
LTP_SIGN = {
    "stdp": "1",
    "all_ltd": "-1",
    "supervised": "2*int(label_now == segment) - 1",
}


@dataclass(frozen=True)
class PlasticityRule:
    name: str
    description: str
    ltp_sign: str
    parameters: dict
    trace_location: str = "neuron"
    reference: str = ""
    #: "Use it or lose it": {"k_p": 0 or 1, "tau_prune": time, "prune_below": weight} or None.
    pruning: dict | None = None
    #: Continual-learning protections: a per-synapse freeze mask ``plastic_w`` (0 = frozen) and
    #: per-weight bounds ``[w_lo, w_hi]`` replace the global [0, w_max].
    per_synapse_bounds: bool = False

    # --- code generation ---------------------------------------------------------------
    @property
    def pre_equations(self) -> str:
        # A plain variable: it decays exactly, once per step (see ``trace_decay``), whatever
        # integration method the neuron model itself uses.
        return "stdp_trace : 1" if self.trace_location == "neuron" else ""

    @property
    def pre_reset(self) -> str:
        return "stdp_trace += 1" if self.trace_location == "neuron" else ""

    @property
    def post_equations(self) -> str:
        trace = "stdp_trace : 1\n" if self.trace_location == "neuron" else ""
        return trace + f"ltp_sign = {self.ltp_sign} : 1"

    @property
    def slot_post_equations(self) -> str:
        """``post_equations`` with ``ltp_sign`` a variable, set by ``ltp_sign_code`` whenever the
        schedule changes (it depends only on the label and the segment). GeNN's synapse code
        (brian2genn) cannot read subexpressions."""
        return self.post_equations.replace(f"ltp_sign = {self.ltp_sign} : 1", "ltp_sign : 1")

    @property
    def ltp_sign_code(self) -> str:
        return f"ltp_sign = {self.ltp_sign}"

    @property
    def post_reset(self) -> str:
        return "stdp_trace += 1" if self.trace_location == "neuron" else ""

    @property
    def synapse_model(self) -> str:
        model = "w : 1"
        if self.per_synapse_bounds:
            model += "\nplastic_w : 1\nw_lo : 1\nw_hi : 1"
        if self.trace_location == "synapse":
            model += ("\ndapre/dt = -apre/tau_pre : 1 (event-driven)"
                      "\ndapost/dt = -apost/tau_post : 1 (event-driven)")
        if self.pruning:
            # w holds w(t_s), the weight at the last presynaptic spike t_s; the weight in
            # effect decays from there: w(t) = w(t_s) * exp(-k_p * ((t - t_s)/tau_prune)**2).
            model += ("\nt_s : second"
                      "\nw_effective = w * exp(-k_p * ((t - t_s)/tau_prune)**2) : 1")
        return model

    @property
    def weight_variable(self) -> str:
        """The variable that holds the weight in effect now (what snapshots record)."""
        return "w_effective" if self.pruning else "w"

    @property
    def before_transmission(self) -> str:
        """Code run at a presynaptic spike before the weight is transmitted.

        With pruning, the decay since the previous presynaptic spike is applied here, once per
        event, instead of in every time step for every synapse.
        """
        if not self.pruning:
            return ""
        return "w = w_effective\nt_s = t"

    def _update(self, change: str) -> str:
        if self.per_synapse_bounds:
            return f"w = clip(w + plastic_w*learning*{change}, w_lo, w_hi)"
        return f"w = clip(w + learning*{change}, 0, w_max)"

    @property
    def on_pre(self) -> str:
        """Plasticity at a presynaptic spike: depression by the postsynaptic trace."""
        if self.trace_location == "neuron":
            return self._update("A_post*stdp_trace_post")
        return self._update("A_post*apost") + "\napre += 1"

    @property
    def on_post(self) -> str:
        """Plasticity at a postsynaptic spike: A_pre times the presynaptic trace, signed."""
        if self.trace_location == "neuron":
            return self._update("ltp_sign_post*A_pre*stdp_trace_pre")
        return self._update("ltp_sign_post*A_pre*apre") + "\napost += 1"

    def trace_decay(self, side: str, dt) -> float:
        """Factor by which a per-neuron trace decays in one step: exp(-dt/tau_pre or tau_post).

        Exact for d(trace)/dt = -trace/tau, unlike integrating the trace with the neuron's
        own (often Euler) method, whose error would accumulate over every step.
        """
        import numpy as np
        return float(np.exp(-float(dt / self.parameters["tau_pre" if side == "pre" else "tau_post"])))

    def attach_traces(self, group, side: str, dt) -> None:
        """Add the once-per-step exact trace decay to a group built with pre/post_equations."""
        if self.trace_location == "neuron":
            group.run_regularly(f"stdp_trace *= {self.trace_decay(side, dt)!r}", when="start",
                                name=f"{group.name}_trace_decay")

    def with_overrides(self, parameters: dict | None = None, trace_location: str | None = None,
                       pruning: dict | None = None, per_synapse_bounds: bool | None = None) -> "PlasticityRule":
        params = resolve_parameters(self.parameters, parameters, model=self.name)
        if pruning:
            pruning = resolve_parameters(PRUNING_DEFAULTS, pruning, model=f"{self.name}.pruning")
            params = {**params, **pruning}
        rule = dataclasses.replace(self, parameters=params, trace_location=trace_location or self.trace_location,
                                   pruning=pruning or self.pruning,
                                   per_synapse_bounds=self.per_synapse_bounds if per_synapse_bounds is None
                                   else bool(per_synapse_bounds))
        return rule.validate()

    def validate(self) -> "PlasticityRule":
        if self.trace_location not in ("neuron", "synapse"):
            raise ModelError(f"plasticity rule {self.name!r}: trace_location must be 'neuron' or "
                             f"'synapse', got {self.trace_location!r}.")
        for key in ("tau_pre", "tau_post", "w_max"):
            if float(self.parameters[key]) <= 0:
                raise ModelError(f"plasticity rule {self.name!r}: {key} must be > 0, got {self.parameters[key]!r}.")
        if self.pruning:
            if float(self.pruning["tau_prune"]) <= 0:
                raise ModelError(f"pruning: tau_prune must be > 0, got {self.pruning['tau_prune']!r}.")
            if float(self.pruning["k_p"]) < 0:
                raise ModelError(f"pruning: k_p must be >= 0 (0 switches pruning off), got {self.pruning['k_p']}.")
        if float(self.parameters["A_pre"]) < 0 or float(self.parameters["A_post"]) > 0:
            raise ModelError(f"plasticity rule {self.name!r}: A_pre must be >= 0 (potentiation "
                             "amplitude) and A_post <= 0 (depression amplitude); the rule flips signs "
                             "itself (All-LTD), so give magnitudes with these signs.")
        return self

    def describe(self) -> str:
        params = "\n".join(f"    {k:<10} = {v!r}" for k, v in sorted(self.parameters.items()))
        return (f"{self.name}: {self.description}\n  traces: per {self.trace_location}\n"
                f"  ltp_sign (postsynaptic): {self.ltp_sign}\n  on_pre:  {self.on_pre}\n"
                f"  on_post: {self.on_post}\n  parameters:\n{params}\n")


#: "Use it or lose it" (reference optimum tau_prune = 7500 ms, about the time one image
#: takes through the network times the number of classes). Weights whose effective value
#: falls below prune_below are reported as pruned.
PRUNING_DEFAULTS = dict(k_p=1.0, tau_prune=7500 * ms, prune_below=1e-3)

_DEFAULTS = dict(A_pre=0.01, A_post=-0.0001, tau_pre=20 * ms, tau_post=20 * ms, w_max=1.0)
# Learning rates of Diehl & Cook (2015): nu_post = 0.01 (potentiation at a post spike),
# nu_pre = 0.0001 (depression at a pre spike), 20 ms traces, w_max = 1.

STDP = PlasticityRule("stdp", "Pair-based additive STDP, all-to-all pairing.", LTP_SIGN["stdp"], dict(_DEFAULTS),
                      reference="Bi & Poo (1998); Song, Miller & Abbott (2000)")
ALL_LTD = PlasticityRule("all_ltd", "All-LTD: anti-Hebbian, both spike orders depress.", LTP_SIGN["all_ltd"],
                         dict(_DEFAULTS))
SUPERVISED = PlasticityRule(
    "supervised",
    "STDP for neurons in the current label's segment, All-LTD for every other neuron.",
    LTP_SIGN["supervised"], dict(_DEFAULTS))

PLASTICITY_RULES = {rule.name: rule for rule in (STDP, ALL_LTD, SUPERVISED)}
