"""Supervised local learning with STDP + All-LTD (issue: foundation).

Neurons of the label's segment learn by STDP, all others by All-LTD. Test accuracy is
measured every ``protocol.eval_every`` training images on a fixed test set, for every
seed, for each variant (e.g. with and without adaptive threshold), on the configured
classes and on a few random class sets of the same size.
"""
from __future__ import annotations

import numpy as np

from bioplastic import plotting
from bioplastic.config import variant_config
from bioplastic.data import class_indices, relabel, sample_indices
from bioplastic.results import write_json
from bioplastic.studies.common import (device_from_config, evaluate_snapshots, load_split, protocol_durations,
                                       protocol_options, spec_from_config, train_with_snapshots)
from bioplastic.sweep import map_tasks

EXTRA_DEFAULTS = {"supervised": {"random_class_sets": 0, "class_set_seed": 2025}}


def class_sets(config: dict, n_dataset_classes: int) -> list[list]:
    """The configured classes first, then random sets of the same size (distinct, seeded)."""
    primary = list(config["data"]["classes"])
    sets, rng = [primary], np.random.default_rng(config["supervised"]["class_set_seed"])
    while len(sets) < 1 + int(config["supervised"]["random_class_sets"]):
        candidate = sorted(rng.choice(n_dataset_classes, size=len(primary), replace=False).tolist())
        if candidate not in [sorted(s) for s in sets]:
            sets.append(candidate)
    return sets


def prepare(config: dict, classes: list):
    """Everything checkable before computation: models, data, classes, sizes."""
    train, test = load_split(config, "train", classes), load_split(config, "test", classes)
    spec = spec_from_config(config, len(classes))
    return spec, train, test, class_indices(train, classes)   # names such as "a" -> indices


def train_and_test(task) -> dict:
    """One (variant, class set): all seeds trained together, every snapshot evaluated."""
    config, variant, classes = task
    spec, train, test, classes = prepare(config, classes)
    image_duration, rest_duration = protocol_durations(config)
    seeds = list(config["seeds"])
    n_train, n_test = int(config["data"]["n_train"]), int(config["data"]["n_test"])
    orders = np.stack([sample_indices(train, n_train, seed) for seed in seeds])
    labels = relabel(train.labels[orders], classes)
    test_idx = sample_indices(test, n_test, int(config["evaluation"]["test_seed"]))
    weights = spec.seeded_initial_weights(seeds)
    label = f"{variant} {classes}"
    trained = train_with_snapshots(spec, device_from_config(config), train.images.reshape(len(train.images), -1),
                                   orders, labels, int(config["protocol"]["eval_every"]), image_duration,
                                   rest_duration, weights, label=label, brian_seed=seeds[0],
                                   **protocol_options(config))
    tested = evaluate_snapshots(spec, trained, test.images[test_idx], relabel(test.labels[test_idx], classes),
                                image_duration=image_duration, batch_size=int(config["evaluation"]["batch_size"]),
                                test_seed=int(config["evaluation"]["test_seed"]), label=label)
    return {"variant": variant, "classes": classes, "seeds": seeds,
            "class_names": [train.class_names[c] for c in classes], "n_train_images": trained.n_images,
            "accuracy": tested["accuracy"], "silent_fraction": tested["silent_fraction"],
            "train_wall_time_s": trained.wall_time_s, "eval_wall_time_s": tested["eval_wall_time_s"],
            "simulated_s": trained.simulated_s, "final_weights": trained.final()[0],
            "readout_projection": readout_projection(spec)}


def readout_projection(spec) -> str:
    """The projection whose weights the figures show: the first one onto the readout layer."""
    return next(name for name, p in spec.projections.items() if p.target == spec.readout_layer)


def summarize(results: list[dict]) -> dict:
    variants = {}
    for r in results:
        v = variants.setdefault(r["variant"], {"class_sets": []})
        acc = np.asarray(r["accuracy"])
        trained = acc[:, 1:] if acc.shape[1] > 1 else acc     # "over the curve": after training began
        v["class_sets"].append({
            "classes": r["classes"], "n_train_images": r["n_train_images"],
            "accuracy_per_seed": {str(s): a for s, a in zip(r["seeds"], acc)},
            "accuracy_mean": acc.mean(0), "accuracy_std": acc.std(0),
            "mean_over_curve_and_seeds": [trained.mean(), trained.std()],
            "silent_fraction_mean": np.asarray(r["silent_fraction"]).mean(0),
            "train_wall_time_s": r["train_wall_time_s"], "eval_wall_time_s": r["eval_wall_time_s"],
            "simulated_biological_time_s": r["simulated_s"]})
    for v in variants.values():
        primary = v["class_sets"][0]
        v.update(n_train_images=primary["n_train_images"], accuracy_mean=primary["accuracy_mean"],
                 accuracy_std=primary["accuracy_std"],
                 mean_over_curve_and_seeds=primary["mean_over_curve_and_seeds"])
        if len(v["class_sets"]) > 1:
            curves = np.stack([cs["accuracy_mean"] for cs in v["class_sets"]])
            v["all_class_sets_accuracy_mean"] = curves.mean(0)
            v["all_class_sets_accuracy_std"] = curves.std(0)
    first = next(iter(variants.values()))
    return {"n_train_images": first["n_train_images"], "accuracy_mean": first["accuracy_mean"],
            "accuracy_std": first["accuracy_std"], "primary_variant": next(iter(variants)), "variants": variants}


def run(config: dict, out_dir) -> dict:
    variant_names = list(config["variants"]) or ["default"]
    configs = {name: (variant_config(config, name) if config["variants"] else config) for name in variant_names}
    n_dataset_classes = len(load_split(config, "test").class_names)
    tasks = []
    for name, cfg in configs.items():
        for classes in class_sets(cfg, n_dataset_classes):
            prepare(cfg, classes)          # fail fast on bad models/data/classes, before any simulation
            tasks.append((cfg, name, classes))
    results = map_tasks(train_and_test, tasks, workers=int(config["workers"]), scheduler=config["scheduler"])
    metrics = summarize(results)
    write_json(out_dir / "metrics.json", metrics)
    plotting.learning_curves(metrics, out_dir / "learning_curve.png", title=config.get("title") or "")
    for r in results:
        if r["classes"] == results[0]["classes"]:
            projection = r["readout_projection"]
            plotting.weight_grid(r["final_weights"][projection][0], out_dir / f"weights_{r['variant']}.png",
                                 n_per_class=len(r["final_weights"][projection][0][0]) // len(r["classes"]),
                                 class_names=r["class_names"],
                                 title=f"{r['variant']}: input weights of each excitatory neuron "
                                       f"(seed {r['seeds'][0]}, after {r['n_train_images'][-1]} images)")
    return metrics


def summary_text(metrics: dict) -> str:
    """A few lines for the terminal: accuracy after the first checkpoint and at the end."""
    lines = ["", "test accuracy, mean ± std over seeds (%):"]
    for name, v in metrics["variants"].items():
        n, mean, std = v["n_train_images"], v["accuracy_mean"], v["accuracy_std"]
        first = 1 if len(n) > 1 else 0
        overall = v["mean_over_curve_and_seeds"]
        lines.append(f"  {name:<24} after {n[first]:>5} images: {mean[first]:5.1f} ± {std[first]:4.1f}   "
                     f"after {n[-1]:>5}: {mean[-1]:5.1f} ± {std[-1]:4.1f}   over the curve: "
                     f"{overall[0]:5.1f} ± {overall[1]:4.1f}")
    return "\n".join(lines)


def check(config: dict) -> None:
    """Everything a sweep point can get wrong, before anything is submitted (network, data, classes)."""
    for name in list(config["variants"]) or [None]:
        prepare(variant_config(config, name) if name else config, list(config["data"]["classes"]))
