"""Neuron models side by side (issue: equation-defined neuron models, validated and swappable).

Part 1, single neurons: for each model in ``neuron_models.models``, voltage traces under
current steps and an f-I curve (steady rate vs constant injected current), the rheobase
(by bisection around the onset found in the f-I sweep) and spike-pattern metrics
(latency, initial/steady rate, adaptation, bursts). Each model family gets its own
figure; currents are in the unit of the model's ``I_ext`` (nA for LIF and Izhikevich,
uA/cm**2 for Hodgkin-Huxley). Per-model settings (dt, current range, step levels) are
under ``neuron_models.settings.<model>``; every registered model has an entry.

Part 2, the same network with another neuron: the supervised STDP + All-LTD experiment
(:func:`bioplastic.studies.supervised.train_and_test`) once per entry of ``variants``
(e.g. the adaptive LIF of Diehl & Cook and the Izhikevich regular-spiking cell), so the
accuracies can be compared. ``neuron_models.network: false`` skips it (no data needed).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import brian2
from brian2 import Hz, ms, nA, uA, cm

from bioplastic import plotting
from bioplastic.config import variant_config
from bioplastic.errors import ConfigError, ModelError
from bioplastic.models import NEURON_MODELS, characterize
from bioplastic.models.characterize import family_of
from bioplastic.results import metric_rows, write_json, write_metrics_long
from bioplastic.studies.common import positive, spec_from_config
from bioplastic.studies.supervised import plot_weight_grids
from bioplastic.units import parse_quantity

# ---------------------------------------------------------------- defaults

#: How currents are written in metrics.json and on axes, per family.
DISPLAY_UNIT = {"lif": (nA, "nA"), "izhikevich": (nA, "nA"), "hodgkin_huxley": (uA / cm**2, "uA/cm**2")}

FAMILY_TITLES = {"lif": "Leaky integrate-and-fire (Diehl & Cook 2015)",
                 "izhikevich": "Izhikevich (2003) simple model, Fig. 2 presets",
                 "hodgkin_huxley": "Hodgkin-Huxley (1952) squid axon, 6.3 °C"}


# ---------------------------------------------------------------- helpers

def _quantity(value, name):
    return parse_quantity(value, name=name)


def _fmt(value, family: str) -> str:
    unit, text = DISPLAY_UNIT[family]
    return f"{float(value / unit):.6g} {text}"


def short_description(model) -> str:
    """'regular spiking (RS)' from an Izhikevich preset's description; the first clause otherwise."""
    head = model.description.split(":")[0].rstrip(".")
    return head.split("neuron, ", 1)[1] if "neuron, " in head else head.split(" (")[0]


def _model_config(config: dict, name: str) -> dict:
    section = config["neuron_models"]
    if name not in section["settings"]:
        raise ConfigError(f"neuron_models.models: unknown model {name!r}. Available: "
                          f"{', '.join(sorted(section['settings']))}.")
    s = section["settings"][name]
    fi = dict(s["fi"])
    if section["fi_duration"] is not None:
        fi["duration"] = section["fi_duration"]
    if section["fi_points"] is not None:
        fi["n"] = section["fi_points"]
    where = f"neuron_models.settings.{name}"
    levels = np.linspace(0, 1, int(fi["n"]))
    start, stop = _quantity(fi["start"], f"{where}.fi.start"), _quantity(fi["stop"], f"{where}.fi.stop")
    if int(fi["n"]) < 2 or not float(stop) > float(start):
        raise ConfigError(f"{where}.fi: need n >= 2 and stop > start, got {fi!r}.")
    step = s["step"]
    return {
        "dt": positive(s["dt"], ms, f"{where}.dt"),
        "target": s["target"],
        "currents": start + (stop - start) * levels,
        "fi_duration": positive(fi["duration"], ms, f"{where}.fi.duration"),
        "step_currents": brian2.Quantity([_quantity(c, f"{where}.step.currents") for c in step["currents"]]),
        "delay": _quantity(step["delay"], f"{where}.step.delay"),
        "step_duration": positive(step["duration"], ms, f"{where}.step.duration"),
        "after": _quantity(step["after"], f"{where}.step.after"),
    }


def _codeobj_class(target: str):
    if target == "numpy":
        from brian2.codegen.runtime.numpy_rt import NumpyCodeObject
        return NumpyCodeObject
    if target == "cython":
        from bioplastic.devices import cython_available
        if cython_available():
            from brian2.codegen.runtime.cython_rt import CythonCodeObject
            return CythonCodeObject
        from brian2.codegen.runtime.numpy_rt import NumpyCodeObject
        return NumpyCodeObject
    raise ConfigError(f"neuron_models.settings.*.target must be 'numpy' or 'cython', got {target!r}.")


def lif_analytic_rate(model, currents):
    """Steady rate of the plain LIF under a constant current, from the closed-form solution.

    Starting at ``v_reset`` = ``E_rest`` the membrane reaches threshold after
    ``T = tau_m ln(R I / (R I - (v_thresh - E_rest)))``; the rate is ``1/(t_ref + T)``,
    0 below the rheobase ``(v_thresh - E_rest)/R_m``. Only for models with those parameters.
    """
    p = model.parameters
    drive = np.asarray(p["R_m"] * currents / brian2.volt, dtype=float)
    gap = float((p["v_thresh"] - p["E_rest"]) / brian2.volt)
    rates = np.zeros(len(drive))
    above = drive > gap
    period = float(p["t_ref"]) + float(p["tau_m"]) * np.log(drive[above] / (drive[above] - gap))
    rates[above] = 1 / period
    return rates * Hz


def _has_analytic_lif(model) -> bool:
    """The closed form holds for the plain LIF: reset to rest, no adaptation, no synaptic input."""
    needed = {"R_m", "v_thresh", "E_rest", "v_reset", "tau_m", "t_ref"}
    return (needed <= set(model.parameters) and model.threshold.strip() == "v > v_thresh"
            and float(model.parameters["v_reset"]) == float(model.parameters["E_rest"]))


def step_metrics(train, onset, offset) -> dict:
    times = np.asarray(train, dtype=float)
    during = times[(times >= float(onset)) & (times < float(offset))]
    return {"n_spikes": int(during.size),
            "first_spike_latency_ms": float((during[0] - float(onset)) * 1e3) if during.size else None,
            "initial_rate_hz": float(characterize.initial_rate(during) / Hz),
            "steady_rate_hz": float(characterize.steady_rate(during) / Hz),
            "adaptation_index": characterize.adaptation_index(during),
            "n_bursts": characterize.burst_count(during),
            "n_spikes_after_step": int((times >= float(offset)).sum())}


def characterize_model(name: str, model, settings: dict, rel_tolerance: float) -> dict:
    """Step responses, f-I curve and rheobase of one model (numbers and the raw results)."""
    family = family_of(name)
    codeobj = _codeobj_class(settings["target"])
    dt, currents, duration = settings["dt"], settings["currents"], settings["fi_duration"]
    started = time.time()
    step = characterize.step_response(model, settings["step_currents"], settings["step_duration"], dt,
                                      delay=settings["delay"], after=settings["after"], codeobj_class=codeobj)
    rates = characterize.fi_curve(model, currents, duration, dt, codeobj_class=codeobj)
    out = {"family": family, "description": model.description, "dt": f"{float(dt / ms):g} ms",
           "target": settings["target"],
           "current_unit": DISPLAY_UNIT[family][1],
           "fi": {"currents": [_fmt(c, family) for c in currents], "rates_hz": np.asarray(rates / Hz),
                  "duration": f"{float(duration / ms):g} ms",
                  "rate_method": "1/mean ISI after the first quarter of the run"},
           "steps": {_fmt(c, family): step_metrics(train, step.onset, step.offset)
                     for c, train in zip(step.currents, step.spike_times)}}
    # Rheobase: the onset seen in the sweep, refined by bisection within that bracket.
    first = characterize.rheobase(currents, rates)
    out["rheobase_sweep"] = _fmt(first, family) if first is not None else None
    out["rheobase"], out["rheobase_bracket"], rheobase = None, None, None
    if first is not None:
        k = int(np.argmax(np.asarray(rates) > 0))
        low, high = (currents[k - 1], currents[k]) if k > 0 else (currents[0] * 0, currents[0])
        tolerance = (currents[-1] - currents[0]) * rel_tolerance
        try:
            low, high = characterize.find_rheobase(model, low, high, duration=duration, dt=dt, tolerance=tolerance,
                                                   codeobj_class=codeobj)
            rheobase = (low + high) / 2
        except ModelError:
            # The bisection's "firing" (a spike in the second half) and the sweep's (two spikes
            # after the first quarter) can disagree right at the onset; widen the bracket once.
            try:
                low, high = characterize.find_rheobase(model, currents[max(k - 2, 0)] * (k >= 2),
                                                       currents[min(k + 1, len(currents) - 1)], duration=duration,
                                                       dt=dt, tolerance=tolerance, codeobj_class=codeobj)
                rheobase = (low + high) / 2
            except ModelError as exc:
                out["rheobase_note"] = str(exc)
        if rheobase is not None:
            out["rheobase"] = _fmt(rheobase, family)
            out["rheobase_bracket"] = [_fmt(low, family), _fmt(high, family)]
        rate_at = np.asarray(rates / Hz)[k]
        out["rate_at_sweep_onset_hz"] = float(rate_at)
    out["max_rate_hz"] = float(np.max(np.asarray(rates / Hz)))
    analytic = None
    if _has_analytic_lif(model):
        analytic = lif_analytic_rate(model, currents)
        out["analytic_rates_hz"] = np.asarray(analytic / Hz)
        p = model.parameters
        out["analytic_rheobase"] = _fmt((p["v_thresh"] - p["E_rest"]) / p["R_m"], family)
        ok = np.asarray(analytic) > 0
        out["max_relative_error_vs_analytic"] = float(np.max(np.abs(np.asarray(rates)[ok] / np.asarray(analytic)[ok]
                                                                     - 1))) if ok.any() else None
    out["wall_time_s"] = time.time() - started
    raw = {"step": step, "currents": currents, "rates": rates, "rheobase": rheobase, "analytic": analytic, "dt": dt}
    return out, raw


# ---------------------------------------------------------------- figures

def plot_family(family: str, raws: dict, models: dict, path) -> None:
    """One row per model: voltage under current steps (left), f-I curve with rheobase (right)."""
    from bioplastic.plotting import new_figure

    unit, unit_text = DISPLAY_UNIT[family]
    axis_unit = unit_text.replace("uA/cm**2", "µA/cm²")
    names = list(raws)
    fig, axes = new_figure(len(names), 2, figsize=(11, 2.4 * len(names) + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [2.3, 1]}, dpi=110)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    for (ax_v, ax_f), name in zip(axes, names):
        raw, model = raws[name], models[name]
        step = raw["step"]
        t = np.asarray(step.t / ms)
        v = np.atleast_2d(np.asarray(step.v / brian2.mV))
        for k, (trace, level) in enumerate(zip(v, step.currents)):
            ax_v.plot(t, trace, lw=0.8, color=colors[k % len(colors)],
                      label=f"{float(level / unit):.3g} {axis_unit}")
        ax_v.axvspan(float(step.onset / ms), float(step.offset / ms), color="0.92", zorder=0, lw=0)
        ax_v.set_xlim(t[0], t[-1])
        ax_v.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1, 1), ncol=len(step.currents), frameon=False,
                    title=None, handlelength=1.2, columnspacing=1)
        ax_v.set_title(f"{name}: {short_description(model)}", fontsize=9, loc="left")
        ax_v.set_ylabel(f"{model.membrane} (mV)")
        x = np.asarray(raw["currents"] / unit)
        ax_f.plot(x, np.asarray(raw["rates"] / Hz), "o-", ms=2.5, color="k", lw=1, label="simulated")
        if raw["analytic"] is not None:
            fine = np.linspace(raw["currents"][0], raw["currents"][-1], 400)
            ax_f.plot(np.asarray(fine / unit), np.asarray(lif_analytic_rate(model, fine) / Hz), "-",
                      color="#d62728", lw=1.2, alpha=0.7, label="analytic")
        if raw["rheobase"] is not None:
            rb = float(raw["rheobase"] / unit)
            ax_f.axvline(rb, color="#1f77b4", ls=":", lw=1.2, label=f"rheobase {rb:.3g} {axis_unit}")
        ax_f.set_ylabel("steady rate (Hz)")
        ax_f.set_title("f-I curve", fontsize=9, loc="left")
        ax_f.legend(fontsize=7, loc="upper left", framealpha=0.85)
        for ax in (ax_v, ax_f):
            ax.spines[["top", "right"]].set_visible(False)
            ax.grid(alpha=0.25, linewidth=0.6)
    axes[-1, 0].set_xlabel("time (ms)  (grey: current step on)")
    axes[-1, 1].set_xlabel(f"injected current ({axis_unit})")
    height = fig.get_size_inches()[1]
    fig.suptitle(f"{FAMILY_TITLES.get(family, family)}: step responses and f-I curves (dt "
                 f"{float(raws[names[0]]['dt'] / ms):g} ms)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.2 / height))
    fig.savefig(path)


def plot_fi_overview(raws: dict, path) -> None:
    """All f-I curves, one panel per current unit (nA | uA/cm**2)."""
    import matplotlib

    from bioplastic.plotting import new_figure

    groups = {}
    for name in raws:
        groups.setdefault(DISPLAY_UNIT[family_of(name)][1], []).append(name)
    fig, axes = new_figure(1, len(groups), figsize=(5.2 * len(groups), 4), squeeze=False, dpi=110)
    for ax, (unit_text, names) in zip(axes[0], groups.items()):
        unit = DISPLAY_UNIT[family_of(names[0])][0]
        cmap = matplotlib.colormaps["tab10"]
        for k, name in enumerate(names):
            raw = raws[name]
            ax.plot(np.asarray(raw["currents"] / unit), np.asarray(raw["rates"] / Hz),
                    "o--" if family_of(name) == "lif" else "o-", ms=2, lw=1.1, color=cmap(k % 10), label=name)
        ax.set_xlabel(f"injected current ({unit_text.replace('uA/cm**2', 'µA/cm²')})")
        ax.set_ylabel("steady rate (Hz)")
        ax.set_title("f-I curves, current per membrane area" if "cm" in unit_text
                     else "f-I curves, point neurons", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.25, linewidth=0.6)
    fig.tight_layout()
    fig.savefig(path)


# ---------------------------------------------------------------- the study

def _network_part(config: dict, out_dir) -> dict:
    from bioplastic.studies.supervised import prepare, save_arrays, summarize, train_and_test
    from bioplastic.sweep import map_tasks

    names = list(config["variants"])
    if not names:
        raise ConfigError("neuron_models.network is on but `variants` is empty: give one variant per "
                          "excitatory neuron model to compare (or set neuron_models.network: false).")
    classes = list(config["data"]["classes"])
    tasks = []
    for name in names:
        cfg = variant_config(config, name)
        prepare(cfg, classes)                      # fail fast: models, data, classes
        tasks.append((cfg, name, classes))
    results = map_tasks(train_and_test, tasks, workers=int(config["workers"]), scheduler=config["scheduler"])
    metrics = summarize(results)
    for (cfg, name, _), r in zip(tasks, results):
        net = cfg["network"]
        layer = net["layers"][spec_from_config(cfg, len(cfg["data"]["classes"])).readout_layer]
        v = metrics["variants"][name]
        v.update(excitatory_model=layer["neuron"]["model"], dt=str(net["dt"]),
                 w_inh_exc=(layer["inhibition"] or {}).get("w_inh_exc"),
                 final_accuracy_mean=float(np.asarray(r["accuracy"])[:, -1].mean()),
                 final_accuracy_std=float(np.asarray(r["accuracy"])[:, -1].std()),
                 n_test_images=int(cfg["data"]["n_test"]))
    save_arrays(results, out_dir, study="neuron_models")
    plot_network(metrics, out_dir)
    return metrics


def plot_network(network_metrics: dict, out_dir) -> list[Path]:
    """``network_accuracy.png`` from metrics.json's ``network`` part and ``weights_<variant>.png`` from
    ``weights.nc`` (the supervised study's figures)."""
    path = Path(out_dir) / "network_accuracy.png"
    plotting.learning_curves(network_metrics, path, title="Supervised STDP + All-LTD: excitatory neuron model swapped")
    return [path, *plot_weight_grids(network_metrics, out_dir, caption="input weights")]


def run(config: dict, out_dir) -> dict:
    section = config["neuron_models"]
    names = list(section["models"])
    if not names:
        raise ConfigError("neuron_models.models is empty: list the models to characterise, e.g. [lif, izhikevich_rs].")
    # Everything checkable first: settings, model names and overrides.
    settings = {name: _model_config(config, name) for name in names}
    models = {name: NEURON_MODELS[name].validate() for name in names}
    if section["network"]:
        for name in config["variants"]:
            cfg = variant_config(config, name)
            spec_from_config(cfg, len(cfg["data"]["classes"]))     # models, layers, projections
    started = time.time()
    previous_device = brian2.get_device()
    brian2.set_device("runtime")                   # characterisation: many short runtime runs
    metrics, raws = {"models": {}}, {}
    try:
        for name in names:
            metrics["models"][name], raws[name] = characterize_model(name, models[name], settings[name],
                                                                     float(section["rheobase_tolerance"]))
    finally:
        if previous_device is not brian2.get_device():
            brian2.set_device(previous_device)
    metrics["characterization_wall_time_s"] = time.time() - started
    save_traces(raws, out_dir / "single_neurons.npz")
    metrics["figures"] = [path.name for path in plot_single_neurons(metrics, out_dir)]
    if section["network"]:
        started = time.time()
        metrics["network"] = _network_part(config, out_dir)
        metrics["network"]["wall_time_s"] = time.time() - started
    write_json(out_dir / "metrics.json", metrics)
    write_metrics_long(out_dir, metric_table(metrics))
    return metrics


def metric_table(metrics: dict) -> list[dict]:
    """The rows of ``metrics_long`` from metrics.json: each model's rheobase (measured and, for the
    plain LIF, analytic; unit in the metric's name) and highest f-I rate, then the network part's
    rows (:func:`bioplastic.studies.supervised.metric_table`)."""
    from bioplastic.studies.supervised import metric_table as network_table

    rows = []
    for name, m in metrics["models"].items():
        for key in ("rheobase", "analytic_rheobase"):
            if m.get(key):
                value, unit = m[key].split(" ", 1)
                rows += metric_rows(f"{key}_{unit.replace('/cm**2', '_per_cm2')}", float(value), variant=name)
        rows += metric_rows("max_rate_hz", m["max_rate_hz"], variant=name)
    return rows + (network_table(metrics["network"]) if "network" in metrics else [])


def save_traces(raws: dict, path) -> None:
    """``single_neurons.npz``: what the single-neuron figures show, per model ``<name>.<key>`` in SI units
    (step responses: t, v [level, time], step_currents, onset, offset; f-I curve: currents, rates;
    rheobase (NaN: none found) and dt)."""
    arrays = {}
    for name, raw in raws.items():
        step = raw["step"]
        values = {"t": step.t, "v": np.atleast_2d(np.asarray(step.v)), "step_currents": step.currents,
                  "onset": step.onset, "offset": step.offset, "currents": raw["currents"], "rates": raw["rates"],
                  "rheobase": np.nan if raw["rheobase"] is None else raw["rheobase"], "dt": raw["dt"]}
        arrays.update({f"{name}.{key}": np.asarray(value, dtype=float) for key, value in values.items()})
    np.savez_compressed(path, **arrays)


def load_traces(path, models: dict) -> dict:
    """The raw results of :func:`characterize_model` that :func:`plot_family` draws, from :func:`save_traces`."""
    from types import SimpleNamespace

    raws = {}
    with np.load(path) as saved:
        for name, model in models.items():
            unit = DISPLAY_UNIT[family_of(name)][0]

            def get(key, dim, _name=name):
                return brian2.Quantity(saved[f"{_name}.{key}"], dim=dim)
            step = SimpleNamespace(t=get("t", brian2.second.dim), v=get("v", brian2.volt.dim),
                                   currents=get("step_currents", unit.dim), onset=get("onset", brian2.second.dim),
                                   offset=get("offset", brian2.second.dim))
            currents = get("currents", unit.dim)
            rheobase = get("rheobase", unit.dim)
            raws[name] = {"step": step, "currents": currents, "rates": get("rates", Hz.dim),
                          "rheobase": None if np.isnan(float(rheobase / unit)) else rheobase,
                          "analytic": lif_analytic_rate(model, currents) if _has_analytic_lif(model) else None,
                          "dt": get("dt", brian2.second.dim)}
    return raws


def plot_single_neurons(metrics: dict, out_dir) -> list[Path]:
    """``step_and_fi_<family>.png`` per model family and ``fi_curves.png``, from ``single_neurons.npz``."""
    out_dir = Path(out_dir)
    names = list(metrics["models"])
    models = {name: NEURON_MODELS[name].validate() for name in names}
    source = out_dir / "single_neurons.npz"
    if not source.exists():
        plotting.skipped(f"the single-neuron figures are not drawn: {source.name} is missing (run folders written "
                         "before the traces were saved have none).")
        return []
    raws = load_traces(source, models)
    written = []
    for family in dict.fromkeys(family_of(n) for n in names):
        path = out_dir / f"step_and_fi_{family}.png"
        plot_family(family, {n: raws[n] for n in names if family_of(n) == family}, models, path)
        written.append(path)
    plot_fi_overview(raws, out_dir / "fi_curves.png")
    return [*written, out_dir / "fi_curves.png"]


def plot(metrics: dict, config: dict, out_dir) -> list[Path]:
    """Every figure of a run, from its folder: the single-neuron figures from ``single_neurons.npz``
    (the models themselves from the registry, for their descriptions and the LIF's closed form) and,
    when the network part ran, the supervised study's figures (:func:`plot_network`)."""
    written = plot_single_neurons(metrics, out_dir)
    if "network" in metrics:
        written += plot_network(metrics["network"], out_dir)
    return written


def report(runs: list[tuple[dict, dict]]) -> str:
    """Per run: rheobase and rates of every model; the network's test accuracy per variant when it ran."""
    blocks = []
    for k, (_, metrics) in enumerate(runs, 1):
        lines = [f"Run {k}:", ""] if len(runs) > 1 else []
        lines += ["| model | rheobase (measured) | analytic rheobase | max rate | steady rate per step current |",
                  "|---|---:|---:|---:|---|"]
        for name, m in metrics["models"].items():
            steps = ", ".join(f"{current}: {s['steady_rate_hz']:.1f} Hz" for current, s in m["steps"].items())
            lines.append(f"| {name} | {m['rheobase'] or '-'} | {m.get('analytic_rheobase') or ''} | "
                         f"{m['max_rate_hz']:.1f} Hz | {steps} |")
        if "network" in metrics:
            variants = metrics["network"]["variants"]
            n_last = next(iter(variants.values()))["n_train_images"][-1]
            lines += ["", f"| variant | excitatory model | dt | after {n_last} images | over the curve |",
                      "|---|---|---|---:|---:|"]
            for name, v in variants.items():
                overall = v["mean_over_curve_and_seeds"]
                lines.append(f"| {name} | {v['excitatory_model']} | {v['dt']} | {v['final_accuracy_mean']:.1f} ± "
                             f"{v['final_accuracy_std']:.1f} % | {overall[0]:.1f} ± {overall[1]:.1f} % |")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def summary_text(metrics: dict) -> str:
    lines = ["", f"{'model':<16} {'rheobase':>20} {'rate at 2x rheobase':>20} {'max rate':>10}"]
    for name, m in metrics["models"].items():
        rates = np.asarray(m["fi"]["rates_hz"], dtype=float)
        currents = np.array([float(c.split()[0]) for c in m["fi"]["currents"]])
        at2 = ""
        if m["rheobase"]:
            target = 2 * float(m["rheobase"].split()[0])
            if currents[0] <= target <= currents[-1]:
                at2 = f"{np.interp(target, currents, rates):.1f} Hz"
        lines.append(f"{name:<16} {m['rheobase'] or '-':>20} {at2:>20} {m['max_rate_hz']:>7.1f} Hz")
    if "network" in metrics:
        lines += ["", "network test accuracy, mean ± std over seeds (%):"]
        for name, v in metrics["network"]["variants"].items():
            overall = v["mean_over_curve_and_seeds"]
            lines.append(f"  {name:<16} ({v['excitatory_model']}, dt {v['dt']}, w_inh_exc {v['w_inh_exc']}): "
                         f"after {v['n_train_images'][-1]} images {v['final_accuracy_mean']:5.1f} ± "
                         f"{v['final_accuracy_std']:4.1f}; over the curve {overall[0]:5.1f} ± {overall[1]:4.1f}")
    return "\n".join(lines)
