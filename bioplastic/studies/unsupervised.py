"""Unsupervised STDP with a label-assignment readout: Diehl & Cook (2015) on MNIST.

Training presents ``data.n_train`` images (all classes, balanced, seeded) to a layer
learning without labels (their rule: ``diehl_cook``), with adaptive thresholds, weight
normalisation and their repeat rule (an image evoking fewer than 5 spikes is shown again
with 32 Hz more input; ``protocol.repeat``). Then, with plasticity and thresholds frozen:

1. labelling pass: ``unsupervised.n_label`` training images; each neuron is labelled with
   the class to which it responded most (:func:`bioplastic.readout.assign_labels`);
2. test pass: ``data.n_test`` test images; the prediction is the class whose neurons have
   the highest mean response (:func:`bioplastic.readout.label_assignment_readout`).

Both passes use the batched evaluation (one compiled network re-run on batches of images).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bioplastic import netcdf, plotting
from bioplastic.config import variant_config
from bioplastic.data import sample_indices as sample
from bioplastic.errors import ConfigError
from bioplastic.evaluation import TestSpikes, evaluate_batched
from bioplastic.readout import assign_labels, label_assignment_readout
from bioplastic.results import metric_rows, write_json, write_metrics_long
from bioplastic.studies.common import (device_from_config, flatten_snapshots, load_split, protocol_durations,
                                       protocol_options, repeat_rule, spec_from_config, train_with_snapshots)
from bioplastic.studies.supervised import readout_projection
from bioplastic.sweep import map_tasks



def prepare(config: dict):
    """Everything checkable before computation: network, readout, data, sizes."""
    classes = list(config["data"]["classes"])
    spec = spec_from_config(config, len(classes))
    if spec.readout_kind != "label_assignment":
        raise ConfigError("the unsupervised study reads out by label assignment: set network.readout.kind: "
                          "label_assignment.")
    if any(p.rule is not None and p.rule.name == "supervised" for p in spec.projections.values()):
        raise ConfigError("the unsupervised study learns without labels: no projection may use the 'supervised' rule.")
    if config["unsupervised"]["evaluate"] not in ("last", "all"):
        raise ConfigError(f"unsupervised.evaluate must be 'last' or 'all', got {config['unsupervised']['evaluate']!r}.")
    train, test = load_split(config, "train", classes), load_split(config, "test", classes)
    for key, split in (("n_train", train), ("n_test", test)):
        if int(config["data"][key]) > len(split.labels):
            raise ConfigError(f"data.{key} = {config['data'][key]} but the split has {len(split.labels)} images.")
    return spec, train, test, classes


def _counts(spec, images, weights, states, config, image_duration, seed, desc):
    """Spike counts of the readout layer: [set, image, neuron].

    With ``protocol.repeat`` on, an image that evokes fewer than ``min_spikes`` spikes is shown
    again with ``rate_increase`` more input, up to ``max_repeats`` times, as Diehl & Cook do in
    their test runs too; the counts of its last presentation are kept.
    """
    from bioplastic.devices import DeviceConfig
    n_sets = len(next(iter(weights.values())))
    device = DeviceConfig(name=config["unsupervised"]["eval_device"]).validate()
    rule = repeat_rule(config)
    batch_size = int(config["evaluation"]["batch_size"])
    with tqdm(total=n_sets * len(images), desc=desc, unit="img", mininterval=2, leave=False) as bar:
        counts = evaluate_batched(spec, TestSpikes(images, spec, image_duration, seed=seed), weights, states,
                                  batch_size=batch_size, progress=bar, device=device)
    for k in range(1, rule.max_repeats + 1 if rule else 1):
        quiet = counts.sum(-1) < rule.min_spikes                  # [set, image]
        if not quiet.any():
            break
        boosted = dataclasses.replace(spec, max_rate=spec.max_rate + k * rule.rate_increase)
        for s in range(n_sets):
            idx = np.flatnonzero(quiet[s])
            if len(idx):
                again = evaluate_batched(boosted, TestSpikes(images[idx], boosted, image_duration, seed=seed + k),
                                         {p: w[s:s + 1] for p, w in weights.items()},
                                         {v: x[s:s + 1] for v, x in states.items()}, batch_size=batch_size,
                                         device=device)
                counts[s, idx] = again[0]
    return counts


def train_and_test(task) -> dict:
    config, variant = task
    spec, train, test, classes = prepare(config)
    image_duration, rest_duration = protocol_durations(config)
    seeds = list(config["seeds"])
    n_train, n_test = int(config["data"]["n_train"]), int(config["data"]["n_test"])
    section = config["unsupervised"]
    orders = np.stack([sample(train, n_train, seed) for seed in seeds])
    eval_every = config["protocol"]["eval_every"]
    trained = train_with_snapshots(spec, device_from_config(config), train.images.reshape(len(train.images), -1),
                                   orders, np.zeros_like(orders), eval_every, image_duration, rest_duration,
                                   spec.seeded_initial_weights(seeds), label=f"{variant}: training",
                                   brian_seed=seeds[0], repeat=repeat_rule(config), **protocol_options(config))
    weights, states = trained.weights, trained.states
    if section["evaluate"] == "last":
        weights, states = {k: v[-1:] for k, v in weights.items()}, {k: v[-1:] for k, v in states.items()}
    n_snap = len(next(iter(weights.values())))
    flat_w, flat_s = flatten_snapshots(weights, states)
    label_idx = sample(train, int(section["n_label"]), int(section["label_seed"]))
    test_idx = sample(test, n_test, int(config["evaluation"]["test_seed"]))
    started = time.time()
    label_counts = _counts(spec, train.images[label_idx], flat_w, flat_s, config, image_duration,
                           int(section["label_seed"]), f"{variant}: labelling")
    assignments = assign_labels(label_counts, train.labels[label_idx], len(classes))     # [set, neuron]
    test_counts = _counts(spec, test.images[test_idx], flat_w, flat_s, config, image_duration,
                          int(config["evaluation"]["test_seed"]), f"{variant}: testing")
    pred = np.stack([label_assignment_readout(test_counts[s], assignments[s], len(classes))
                     for s in range(len(assignments))])
    accuracy = (pred == test.labels[test_idx][None]).mean(-1).reshape(n_snap, len(seeds)).T * 100
    completed = trained.images_completed
    final_assignments = assignments.reshape(n_snap, len(seeds), -1)[-1]           # [seed, neuron]
    layer = spec.readout_layer
    assigned = {f"{layer}_assigned_class": (("seed", layer), final_assignments,
                                            {"long_name": "class each neuron was labelled with after training, an "
                                                          "index into data.classes (-1: it never fired)"})}
    return {"variant": variant, "seeds": seeds, "n_train_images": trained.n_images if section["evaluate"] == "all"
            else trained.n_images[-1:], "accuracy": accuracy,
            "images_completed": None if completed is None else completed[-1],
            "silent_fraction": (pred == -1).mean(-1).reshape(n_snap, len(seeds)).T,
            "neurons_per_class": np.stack([(a == np.arange(len(classes))[:, None]).sum(-1)
                                           for a in final_assignments]),
            "train_wall_time_s": trained.wall_time_s, "eval_wall_time_s": time.time() - started,
            "train_compile_s": trained.timings["compile_s"], "train_run_s": trained.timings["run_s"],
            "simulated_s": trained.simulated_s, "n_label": len(label_idx), "n_test": len(test_idx),
            "classes": [train.class_names[c] for c in classes], "n_neurons": spec.readout.size,
            "arrays": netcdf.training_dataset(spec, trained.weights, trained.states, seeds, trained.n_images,
                                              coords=assigned, readout_projection=readout_projection(spec))}


def run(config: dict, out_dir) -> dict:
    names = list(config["variants"]) or ["default"]
    tasks = [(variant_config(config, name) if config["variants"] else config, name) for name in names]
    for cfg, _ in tasks:
        prepare(cfg)                               # fail fast, before any simulation
    results = map_tasks(train_and_test, tasks, workers=int(config["workers"]), scheduler=config["scheduler"])
    metrics = {"variants": {}}
    for r in results:
        acc = np.asarray(r["accuracy"])
        metrics["variants"][r["variant"]] = {
            "n_neurons": r["n_neurons"], "n_train_images": r["n_train_images"], "classes": r["classes"],
            "images_completed_per_seed": r["images_completed"],
            "accuracy_per_seed": {str(s): a for s, a in zip(r["seeds"], acc)},
            "silent_fraction_per_seed": {str(s): f for s, f in zip(r["seeds"], r["silent_fraction"])},
            "accuracy_mean": acc.mean(0), "accuracy_std": acc.std(0),
            "final_accuracy_mean": float(acc[:, -1].mean()), "final_accuracy_std": float(acc[:, -1].std()),
            "silent_fraction_mean": np.asarray(r["silent_fraction"]).mean(0),
            "neurons_per_class": r["neurons_per_class"], "n_label_images": r["n_label"], "n_test_images": r["n_test"],
            "train_wall_time_s": r["train_wall_time_s"], "eval_wall_time_s": r["eval_wall_time_s"],
            "train_compile_s": r["train_compile_s"], "train_run_s": r["train_run_s"],
            # The simulation alone (compilation apart), per presentation (repeats included).
            "train_s_per_presentation": r["train_run_s"] / max(1, int(np.max(r["n_train_images"]))),
            "simulated_biological_time_s": r["simulated_s"]}
    write_json(out_dir / "metrics.json", metrics)
    write_metrics_long(out_dir, metric_table(metrics))
    # The trained network itself, so that it can be evaluated, analysed or drawn again without training.
    netcdf.write(out_dir / "weights.nc", netcdf.combine([({"variant": r["variant"]}, r["arrays"]) for r in results]),
                 study="unsupervised")
    plot(metrics, config, out_dir)
    return metrics


def metric_table(metrics: dict) -> list[dict]:
    """The rows of ``metrics_long`` from metrics.json, per variant, seed and checkpoint: test accuracy (%)
    and silent fraction; with the repeat rule, checkpoints count presentations and the images shown to
    the end are a metric of the last one."""
    rows = []
    for name, v in metrics["variants"].items():
        completed = v.get("images_completed_per_seed")
        labels = {"variant": name, "class_set": ",".join(map(str, v.get("classes", []))),
                  "checkpoint_unit": "images" if completed is None else "presentations"}
        for k, seed in enumerate(v["accuracy_per_seed"]):
            at = {**labels, "seed": int(seed), "checkpoints": v["n_train_images"]}
            rows += metric_rows("test_accuracy_percent", v["accuracy_per_seed"][seed], **at)
            rows += metric_rows("silent_fraction", v["silent_fraction_per_seed"][seed], **at)
            if completed is not None:
                rows += metric_rows("images_completed", completed[k], **dict(at, checkpoints=v["n_train_images"][-1:]))
    return rows


def plot(metrics: dict, config: dict, out_dir) -> list[Path]:
    """The run's figures from its folder: ``weights_<variant>.png``, the readout layer's input weights of
    the first seed with each neuron's assigned class, from ``weights.nc``."""
    source = Path(out_dir) / "weights.nc"
    if not source.exists():
        plotting.skipped(f"the weight figures are not drawn: {source.name} is missing (run folders written before "
                         "weights.nc have trained_<variant>.npz instead).")
        return []
    written = []
    with netcdf.open_dataset(source) as arrays:
        for name, v in metrics["variants"].items():
            seed = next(iter(v["accuracy_per_seed"]))
            run = arrays.sel(variant=name, seed=int(seed))
            weights, neurons, _ = netcdf.final_readout_weights(run)
            assignments = run[f"{run.attrs['readout_layer']}_assigned_class"].values[neurons]
            figure = Path(out_dir) / f"weights_{name}.png"
            plotting.weight_mosaic(weights, figure, assignments=assignments,
                                   title=f"{name}: input weights of each neuron and its assigned class (seed {seed})")
            written.append(figure)
    return written


PUBLISHED = {100: 82.9, 400: 87.0, 1600: 91.9, 6400: 95.0}      # Diehl & Cook (2015), test accuracy %


def report(runs: list[tuple[dict, dict]]) -> str:
    """The README's table: one row per run and variant (labelled ``run k`` and the variant when the
    number of neurons does not tell them apart): test accuracy (mean ± std over seeds with several),
    Diehl & Cook's published accuracy for that number of neurons, training images seen (mean over
    seeds) and presentations, training time (compilation + simulation), simulation time per
    presentation, labelling + test time."""
    rows = [(k, name, config, v) for k, (config, metrics) in enumerate(runs, 1)
            for name, v in metrics["variants"].items()]
    n_tests = sorted({v["n_test_images"] for *_, v in rows})
    n_trains = sorted({int(config["data"]["n_train"]) for _, _, config, _ in rows})
    label = len({v["n_neurons"] for *_, v in rows}) < len(rows)      # rows the number of neurons does not tell apart
    lines = [("| run | " if label else "| ") + f"neurons | test accuracy ({' / '.join(f'{n:,}' for n in n_tests)} "
             f"images) | published | images seen of {' / '.join(f'{n:,}' for n in n_trains)} (presentations) | "
             "training: compile + simulation | ms per presentation | labelling + test |",
             "|---" * label + "|---:" * 7 + "|"]
    for k, name, _, v in rows:
        seeds = len(v["accuracy_per_seed"])
        accuracy = (f"{v['final_accuracy_mean']:.1f} ± {v['final_accuracy_std']:.1f} %" if seeds > 1
                    else f"{v['final_accuracy_mean']:.1f} %")
        published = PUBLISHED.get(v["n_neurons"])
        seen = v.get("images_completed_per_seed")
        presentations = int(np.max(v["n_train_images"]))
        seen = f"{np.mean(seen):,.0f} ({presentations:,})" if seen else f"{presentations:,}"
        lines.append((f"| {k} {name} | " if label else "| ") + f"{v['n_neurons']} | {accuracy} | "
                     f"{'' if published is None else f'{published:.1f} %'} | {seen} | "
                     f"{v['train_compile_s']:.0f} s + {v['train_run_s']:.0f} s | "
                     f"{1000 * v['train_s_per_presentation']:.1f} | {v['eval_wall_time_s']:.0f} s |")
    return "\n".join(lines) + "\n"


def summary_text(metrics: dict) -> str:
    lines = ["", "label-assignment test accuracy, mean ± std over seeds (%):"]
    for name, v in metrics["variants"].items():
        lines.append(f"  {name:<24} {v['n_neurons']} neurons, {int(np.max(v['n_train_images']))} presentations: "
                     f"{v['final_accuracy_mean']:5.1f} ± {v['final_accuracy_std']:4.1f}   "
                     f"(train {v['train_wall_time_s']:.0f} s = compile {v['train_compile_s']:.0f} s + run "
                     f"{v['train_run_s']:.0f} s, {1000 * v['train_s_per_presentation']:.1f} ms/presentation; "
                     f"evaluation {v['eval_wall_time_s']:.0f} s)")
    return "\n".join(lines)


def check(config: dict) -> None:
    """Everything a sweep point can get wrong, before anything is submitted (network, readout, data)."""
    prepare(config)
