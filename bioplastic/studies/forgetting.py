"""Catastrophic forgetting: MNIST digits (task 1), then EMNIST letters (task 2).

Architecture (reported with every number, see :func:`describe_architecture`): either ONE
plastic layer of excitatory neurons on a 2-D sheet, supervised STDP + All-LTD, with one
segment per class of both tasks (10 digit segments, then 26 letter segments); or TWO
plastic layers (``network.hidden``): an unsupervised STDP layer on its own sheet (lateral
inhibition radius R1) feeding those segments (radius R2). The reference used a
convolutional SpykeTorch network with two S-layers (radii R1, R2); we reproduce its
protocol and protections, not its architecture. Protections act on every plastic layer.

Readout after task 2: digit test images are classified among the 10 digit segments only,
letter test images among the 26 letter segments only; so "task 2 digits %" is how much of
task 1 survives in the weights, as in the reference. Forgetting = digit accuracy after
task 1 minus digit accuracy after task 2.

Protections (per variant): lateral-inhibition radius on the sheet; freezing the largest
weights after task 1 (globally or per neuron); Langevin ranges: after task 1, train on
task 1 data with weight noise, record every weight's trajectory, and bound each weight to
two quantiles of it during task 2.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bioplastic import netcdf, plotting
from bioplastic.config import variant_config
from bioplastic.data import balanced_sample, load_dataset, relabel
from bioplastic.errors import ConfigError
from bioplastic.evaluation import TestSpikes, evaluate_batched
from bioplastic.readout import segment_readout
from bioplastic.protections import freeze_mask, quantile_bounds
from bioplastic.results import metric_rows, write_json, write_metrics_long
from bioplastic.studies.common import (device_from_config, flatten_snapshots, protocol_durations, protocol_options,
                                       spec_from_config, train_with_snapshots)
from bioplastic.sweep import map_tasks



@dataclasses.dataclass
class Task:
    train: object                 # the Dataset of this task's classes
    train_images: np.ndarray
    train_labels: np.ndarray      # segment indices
    test_images: np.ndarray
    test_labels: np.ndarray       # segment indices
    segments: list                # segments of this task's classes
    note: str
    class_names: list             # of this task's classes, in segment order


def load_task(config: dict, key: str, offset: int) -> Task:
    section = config["forgetting"][key]
    options = {"verify": config["data"]["verify"]}
    if section["dataset"] == "emnist_letters":
        options["holdout_per_class"] = int(config["data"]["holdout_per_class"])
    from bioplastic.data import select_classes
    train = select_classes(load_dataset(section["dataset"], "train", **options), section["classes"])
    test = select_classes(load_dataset(section["dataset"], "test", **options), section["classes"])
    classes = [int(c) for c in section["classes"]]
    test_idx = balanced_sample(test, int(section["n_test"]), seed=int(config["evaluation"]["test_seed"]), indices=True)
    return Task(train, train.images.reshape(len(train.images), -1), offset + relabel(train.labels, classes),
                test.images[test_idx], offset + relabel(test.labels[test_idx], classes),
                list(range(offset, offset + len(classes))), test.note, [train.class_names[c] for c in classes])


def seeded_orders(task: Task, n: int, seeds, salt: int) -> np.ndarray:
    """Balanced presentation orders, one per seed; ``salt`` keeps the phases' samples distinct."""
    return np.stack([balanced_sample(task.train, n, seed=int(s) * 1000 + salt, indices=True) for s in seeds])


def accuracy(spec, weights: dict, states: dict, task: Task, config, image_duration) -> np.ndarray:
    """[set, copy] accuracy on a task's test images, reading out among its own segments.

    ``weights``: {projection: [set, copy, ...]}; ``states``: {``layer.var``: [set, copy, n]}.
    """
    n_sets, n_copies = next(iter(weights.values())).shape[:2]
    spikes = TestSpikes(task.test_images, spec, image_duration, seed=int(config["evaluation"]["test_seed"]))
    flat_w, flat_s = flatten_snapshots(weights, states)
    with tqdm(total=n_sets * n_copies * len(task.test_images), desc="evaluating", unit="img", leave=False,
              mininterval=2) as bar:
        counts = evaluate_batched(spec, spikes, flat_w, flat_s, batch_size=int(config["evaluation"]["batch_size"]),
                                  progress=bar)
    pred = segment_readout(counts, spec.segments(), spec.n_classes, among=task.segments)
    return ((pred == task.test_labels[None]).mean(-1) * 100).reshape(n_sets, n_copies)


def describe_architecture(spec) -> str:
    """The network, without its lateral-inhibition settings (each variant's own knob)."""
    readout = spec.readout
    segments = f"{readout.n_classes} segments (one per class of both tasks) x {readout.n_per_class} neurons"
    others = [layer for name, layer in spec.layers.items() if name != spec.readout_layer]
    if not others:
        return f"single plastic layer: {spec.n_inputs} inputs -> {segments}; supervised STDP + All-LTD"
    hidden = ", ".join(f"{layer.size} {layer.name} neurons" for layer in others)
    rules = sorted({p.rule.name for p in spec.projections.values() if p.plastic and p.target != spec.readout_layer})
    return (f"{len(others) + 1} plastic layers: {spec.n_inputs} inputs -> {hidden} ({', '.join(rules)}, "
            f"unsupervised) -> {segments}; supervised STDP + All-LTD in the last layer")


def protected_projections(spec, config) -> list[str]:
    """Projections the protections act on: ``forgetting.protect`` or every plastic one."""
    names = config["forgetting"]["protect"]
    if names is None:
        return spec.plastic_projections
    unknown = [n for n in names if n not in spec.plastic_projections]
    if unknown:
        raise ConfigError(f"forgetting.protect: {unknown} are not plastic projections of the network; "
                          f"plastic projections: {', '.join(spec.plastic_projections)}.")
    return list(names)


def run_variant(task_args) -> dict:
    config, variant = task_args
    study = config["forgetting"]
    digits, letters = load_task(config, "task1", 0), load_task(config, "task2", len(study["task1"]["classes"]))
    n_classes = len(digits.segments) + len(letters.segments)
    spec = bounded(spec_from_config(config, n_classes))
    protect = protected_projections(spec, config)
    device = device_from_config(config)
    image_duration, rest_duration = protocol_durations(config)
    seeds = list(config["seeds"])
    n1, n2 = int(study["task1"]["n_train"]), int(study["task2"]["n_train"])
    w0 = spec.seeded_initial_weights(seeds)

    # Task 1: digits.
    order1 = seeded_orders(digits, n1, seeds, salt=1)
    t1 = train_with_snapshots(spec, device, digits.train_images, order1, digits.train_labels[order1], n1,
                              image_duration, rest_duration, w0, label=f"{variant} task 1",
                              brian_seed=seeds[0] * 10 + 1, **protocol_options(config))
    w1, s1 = t1.final()
    task1_digits = accuracy(spec, {k: v[None] for k, v in w1.items()}, {k: v[None] for k, v in s1.items()}, digits,
                            config, image_duration)[0]

    # Protections computed from the task 1 result, for every protected projection.
    synapse_state, notes = {name: {} for name in protect}, []
    freeze = study["freeze"]
    if float(freeze["fraction"]) > 0:
        for name in protect:
            synapse_state[name]["plastic_w"] = freeze_mask(w1[name], float(freeze["fraction"]), freeze["scope"])
        notes.append(f"froze the largest {100 * float(freeze['fraction']):.0f} % of weights ({freeze['scope']}"
                     f"{', in each of ' + ', '.join(protect) if len(protect) > 1 else ''})")
    langevin = study["langevin"]
    if langevin["enabled"]:
        n_l, every = int(langevin["n_images"]), int(langevin["record_every"])
        order_l = seeded_orders(digits, n_l, seeds, salt=2)
        tl = train_with_snapshots(spec, device, digits.train_images, order_l, digits.train_labels[order_l], every,
                                  image_duration, rest_duration, w1, label=f"{variant} Langevin",
                                  initial_state=s1, langevin_sigma=float(langevin["sigma"]),
                                  brian_seed=seeds[0] * 10 + 2, **protocol_options(config))
        quantiles = [float(q) for q in langevin["quantiles"]]
        ranges = []
        for name in protect:
            lo, hi = quantile_bounds(tl.weights[name][1:], *quantiles)
            synapse_state[name].update(w_lo=lo, w_hi=hi)
            w1[name] = np.clip(w1[name], lo, hi)
            ranges.append(hi - lo)
        notes.append(f"Langevin ranges: {n_l} noisy task-1 images (sigma {langevin['sigma']} per weight "
                     f"per schedule slot), {len(tl.n_images) - 1} samples per weight, quantiles "
                     f"{quantiles}; mean range {', '.join(f'{float(np.mean(r)):.4f}' for r in ranges)}")

    # Task 2: letters, with snapshots for the curve.
    order2 = seeded_orders(letters, n2, seeds, salt=3)
    t2 = train_with_snapshots(spec, device, letters.train_images, order2, letters.train_labels[order2],
                              int(study["eval_every"]), image_duration, rest_duration, w1, label=f"{variant} task 2",
                              initial_state=s1, synapse_state={k: v for k, v in synapse_state.items() if v},
                              brian_seed=seeds[0] * 10 + 3, **protocol_options(config))
    curves = [accuracy(spec, t2.weights, t2.states, task, config, image_duration) for task in (digits, letters)]
    curve_digits, curve_letters = curves
    return {"variant": variant, "seeds": seeds, "task1_digits": task1_digits, "n_letters_seen": t2.n_images,
            "n_task1_images": n1, "arrays": snapshots_dataset(spec, t1, t2, seeds, digits, letters),
            "curve_digits": curve_digits.T, "curve_letters": curve_letters.T,     # [copy, snapshot]
            "task2_digits": curve_digits[-1], "task2_letters": curve_letters[-1],
            "forgetting": task1_digits - curve_digits[-1], "notes": notes, "letters_note": letters.note,
            "architecture": describe_architecture(spec), "wall_time_s": t1.wall_time_s + t2.wall_time_s}


def snapshots_dataset(spec, t1, t2, seeds, digits: Task, letters: Task):
    """The weights and states of both tasks' snapshots (:mod:`bioplastic.netcdf`): coordinate ``task``
    (1, 2) and ``n_images`` (images of that task seen) per snapshot; the class of each readout neuron."""
    joined = [{k: np.concatenate([np.asarray(a[k]), np.asarray(b[k])]) for k in a} for a, b in
              ((t1.weights, t2.weights), (t1.states, t2.states))]
    task = np.repeat([1, 2], [len(t1.n_images), len(t2.n_images)])
    return netcdf.training_dataset(spec, *joined, seeds, np.concatenate([t1.n_images, t2.n_images]),
                                   coords={"task": ("snapshot", task),
                                           **netcdf.segment_classes(spec, digits.class_names + letters.class_names)})


def bounded(spec):
    """The spec with per-synapse bounds in every plastic projection (freeze masks, Langevin ranges)."""
    return dataclasses.replace(spec, projections={
        name: dataclasses.replace(p, rule=p.rule.with_overrides(per_synapse_bounds=True)) if p.plastic else p
        for name, p in spec.projections.items()})


def run(config: dict, out_dir) -> dict:
    names = list(config["variants"])
    tasks = [(variant_config(config, name), name) for name in names]
    checked_data = []
    for cfg, _ in tasks:
        spec_from_config(cfg, 36)            # fail fast on bad models or parameters ...
        data = (cfg["data"], cfg["forgetting"]["task1"], cfg["forgetting"]["task2"])
        if data not in checked_data:         # ... and on bad data, once per distinct data setting
            load_task(cfg, "task1", 0), load_task(cfg, "task2", 10)
            checked_data.append(data)
    results = map_tasks(run_variant, tasks, workers=int(config["workers"]), scheduler=config["scheduler"])
    metrics = {"architectures": sorted({r["architecture"] for r in results}),
               "letters_test_set": results[0]["letters_note"], "variants": {}}
    for r in results:
        metrics["variants"][r["variant"]] = {
            key: {"mean": float(np.mean(r[key])), "std": float(np.std(r[key])), "per_seed": r[key]}
            for key in ("task1_digits", "task2_letters", "task2_digits", "forgetting")}
        metrics["variants"][r["variant"]].update(
            seeds=r["seeds"], n_task1_images=r["n_task1_images"],
            n_letters_seen=r["n_letters_seen"], curve_digits=r["curve_digits"], curve_letters=r["curve_letters"],
            notes=r["notes"], wall_time_s=r["wall_time_s"], architecture=r["architecture"])
    baselines = config["forgetting_report"]
    for name, v in metrics["variants"].items():
        base = metrics["variants"].get(baselines["baselines"].get(name, baselines["default_baseline"]))
        if base and base is not v and v["forgetting"]["mean"] > 0 and base["forgetting"]["mean"] > 0:
            v["forgetting_reduction_vs_baseline"] = base["forgetting"]["mean"] / v["forgetting"]["mean"]
    write_json(out_dir / "metrics.json", metrics)
    write_metrics_long(out_dir, metric_table(metrics))
    netcdf.write(Path(out_dir) / "weights.nc", netcdf.combine([({"variant": r["variant"]}, r["arrays"])
                                                               for r in results]), study="forgetting")
    (out_dir / "tables.md").write_text(tables_markdown(metrics))
    plot(metrics, config, out_dir)
    return metrics


def metric_table(metrics: dict) -> list[dict]:
    """The rows of ``metrics_long`` from metrics.json, per variant and seed: test accuracy (%) on the
    digits after task 1, on digits and letters (class_set) at every task-2 checkpoint (letters seen),
    and the forgetting (points) at the end of task 2."""
    rows = []
    for name, v in metrics["variants"].items():
        for k, seed in enumerate(v["seeds"]):
            labels = {"variant": name, "seed": seed, "checkpoint_unit": "images"}
            rows += metric_rows("test_accuracy_percent", v["task1_digits"]["per_seed"][k], [v["n_task1_images"]],
                                class_set="digits", phase="task1", **labels)
            for test_set in ("digits", "letters"):
                rows += metric_rows("test_accuracy_percent", v[f"curve_{test_set}"][k], v["n_letters_seen"],
                                    class_set=test_set, phase="task2", **labels)
            rows += metric_rows("forgetting_points", v["forgetting"]["per_seed"][k], v["n_letters_seen"][-1:],
                                class_set="digits", phase="task2", **labels)
    return rows


def plot(metrics: dict, config: dict, out_dir) -> list[Path]:
    """The run's figure from metrics.json and config.yaml alone: ``forgetting.png``, the panels of
    ``forgetting_report.panels``."""
    path = Path(out_dir) / "forgetting.png"
    plotting.forgetting_panels(metrics, config["forgetting_report"]["panels"], path)
    return [path]


def report(runs: list[tuple[dict, dict]]) -> str:
    """Each run's tables (:func:`tables_markdown`)."""
    return "\n".join((f"Run {k}:\n\n" if len(runs) > 1 else "") + tables_markdown(metrics)
                     for k, (_, metrics) in enumerate(runs, 1))


def tables_markdown(metrics: dict) -> str:
    def cell(v, key):
        return f"{v[key]['mean']:.1f} ± {v[key]['std']:.1f}"
    architectures = metrics["architectures"]
    lines = [f"Letters test set: {metrics['letters_test_set']}.", "", "Architectures:"]
    lines += [f"* [{k + 1}] {a}" for k, a in enumerate(architectures)]
    lines += ["", "| variant | arch. | task 1 digits % | task 2 letters % | task 2 digits % | forgetting (points) "
              "| reduction |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, v in metrics["variants"].items():
        factor = v.get("forgetting_reduction_vs_baseline")
        lines.append(f"| {name} | [{architectures.index(v['architecture']) + 1}] | {cell(v, 'task1_digits')} "
                     f"| {cell(v, 'task2_letters')} | {cell(v, 'task2_digits')} "
                     f"| {cell(v, 'forgetting')} | {'' if factor is None else f'{factor:.2f}x'} |")
    return "\n".join(lines) + "\n"


def summary_text(metrics: dict) -> str:
    return "\n" + tables_markdown(metrics)
