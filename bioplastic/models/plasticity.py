"""Synaptic plasticity rules as data: traces, on_pre/on_post code and parameters.

Pair-based STDP with all-to-all spike pairing (Delta t = t_post - t_pre):

    Delta w = A_pre  * exp(-Delta t / tau_pre)    for Delta t > 0   (pre before post)
    Delta w = A_post * exp( Delta t / tau_post)   for Delta t < 0   (post before pre)

with A_pre > 0 (potentiation) and A_post < 0 (depression). **All-LTD** flips the sign
of the first branch, so both spike orders depress (anti-Hebbian). The **supervised** rule
applies STDP to postsynaptic neurons in the segment of the current label and All-LTD to
all others; the sign is ``ltp_sign`` of the postsynaptic neuron.

**Diehl & Cook (2015)**, as in the authors' code (github peter-u-diehl/stdp-mnist) and Brian2's
``examples/frompapers/Diehl_Cook_2015.py``, keeps nearest-spike
traces, *set* to 1 at a spike rather than incremented: ``pre`` (tau_pre) on the presynaptic
side, ``post1`` (tau_post) and ``post2`` (tau_post2) on the postsynaptic side, and

    at a presynaptic spike:   w <- clip(w - nu_pre  * post1,               0, w_max)
    at a postsynaptic spike:  w <- clip(w + nu_post * pre * post2_before,  0, w_max)

where post2_before is post2 just before this spike sets it to 1 (a triplet term: a post spike
potentiates more when it follows another post spike).

A rule declares its traces per side as data (:class:`Trace`); the code below is generated
from them. Traces are kept where they are cheapest. For these rules a presynaptic trace
depends only on the presynaptic neuron (and likewise for the postsynaptic one), so
``trace_location="neuron"`` keeps one trace per neuron instead of one per synapse. That is
exact, not an approximation; ``trace_location="synapse"`` is the textbook per-synapse
event-driven formulation (Brian2's STDP example), kept as the reference that tests compare
against.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
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

SIDES = ("pre", "post")


@dataclass(frozen=True)
class Trace:
    """A spike trace: d(trace)/dt = -trace/tau between spikes; at a spike ``at_spike``.

    ``at_spike`` is ``"+= 1"`` (all-to-all pairing: every earlier spike counts) or ``"= 1"``
    (nearest spike: only the last one counts). ``name`` is the variable of a per-neuron trace,
    ``synapse_name`` that of a per-synapse one; ``tau`` names the rule parameter.
    """
    name: str
    synapse_name: str
    tau: str
    at_spike: str = "+= 1"


_STDP_PRE = (Trace("stdp_trace", "apre", "tau_pre"),)
_STDP_POST = (Trace("stdp_trace", "apost", "tau_post"),)


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
    #: The traces of each side, and the weight change at a presynaptic spike (``on_pre_change``)
    #: and at a postsynaptic one (``on_post_change``), written with ``{pre.<trace>}`` and
    #: ``{post.<trace>}`` for the traces (filled in per trace location); a leading "-" is a
    #: depression. Postsynaptic traces are read before this spike updates them.
    pre_traces: tuple[Trace, ...] = _STDP_PRE
    post_traces: tuple[Trace, ...] = _STDP_POST
    on_pre_change: str = "A_post*{post.stdp_trace}"
    on_post_change: str = "ltp_sign_post*A_pre*{pre.stdp_trace}"
    #: Parameters that must not be negative (learning rates given as magnitudes).
    nonnegative: tuple[str, ...] = ()

    # --- traces ------------------------------------------------------------------------
    def _side_traces(self, side: str) -> tuple[Trace, ...]:
        if side not in SIDES:
            raise ModelError(f"plasticity rule {self.name!r}: side must be 'pre' or 'post', got {side!r}.")
        return self.pre_traces if side == "pre" else self.post_traces

    def traces(self, side: str) -> dict:
        """Per-neuron traces of one side: variable name -> time constant ({} with per-synapse traces).

        A layer that is the target of one rule and the source of another keeps one variable per
        name, so the rules must agree on the time constant of a name they share.
        """
        if self.trace_location != "neuron":
            return {}
        return {t.name: self.parameters[t.tau] for t in self._side_traces(side)}

    def _refs(self, side: str) -> SimpleNamespace:
        """How the synapse code reads a trace of ``side``: ``stdp_trace_pre`` or ``apre``."""
        if self.trace_location == "neuron":
            return SimpleNamespace(**{t.name: f"{t.name}_{side}" for t in self._side_traces(side)})
        return SimpleNamespace(**{t.name: t.synapse_name for t in self._side_traces(side)})

    def _neuron_code(self, side: str, template: str) -> str:
        if self.trace_location != "neuron":
            return ""
        return "\n".join(template.format(t=t) for t in self._side_traces(side))

    def trace_reset_code(self, side: str) -> str:
        """Code that puts a side's per-neuron traces back at rest (0), e.g. between images."""
        return self._neuron_code(side, "{t.name} = 0")

    # --- code generation ---------------------------------------------------------------
    @property
    def pre_equations(self) -> str:
        # Plain variables: they decay exactly, once per step (see ``trace_decay``), whatever
        # integration method the neuron model itself uses.
        return self._neuron_code("pre", "{t.name} : 1")

    @property
    def pre_reset(self) -> str:
        return self._neuron_code("pre", "{t.name} {t.at_spike}")

    @property
    def post_equations(self) -> str:
        sign = f"ltp_sign = {self.ltp_sign} : 1" if self.ltp_sign else ""
        return "\n".join(c for c in (self._neuron_code("post", "{t.name} : 1"), sign) if c)

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
        return self._neuron_code("post", "{t.name} {t.at_spike}")

    @property
    def synapse_model(self) -> str:
        model = "w : 1"
        if self.per_synapse_bounds:
            model += "\nplastic_w : 1\nw_lo : 1\nw_hi : 1"
        if self.trace_location == "synapse":
            for t in self.pre_traces + self.post_traces:
                model += f"\nd{t.synapse_name}/dt = -{t.synapse_name}/{t.tau} : 1 (event-driven)"
        if self.pruning:
            # w holds w(t_s), the weight at the last presynaptic spike t_s; the weight in
            # effect decays from there: w(t) = w(t_s) * exp(-k_p * ((t - t_s)/tau_prune)**2).
            model += f"\nt_s : second\nw_effective = w * {_PRUNING_DECAY} : 1"
        return model

    @property
    def weight_variable(self) -> str:
        """The variable that holds the weight in effect now (what snapshots record)."""
        return "w_effective" if self.pruning else "w"

    @property
    def before_transmission(self) -> str:
        """Code run at a presynaptic spike before the weight is transmitted.

        With pruning, the decay since the previous presynaptic spike is applied here, once per
        event, instead of in every time step for every synapse. It is written out rather than
        read from ``w_effective``: in the presynaptic pathway that would be a subexpression
        referred from the synapses, whose variables Brian2 renames (``_w_effective_<synapses>_w``)
        although they share the arrays of ``w``, ``t_s`` and ``t``. Brian2's (2.10) Cython generator
        then declares one name per array only (``determine_keywords``), leaves ``w`` an untyped
        Python object, fails to compile ``clip(w ...)`` ("Invalid use of fused types"), and runs
        nothing for that code object (the extension manager returns None on a compile error and
        ``run_block`` skips it): no transmission, no ``t_s`` update, every weight decays away. The temporary
        ``w_decayed`` keeps the statement the one the subexpression gave: ``w = w * decay``
        would be optimised as ``w *= decay`` with other loop invariants (-k_p/tau_prune**2),
        which changes cpp_standalone's weights in the last bit.
        """
        if not self.pruning:
            return ""
        return f"w_decayed = w * {_PRUNING_DECAY}\nw = w_decayed\nt_s = t"

    def _update(self, change: str) -> str:
        sign, change = ("-", change[1:]) if change.startswith("-") else ("+", change)
        if self.per_synapse_bounds:
            return f"w = clip(w {sign} plastic_w*learning*{change}, w_lo, w_hi)"
        return f"w = clip(w {sign} learning*{change}, 0, w_max)"

    def _on_spike(self, side: str, change: str) -> str:
        code = self._update(change.format(pre=self._refs("pre"), post=self._refs("post")))
        if self.trace_location == "synapse":   # per-synapse traces are updated after the weight
            code += "".join(f"\n{t.synapse_name} {t.at_spike}" for t in self._side_traces(side))
        return code

    @property
    def on_pre(self) -> str:
        """Plasticity at a presynaptic spike (depression by the postsynaptic trace(s))."""
        return self._on_spike("pre", self.on_pre_change)

    @property
    def on_post(self) -> str:
        """Plasticity at a postsynaptic spike (potentiation by the presynaptic trace, signed)."""
        return self._on_spike("post", self.on_post_change)

    def trace_decay(self, side: str, dt, trace: str | None = None) -> float:
        """Factor by which a per-neuron trace decays in one step: exp(-dt/tau).

        Exact for d(trace)/dt = -trace/tau, unlike integrating the trace with the neuron's
        own (often Euler) method, whose error would accumulate over every step. ``trace``
        names the trace when a side has more than one.
        """
        traces = {t.name: t for t in self._side_traces(side)}
        if trace is None:
            if len(traces) != 1:
                raise ModelError(f"plasticity rule {self.name!r} has {len(traces)} {side} traces "
                                 f"({', '.join(traces)}): name the one whose decay you want.")
            (trace,) = traces
        return float(np.exp(-float(dt / self.parameters[traces[trace].tau])))

    def attach_traces(self, group, side: str, dt) -> None:
        """Add the once-per-step exact trace decay to a group built with pre/post_equations."""
        if self.trace_location == "neuron":
            code = "\n".join(f"{t.name} *= {self.trace_decay(side, dt, t.name)!r}" for t in self._side_traces(side))
            group.run_regularly(code, when="start", name=f"{group.name}_trace_decay")

    def with_overrides(self, parameters: dict | None = None, trace_location: str | None = None,
                       pruning: dict | None = None, per_synapse_bounds: bool | None = None) -> PlasticityRule:
        params = resolve_parameters(self.parameters, parameters, model=self.name)
        if pruning:
            pruning = resolve_parameters(PRUNING_DEFAULTS, pruning, model=f"{self.name}.pruning")
            params = {**params, **pruning}
        rule = dataclasses.replace(self, parameters=params, trace_location=trace_location or self.trace_location,
                                   pruning=pruning or self.pruning,
                                   per_synapse_bounds=self.per_synapse_bounds if per_synapse_bounds is None
                                   else bool(per_synapse_bounds))
        return rule.validate()

    def validate(self) -> PlasticityRule:
        if self.trace_location not in ("neuron", "synapse"):
            raise ModelError(f"plasticity rule {self.name!r}: trace_location must be 'neuron' or "
                             f"'synapse', got {self.trace_location!r}.")
        taus = dict.fromkeys(t.tau for t in self.pre_traces + self.post_traces)
        for key in (*taus, "w_max"):
            if float(self.parameters[key]) <= 0:
                raise ModelError(f"plasticity rule {self.name!r}: {key} must be > 0, got {self.parameters[key]!r}.")
        if self.pruning:
            if float(self.pruning["tau_prune"]) <= 0:
                raise ModelError(f"pruning: tau_prune must be > 0, got {self.pruning['tau_prune']!r}.")
            if float(self.pruning["k_p"]) < 0:
                raise ModelError(f"pruning: k_p must be >= 0 (0 switches pruning off), got {self.pruning['k_p']}.")
        for key in self.nonnegative:
            if float(self.parameters[key]) < 0:
                raise ModelError(f"plasticity rule {self.name!r}: {key} must be >= 0 (a magnitude; the "
                                 f"rule's code gives the sign), got {self.parameters[key]!r}.")
        if "A_pre" in self.parameters and (float(self.parameters["A_pre"]) < 0
                                           or float(self.parameters["A_post"]) > 0):
            raise ModelError(f"plasticity rule {self.name!r}: A_pre must be >= 0 (potentiation "
                             "amplitude) and A_post <= 0 (depression amplitude); the rule flips signs "
                             "itself (All-LTD), so give magnitudes with these signs.")
        return self

    def describe(self) -> str:
        params = "\n".join(f"    {k:<10} = {v!r}" for k, v in sorted(self.parameters.items()))
        traces = "; ".join(f"{side}: " + ", ".join(f"{t.name} ({t.tau}, {t.at_spike} at a spike)"
                                                   for t in self._side_traces(side)) for side in SIDES)
        sign = f"  ltp_sign (postsynaptic): {self.ltp_sign}\n" if self.ltp_sign else ""
        return (f"{self.name}: {self.description}\n  traces: per {self.trace_location}; {traces}\n"
                f"{sign}  on_pre:  {self.on_pre}\n"
                f"  on_post: {self.on_post}\n  parameters:\n{params}\n")


#: The factor by which pruning has reduced a weight since the last presynaptic spike t_s.
_PRUNING_DECAY = "exp(-k_p * ((t - t_s)/tau_prune)**2)"

#: "Use it or lose it" (reference optimum tau_prune = 7500 ms, about the time one image
#: takes through the network times the number of classes). Weights whose effective value
#: falls below prune_below are reported as pruned.
PRUNING_DEFAULTS = dict(k_p=1.0, tau_prune=7500 * ms, prune_below=1e-3)

# Amplitudes and time constants as the learning rates of Diehl & Cook (2015): nu_post = 0.01
# (potentiation at a post spike), nu_pre = 0.0001 (depression at a pre spike), 20 ms, w_max = 1.
_DEFAULTS = dict(A_pre=0.01, A_post=-0.0001, tau_pre=20 * ms, tau_post=20 * ms, w_max=1.0)

STDP = PlasticityRule("stdp", "Pair-based additive STDP, all-to-all pairing.", LTP_SIGN["stdp"], dict(_DEFAULTS),
                      reference="Bi & Poo (1998); Song, Miller & Abbott (2000)")
ALL_LTD = PlasticityRule("all_ltd", "All-LTD: anti-Hebbian, both spike orders depress.", LTP_SIGN["all_ltd"],
                         dict(_DEFAULTS))
SUPERVISED = PlasticityRule(
    "supervised",
    "STDP for neurons in the current label's segment, All-LTD for every other neuron.",
    LTP_SIGN["supervised"], dict(_DEFAULTS))

# Nearest-spike traces (set to 1); the post2 trace is read before this spike sets it (post
# resets run after the synapses), which is the `post2before` of the authors' code.
DIEHL_COOK = PlasticityRule(
    "diehl_cook",
    "Diehl & Cook (2015): nearest-spike STDP, depression at a pre spike by post1, "
    "potentiation at a post spike by pre * post2 (before this spike).",
    "", dict(nu_pre=0.0001, nu_post=0.01, tau_pre=20 * ms, tau_post=20 * ms, tau_post2=40 * ms, w_max=1.0),
    reference="P. U. Diehl, M. Cook (2015) Front. Comput. Neurosci. 9:99; the rule of their code, "
              "github peter-u-diehl/stdp-mnist",
    pre_traces=(Trace("pre", "pre", "tau_pre", "= 1"),),
    post_traces=(Trace("post1", "post1", "tau_post", "= 1"), Trace("post2", "post2", "tau_post2", "= 1")),
    on_pre_change="-nu_pre*{post.post1}",
    on_post_change="nu_post*{pre.pre}*{post.post2}",
    nonnegative=("nu_pre", "nu_post"),
)

PLASTICITY_RULES = {rule.name: rule for rule in (STDP, ALL_LTD, SUPERVISED, DIEHL_COOK)}
