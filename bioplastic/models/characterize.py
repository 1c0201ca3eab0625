"""Characterise neuron models: step responses, f-I curves and spike-pattern metrics.

Every simulation puts *all* current levels into one NeuronGroup (one neuron per level,
``I_ext`` set per neuron), so an f-I curve costs one run. Simulations use Brian2's
runtime device with the numpy target by default (no compilation); pass
``codeobj_class=None`` to use the current default target instead.

Units: currents are Brian2 quantities in the unit of the model's ``I_ext`` (amp for the
point models, amp/meter**2 for Hodgkin-Huxley); spike times are returned in seconds as
plain numpy arrays.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import brian2
from brian2 import Network, SpikeMonitor, StateMonitor, ms, second
from brian2.codegen.runtime.numpy_rt import NumpyCodeObject

from bioplastic.errors import ModelError


def _as_levels(currents):
    """1-d array quantity of current levels (a scalar becomes one level)."""
    levels = currents if isinstance(currents, brian2.Quantity) else np.asarray(currents, dtype=float)
    if np.ndim(levels) == 0:
        levels = levels.reshape(1) if isinstance(levels, brian2.Quantity) else np.array([levels])
    return levels


def _group(model, n, dt, codeobj_class, extra_initial=None):
    if not model.current_input:
        raise ModelError(f"model {model.name!r} has no injected-current variable (current_input), "
                         "so it cannot be characterised with current steps.")
    group = model.make_group(n, name=f"{model.name.replace('-', '_')}_char*", dt=dt, codeobj_class=codeobj_class)
    for var, value in (extra_initial or {}).items():
        setattr(group, var, value)
    return group


def _set_current(group, model, levels):
    setattr(group, model.current_input, levels)


def step_response(model, current, duration, dt, delay=20 * ms, after=None, *, hold=None, record=None,
                  codeobj_class=NumpyCodeObject, initial_values=None) -> dict:
    """Voltage response to a current step (or to several in parallel).

    The step of amplitude ``current`` starts at ``delay`` and lasts ``duration``; the
    simulation goes on for ``after`` (default: ``delay``) after it. Before and after the
    step the injected current is ``hold`` (default 0), e.g. a hyperpolarising holding
    current for rebound protocols. ``current`` may be an array of levels: one neuron each.

    Returns ``dict(t=..., v=..., spike_times=..., currents=...)`` with ``t`` in seconds
    (1-d), ``v`` in volt (1-d for a scalar current, else levels x time), ``spike_times``
    in seconds (one array, or a list of arrays for several levels) and any variables
    named in ``record`` (same shape as ``v``).
    """
    scalar = np.ndim(current) == 0
    levels = _as_levels(current)
    after = delay if after is None else after
    hold = 0 * levels[:1] if hold is None else hold
    group = _group(model, len(levels), dt, codeobj_class, initial_values)
    variables = [model.membrane] + [r for r in (record or []) if r != model.membrane]
    state = StateMonitor(group, variables, record=True, dt=dt, codeobj_class=codeobj_class)
    spikes = SpikeMonitor(group, codeobj_class=codeobj_class)
    net = Network(group, state, spikes)
    namespace = {}
    _set_current(group, model, hold)
    if float(delay) > 0:
        net.run(delay, namespace=namespace)
    _set_current(group, model, levels)
    net.run(duration, namespace=namespace)
    _set_current(group, model, hold)
    if float(after) > 0:
        net.run(after, namespace=namespace)
    trains = spikes.spike_trains()
    times = [np.asarray(trains[i] / second) for i in range(len(levels))]
    out = {"t": np.asarray(state.t / second), "currents": levels}
    for var in variables:
        values = np.asarray(getattr(state, var + "_") if hasattr(state, var + "_") else getattr(state, var))
        out[var] = values[0] if scalar else values
    out["spike_times"] = times[0] if scalar else times
    return out


def fi_curve(model, currents, duration, dt, *, transient=None, method="isi", codeobj_class=NumpyCodeObject,
             return_spikes=False):
    """Steady firing rate (Hz) for each constant current, all levels in one group.

    Spikes before ``transient`` (default: a quarter of ``duration``) are ignored.
    ``method="isi"``: rate = 1/mean inter-spike interval of the remaining spikes
    (0 with fewer than two), which resolves slow rates exactly in short runs;
    ``method="count"``: spike count / (duration - transient).
    """
    levels = _as_levels(currents)
    transient = duration / 4 if transient is None else transient
    group = _group(model, len(levels), dt, codeobj_class)
    _set_current(group, model, levels)
    spikes = SpikeMonitor(group, codeobj_class=codeobj_class)
    Network(group, spikes).run(duration, namespace={})
    trains = spikes.spike_trains()
    t0, window = float(transient), float(duration - transient)
    rates = np.zeros(len(levels))
    all_times = []
    for i in range(len(levels)):
        times = np.asarray(trains[i] / second)
        all_times.append(times)
        late = times[times >= t0]
        if method == "count":
            rates[i] = len(late) / window
        elif method == "isi":
            rates[i] = (len(late) - 1) / (late[-1] - late[0]) if len(late) >= 2 else 0.0
        else:
            raise ValueError(f"method must be 'isi' or 'count', not {method!r}")
    return (rates, all_times) if return_spikes else rates


def rheobase(levels, rates):
    """The smallest level with a nonzero rate in a sorted sweep (None if it never fires)."""
    levels_arr = np.asarray(levels)
    firing = np.flatnonzero(np.asarray(rates) > 0)
    return levels[firing[0]] if len(firing) else None


# ---------------------------------------------------------------- spike-pattern metrics

def isis(spike_times) -> np.ndarray:
    """Inter-spike intervals (same unit as the spike times)."""
    times = np.asarray(spike_times, dtype=float)
    return np.diff(times) if times.size > 1 else np.zeros(0)


def adaptation_index(spike_times) -> float:
    """Mean of (ISI_{k+1} - ISI_k)/(ISI_{k+1} + ISI_k); > 0 when firing slows down.

    0 for perfectly regular firing, -1..1 in general (NaN with fewer than three spikes).
    """
    intervals = isis(spike_times)
    if intervals.size < 2:
        return float("nan")
    return float(np.mean(np.diff(intervals) / (intervals[1:] + intervals[:-1])))


def burst_count(spike_times, max_intra_isi) -> int:
    """Number of bursts: runs of >= 2 spikes whose successive ISIs are all <= max_intra_isi."""
    intervals = isis(spike_times)
    short = intervals <= float(max_intra_isi)
    starts = short & np.concatenate([[True], ~short[:-1]]) if short.size else short
    return int(np.count_nonzero(starts))


# ---------------------------------------------------------------- plotting

def plot_step_and_fi(results, path, *, title=None):
    """A multi-panel PNG: per model, its voltage trace(s) under a step current and its f-I curve.

    ``results`` maps a model name to ``{"step": step_response(...) result, "currents":
    levels, "rates": fi_curve(...) result}``; either part may be missing. Returns the path.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 2.4 * len(names) + 0.6), squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1]})
    for row, name in zip(axes, names):
        res = results[name]
        ax_v, ax_f = row
        step = res.get("step")
        if step is not None:
            v = np.atleast_2d(step["v"])
            levels = step.get("currents")
            for k, trace in enumerate(v):
                label = _current_label(levels[k]) if levels is not None and len(v) > 1 else None
                ax_v.plot(step["t"] * 1e3, trace * 1e3, lw=0.8, label=label)
            if len(v) > 1:
                ax_v.legend(fontsize=7, loc="upper right")
            if levels is not None and len(v) == 1:
                ax_v.text(0.01, 0.95, f"I = {_current_label(levels[0])}", transform=ax_v.transAxes,
                          va="top", fontsize=8)
        ax_v.set_title(name, fontsize=9, loc="left")
        ax_v.set_xlabel("time (ms)")
        ax_v.set_ylabel("v (mV)")
        if res.get("rates") is not None:
            currents = res["currents"]
            unit = brian2.get_unit(brian2.get_dimensions(currents)) if isinstance(currents, brian2.Quantity) else None
            x, xlabel = _current_axis(currents)
            ax_f.plot(x, res["rates"], "o-", ms=3)
            ax_f.set_xlabel(xlabel)
        ax_f.set_ylabel("rate (Hz)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _current_axis(currents):
    """Plot values and axis label for current levels: nA for amp, uA/cm**2 for amp/m**2."""
    if isinstance(currents, brian2.Quantity):
        dims = brian2.get_dimensions(currents)
        if dims == brian2.amp.dim:
            return np.asarray(currents / brian2.nA), "I_ext (nA)"
        if dims == (brian2.amp / brian2.meter ** 2).dim:
            return np.asarray(currents / (brian2.uA / brian2.cm ** 2)), "I_ext (uA/cm²)"
        return np.asarray(currents), f"I_ext ({brian2.get_unit(dims)})"
    return np.asarray(currents), "I_ext"


def _current_label(level):
    values, label = _current_axis(level)
    unit = label[label.find("(") + 1:-1] if "(" in label else ""
    return f"{float(np.asarray(values)):.3g} {unit}".strip()
