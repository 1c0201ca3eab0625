"""Characterise neuron models: step responses, f-I curves, rheobase and spike-pattern metrics.

Every simulation puts *all* current levels into one NeuronGroup (one neuron per level,
``I_ext`` set per neuron), so an f-I curve or a rheobase search round costs one run.
Simulations run on Brian2's runtime device with the numpy target by default (no
compilation); pass ``codeobj_class=None`` to use the current default target instead
(``brian2.prefs.codegen.target``, e.g. Cython for long runs).

Units: everything going in and coming out is a Brian2 quantity. Currents are in the unit
of the model's ``I_ext`` (amp for the LIF and Izhikevich models, amp/meter**2 for
Hodgkin-Huxley: write ``10*uA/cm**2``); times come back in seconds, voltages in volt and
rates in Hz, as quantities (``t/ms``, ``v/mV``, ``rates/Hz`` give plain arrays).

The spike-pattern metrics (:func:`isis`, :func:`adaptation_index`,
:func:`frequency_adaptation`, :func:`bursts`, :func:`subthreshold_oscillation`) take
spike times as quantities or as plain numbers in seconds.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import brian2
from brian2 import Hz, Network, SpikeMonitor, StateMonitor, ms, second
from brian2.codegen.runtime.numpy_rt import NumpyCodeObject
from brian2.devices.device import RuntimeDevice, get_device

from bioplastic.errors import ModelError


# ---------------------------------------------------------------- simulation

@dataclass
class StepResponse:
    """Result of :func:`step_response`; unpacks as ``t, v, spike_times = step_response(...)``.

    ``t``: sample times (second). ``v``: membrane potential (volt), 1-d for one current
    level, ``[level, time]`` for several. ``spike_times``: spike times (second), one array,
    or a list of arrays for several levels. ``currents``: the step amplitudes.
    ``traces``: further recorded variables, shaped like ``v``. ``onset``/``offset``: the
    step's start and end time.
    """
    t: object
    v: object
    spike_times: object
    currents: object = None
    traces: dict = field(default_factory=dict)
    onset: object = None
    offset: object = None

    def __iter__(self):
        return iter((self.t, self.v, self.spike_times))


def _as_levels(currents):
    """A 1-d quantity (or array) of current levels; a scalar becomes one level."""
    if isinstance(currents, brian2.Quantity):
        return currents.reshape(-1) if np.ndim(currents) else currents * np.ones(1)
    if isinstance(currents, (list, tuple)) and currents and isinstance(currents[0], brian2.Quantity):
        return brian2.Quantity(currents)
    return np.atleast_1d(np.asarray(currents, dtype=float))


def _check_runtime():
    if not isinstance(get_device(), RuntimeDevice):
        raise ModelError("characterising a neuron model needs Brian2's runtime device (it runs several short "
                         f"simulations); the active device is {type(get_device()).__name__}. Call "
                         "brian2.set_device('runtime') first.")


def _group(model, n, dt, codeobj_class, initial_values=None):
    _check_runtime()
    if not model.current_input:
        raise ModelError(f"model {model.name!r} has no injected-current variable (current_input), "
                         "so it cannot be characterised with current steps.")
    group = model.make_group(n, name=f"{model.name.replace('-', '_')}_char*", dt=dt, codeobj_class=codeobj_class)
    for var, value in (initial_values or {}).items():
        setattr(group, var, value)
    return group


def _set_current(group, model, levels):
    try:
        setattr(group, model.current_input, levels)
    except brian2.DimensionMismatchError as exc:
        unit = group.variables[model.current_input].dim
        raise ModelError(f"model {model.name!r}: the injected current {model.current_input} is in units of "
                         f"{brian2.get_unit(unit)!r}, but the current given was {levels!r}.") from exc


def step_response(model, current, duration, dt=0.1 * ms, *, delay=20 * ms, after=None, hold=None,
                  record=(), initial_values=None, codeobj_class=NumpyCodeObject) -> StepResponse:
    """Membrane potential and spikes under a current step, for one or several amplitudes.

    The injected current is ``hold`` (default 0) for ``delay``, then ``current`` for
    ``duration``, then ``hold`` again for ``after`` (default: ``delay``). ``current`` may
    be an array of levels: each gets its own neuron, all simulated together. A
    hyperpolarising ``hold`` with ``current=0`` gives a release-from-inhibition (rebound)
    protocol. ``record`` names further variables to record (e.g. ``["u"]``).

    Returns a :class:`StepResponse`; ``t, v, spike_times = step_response(...)`` works.
    """
    scalar = np.ndim(current) == 0
    levels = _as_levels(current)
    after = delay if after is None else after
    hold = 0 * levels[0] if hold is None else hold
    group = _group(model, len(levels), dt, codeobj_class, initial_values)
    variables = [model.membrane] + [r for r in record if r != model.membrane]
    state = StateMonitor(group, variables, record=True, dt=dt, codeobj_class=codeobj_class)
    spikes = SpikeMonitor(group, codeobj_class=codeobj_class)
    net = Network(group, state, spikes)
    _set_current(group, model, hold)
    if float(delay) > 0:
        net.run(delay, namespace={})
    _set_current(group, model, levels)
    net.run(duration, namespace={})
    _set_current(group, model, hold)
    if float(after) > 0:
        net.run(after, namespace={})
    times = _spike_trains(spikes, len(levels))
    # Copies: a monitor's arrays are freed or reused once its network is gone.
    traces = {var: brian2.Quantity(np.array(getattr(state, var + "_")), dim=group.variables[var].dim)
              for var in variables}
    pick = (lambda x: x[0]) if scalar else (lambda x: x)
    return StepResponse(t=np.array(state.t_) * second, v=pick(traces.pop(model.membrane)), spike_times=pick(times),
                        currents=levels, traces={k: pick(x) for k, x in traces.items()},
                        onset=delay, offset=delay + duration)


def simulate_currents(model, currents, duration, dt=0.1 * ms, *, codeobj_class=NumpyCodeObject,
                      initial_values=None) -> list:
    """Spike times (second) for each constant current level, all levels in one NeuronGroup."""
    levels = _as_levels(currents)
    group = _group(model, len(levels), dt, codeobj_class, initial_values)
    _set_current(group, model, levels)
    spikes = SpikeMonitor(group, codeobj_class=codeobj_class)
    Network(group, spikes).run(duration, namespace={})
    return _spike_trains(spikes, len(levels))


def _spike_trains(monitor, n) -> list:
    """Each neuron's spike times (second), copied out of the monitor."""
    t, i = np.array(monitor.t_), np.array(monitor.i)
    return [t[i == k] * second for k in range(n)]


def rates_from_spikes(trains, duration, *, transient=0 * ms, method="isi"):
    """Firing rate (Hz quantity) of each spike train, ignoring spikes before ``transient``.

    ``method="isi"``: 1/mean inter-spike interval of the remaining spikes (0 with fewer than
    two): the steady rate, exact even when the window holds only a few spikes.
    ``method="count"``: spike count / (duration - transient), as counted in experiments.
    """
    t0, window = float(transient), float(duration - transient)
    rates = np.zeros(len(trains))
    for i, train in enumerate(trains):
        late = np.asarray(train, dtype=float)
        late = late[late >= t0]
        if method == "count":
            rates[i] = len(late) / window
        elif method == "isi":
            rates[i] = (len(late) - 1) / (late[-1] - late[0]) if len(late) >= 2 else 0.0
        else:
            raise ValueError(f"method must be 'isi' or 'count', not {method!r}")
    return rates * Hz


def fi_curve(model, currents, duration, dt=0.1 * ms, *, transient=None, method="isi",
             codeobj_class=NumpyCodeObject, return_spikes=False):
    """Firing rate for each constant current (an f-I curve), in Hz, as a Brian2 quantity.

    All levels are simulated at once, one neuron each, starting from the model's initial
    (resting) state. Spikes before ``transient`` (default: a quarter of ``duration``) are
    ignored, so the rate is the steady one; see :func:`rates_from_spikes` for ``method``.
    With ``return_spikes=True`` returns ``(rates, spike_trains)``.
    """
    transient = duration / 4 if transient is None else transient
    trains = simulate_currents(model, currents, duration, dt, codeobj_class=codeobj_class)
    rates = rates_from_spikes(trains, duration, transient=transient, method=method)
    return (rates, trains) if return_spikes else rates


def rheobase(levels, rates):
    """The smallest level with a nonzero rate in an increasing sweep (None if none fires)."""
    firing = np.flatnonzero(np.asarray(rates) > 0)
    return levels[firing[0]] if len(firing) else None


def find_rheobase(model, low, high, *, duration, dt=0.1 * ms, transient=None, tolerance=None, n_levels=11,
                  codeobj_class=NumpyCodeObject):
    """Smallest constant current giving sustained firing, by vectorised bisection.

    Each round simulates ``n_levels`` currents between ``low`` (must not fire) and ``high``
    (must fire) in one group, and narrows the bracket to the two neighbours where
    firing starts, until it is narrower than ``tolerance`` (default (high-low)/1000).
    "Firing" means at least one spike after ``transient`` (default: duration/2), so
    damped transient spikes at the step onset do not count. Returns ``(low, high)``:
    the last silent and the first firing level.
    """
    transient = duration / 2 if transient is None else transient
    tolerance = (high - low) / 1000 if tolerance is None else tolerance
    while True:
        levels = low + (high - low) * np.linspace(0, 1, n_levels)
        rates = rates_from_spikes(simulate_currents(model, levels, duration, dt, codeobj_class=codeobj_class),
                                  duration, transient=transient, method="count")
        firing = np.asarray(rates) > 0
        if firing[0] or not firing[-1]:
            raise ModelError(f"find_rheobase: the bracket [{low!r}, {high!r}] does not contain the onset of "
                             f"firing for model {model.name!r} (rates {rates!r}).")
        k = int(np.argmax(firing))
        low, high = levels[k - 1], levels[k]
        if high - low <= tolerance:
            return low, high


# ---------------------------------------------------------------- spike-pattern metrics

def _seconds(times) -> np.ndarray:
    return np.asarray(times, dtype=float).reshape(-1)


def isis(spike_times) -> np.ndarray:
    """Inter-spike intervals in seconds (plain array; empty with fewer than two spikes)."""
    times = _seconds(spike_times)
    return np.diff(times) if times.size > 1 else np.zeros(0)


def adaptation_index(spike_times) -> float:
    """Mean of (ISI_{k+1} - ISI_k)/(ISI_{k+1} + ISI_k) over all consecutive ISI pairs.

    The Allen Cell Types Database definition: 0 for regular firing, > 0 when firing slows
    down, < 0 when it accelerates (range -1..1). Averaged over the whole train, so it
    depends on the step length; NaN with fewer than three spikes.
    """
    intervals = isis(spike_times)
    if intervals.size < 2:
        return float("nan")
    return float(np.mean(np.diff(intervals) / (intervals[1:] + intervals[:-1])))


def frequency_adaptation(spike_times, n_steady=3) -> float:
    """1 - f_steady/f_initial: 0 without adaptation, towards 1 for strong adaptation.

    f_initial = 1/first ISI, f_steady = 1/mean of the last ``n_steady`` ISIs. NaN with
    fewer than two ISIs.
    """
    intervals = isis(spike_times)
    if intervals.size < 2:
        return float("nan")
    return float(1 - intervals[0] / np.mean(intervals[-n_steady:]))


def initial_rate(spike_times):
    """1/first ISI (Hz quantity; 0 Hz with fewer than two spikes)."""
    intervals = isis(spike_times)
    return (1 / intervals[0] if intervals.size else 0.0) * Hz


def steady_rate(spike_times, n_steady=3):
    """1/mean of the last ``n_steady`` ISIs (Hz quantity; 0 Hz with fewer than two spikes)."""
    intervals = isis(spike_times)
    return (1 / np.mean(intervals[-n_steady:]) if intervals.size else 0.0) * Hz


def bursts(spike_times, max_intra_isi=10 * ms) -> list:
    """Bursts: maximal runs of >= 2 spikes whose successive ISIs are all <= ``max_intra_isi``.

    Returns a list of arrays of spike times (seconds), one per burst; spikes outside bursts
    are "single spikes" (see :func:`single_spikes`).
    """
    times = _seconds(spike_times)
    if times.size < 2:
        return []
    breaks = np.flatnonzero(np.diff(times) > float(max_intra_isi)) + 1
    return [group for group in np.split(times, breaks) if group.size >= 2]


def single_spikes(spike_times, max_intra_isi=10 * ms) -> np.ndarray:
    """Spike times (seconds) that belong to no burst (see :func:`bursts`)."""
    times = _seconds(spike_times)
    in_burst = np.concatenate(bursts(times, max_intra_isi)) if bursts(times, max_intra_isi) else np.zeros(0)
    return np.setdiff1d(times, in_burst)


def burst_count(spike_times, max_intra_isi=10 * ms) -> int:
    return len(bursts(spike_times, max_intra_isi))


def subthreshold_oscillation(t, v, start=None, rel_tolerance=1e-3) -> dict:
    """Frequency and damping of a subthreshold oscillation of ``v`` around its final value.

    Typically ``v`` relaxing to rest after a brief current pulse that ended at ``start``.
    Extrema of ``v`` after ``start`` whose distance from the final value is below
    ``rel_tolerance`` times the largest distance are ignored (rounding noise at rest).
    Returns ``frequency`` (Hz quantity, from the mean spacing of successive maxima; NaN
    with fewer than two), ``decay`` (mean ratio of successive half-cycle swings; < 1:
    damped), ``n_peaks`` (maxima) and ``undershoot`` (volt): how far v falls below its
    final value after the first maximum (0 for a monotonic return, > 0 for ringing).
    """
    t, v = _seconds(t), _seconds(v)
    if start is not None:
        keep = t >= float(start)
        t, v = t[keep], v[keep]
    deviation = v - v[-1]
    big = np.abs(deviation) > rel_tolerance * np.max(np.abs(deviation)) if deviation.size else deviation
    dv = np.diff(v)
    maxima = np.flatnonzero((dv[:-1] > 0) & (dv[1:] <= 0) & big[1:-1]) + 1
    minima = np.flatnonzero((dv[:-1] < 0) & (dv[1:] >= 0) & big[1:-1]) + 1
    frequency = 1 / np.mean(np.diff(t[maxima])) if maxima.size >= 2 else float("nan")
    extrema = np.sort(np.concatenate([maxima, minima]))
    swings = np.abs(np.diff(v[extrema]))
    decay = float(np.mean(swings[1:] / swings[:-1])) if swings.size >= 2 else float("nan")
    after_peak = deviation[maxima[0]:] if maxima.size else deviation
    undershoot = max(0.0, -float(after_peak.min())) if after_peak.size else 0.0
    return {"frequency": frequency * Hz, "decay": decay, "n_peaks": int(maxima.size),
            "undershoot": undershoot * brian2.volt}


# ---------------------------------------------------------------- plotting

def plot_step_and_fi(results, path, *, title=None):
    """A multi-panel PNG: one row per model, voltage traces under step currents (left) and
    the f-I curve (right).

    ``results`` maps a model name to a dict with any of ``"step"`` (a
    :class:`StepResponse`, e.g. for several amplitudes at once), ``"currents"`` and
    ``"rates"`` (an f-I sweep and :func:`fi_curve`'s result). Returns the path.
    """
    import matplotlib

    from bioplastic.plotting import new_figure

    names = list(results)
    fig, axes = new_figure(len(names), 2, figsize=(10, 2.3 * len(names) + 0.7), squeeze=False,
                             gridspec_kw={"width_ratios": [2.3, 1]})
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, name in zip(axes, names):
        res = results[name]
        ax_v, ax_f = row
        step = res.get("step")
        if step is not None:
            t = np.asarray(step.t / ms)
            v = np.atleast_2d(np.asarray(step.v / brian2.mV))
            levels = step.currents
            for k, trace in enumerate(v):
                label = _current_label(levels[k]) if levels is not None else None
                ax_v.plot(t, trace, lw=0.8, color=colors[k % len(colors)], label=label)
            if step.onset is not None:
                ax_v.axvspan(float(step.onset / ms), float(step.offset / ms), color="0.9", zorder=0, lw=0)
            if levels is not None:
                ax_v.legend(fontsize=7, loc="upper right", title="step", title_fontsize=7, framealpha=0.85)
        ax_v.set_title(name, fontsize=9, loc="left")
        ax_v.set_xlabel("time (ms)")
        ax_v.set_ylabel(f"{'v'} (mV)")
        if res.get("rates") is not None:
            x, xlabel = _current_axis(res["currents"])
            ax_f.plot(x, np.asarray(res["rates"] / Hz) if isinstance(res["rates"], brian2.Quantity)
                      else np.asarray(res["rates"]), "o-", ms=3, color="k", lw=1)
            ax_f.set_xlabel(xlabel)
        else:
            ax_f.set_axis_off()
        ax_f.set_ylabel("firing rate (Hz)")
        for ax in row:
            ax.spines[["top", "right"]].set_visible(False)
            ax.grid(alpha=0.25, linewidth=0.6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _current_axis(currents):
    """Plot values and axis label for current levels: nA for amp, uA/cm² for amp/m**2."""
    if isinstance(currents, brian2.Quantity):
        dims = brian2.get_dimensions(currents)
        if dims == brian2.amp.dim:
            return np.asarray(currents / brian2.nA), "injected current (nA)"
        if dims == (brian2.amp / brian2.meter ** 2).dim:
            return np.asarray(currents / (brian2.uA / brian2.cm ** 2)), "injected current (µA/cm²)"
        return np.asarray(currents), f"injected current ({brian2.get_unit(dims)})"
    return np.asarray(currents), "injected current"


def _current_label(level):
    values, label = _current_axis(level)
    unit = label[label.find("(") + 1:-1] if "(" in label else ""
    return f"{float(np.asarray(values)):.3g} {unit}".strip()


#: Per-family protocol. Currents in the unit of the family's ``I_ext``; ``target`` is the
#: Brian2 code generation target for these small runs (numpy: no compilation; Cython for
#: Hodgkin-Huxley, whose ``exprel`` is ~30x slower under numpy).
FAMILY_SETTINGS = {
    "lif": {"dt": "0.1 ms", "target": "numpy",
            "fi": {"start": "0 nA", "stop": "0.6 nA", "n": 25, "duration": "1000 ms"},
            "step": {"currents": ["0.1 nA", "0.15 nA", "0.25 nA", "0.5 nA"], "delay": "50 ms",
                     "duration": "400 ms", "after": "100 ms"}},
    "izhikevich": {"dt": "0.1 ms", "target": "numpy",
                   "fi": {"start": "0 nA", "stop": "1.5 nA", "n": 31, "duration": "1000 ms"},
                   "step": {"currents": ["0.5 nA", "1 nA"], "delay": "20 ms", "duration": "300 ms",
                            "after": "50 ms"}},
    "hodgkin_huxley": {"dt": "0.025 ms", "target": "cython",
                       "fi": {"start": "0 uA/cm**2", "stop": "20 uA/cm**2", "n": 41, "duration": "1000 ms"},
                       "step": {"currents": ["5 uA/cm**2", "7 uA/cm**2", "15 uA/cm**2"], "delay": "20 ms",
                                "duration": "100 ms", "after": "30 ms"}},
}

def family_of(name: str) -> str:
    if name.startswith("izhikevich"):
        return "izhikevich"
    if name.startswith("hodgkin"):
        return "hodgkin_huxley"
    return "lif"


#: LTS, TC and RZ rest closer to threshold (rheobase < 0.1 nA): smaller steps show their patterns.
_SMALL_STEPS = ("izhikevich_lts", "izhikevich_tc", "izhikevich_rz")


def default_settings(name: str) -> dict:
    """The characterisation protocol of one registered model (``neuron_models.settings.<name>``)."""
    settings = copy.deepcopy(FAMILY_SETTINGS[family_of(name)])
    if name in _SMALL_STEPS:
        settings["step"]["currents"] = ["0.1 nA", "0.4 nA"]
    return settings
