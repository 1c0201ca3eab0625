"""Supervised local learning with STDP + All-LTD (issue: foundation).

Neurons of the label's segment learn by STDP, all others by All-LTD. Test accuracy is
measured every ``protocol.eval_every`` training images on a fixed test set, for every
seed, for each variant (e.g. with and without adaptive threshold), on the configured
classes and on a few random class sets of the same size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bioplastic import netcdf, plotting
from bioplastic.config import variant_config
from bioplastic.data import class_indices, relabel, sample_indices
from bioplastic.results import metric_rows, write_json, write_metrics_long
from bioplastic.studies.common import (device_from_config, evaluate_snapshots, load_split, protocol_durations,
                                       protocol_options, spec_from_config, train_with_snapshots)
from bioplastic.sweep import map_tasks



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
    class_names = [train.class_names[c] for c in classes]
    return {"variant": variant, "classes": classes, "seeds": seeds,
            "class_names": class_names, "n_train_images": trained.n_images,
            "accuracy": tested["accuracy"], "silent_fraction": tested["silent_fraction"],
            "train_wall_time_s": trained.wall_time_s, "eval_wall_time_s": tested["eval_wall_time_s"],
            "simulated_s": trained.simulated_s,
            "arrays": netcdf.training_dataset(spec, trained.weights, trained.states, seeds, trained.n_images,
                                              coords=netcdf.segment_classes(spec, class_names),
                                              readout_projection=readout_projection(spec))}


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
            "classes": r["classes"], "class_names": r["class_names"], "n_train_images": r["n_train_images"],
            "accuracy_per_seed": {str(s): a for s, a in zip(r["seeds"], acc)},
            "silent_fraction_per_seed": {str(s): f for s, f in zip(r["seeds"], r["silent_fraction"])},
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
    write_metrics_long(out_dir, metric_table(metrics))
    save_arrays(results, out_dir)
    plot(metrics, config, out_dir)
    return metrics


def class_set_label(class_names) -> str:
    """A class set as a table cell or coordinate: ``"0,1,2"``."""
    return ",".join(map(str, class_names))


def metric_table(metrics: dict) -> list[dict]:
    """The rows of ``metrics_long`` (:func:`bioplastic.results.write_metrics_long`) from metrics.json:
    test accuracy (%) and silent fraction per variant, class set, seed and images seen."""
    rows = []
    for name, v in metrics["variants"].items():
        for cs in v["class_sets"]:
            labels = {"variant": name, "class_set": class_set_label(cs.get("class_names", cs["classes"])),
                      "checkpoint_unit": "images"}
            for key, metric in (("accuracy_per_seed", "test_accuracy_percent"),
                                ("silent_fraction_per_seed", "silent_fraction")):
                for seed, curve in cs.get(key, {}).items():
                    rows += metric_rows(metric, curve, cs["n_train_images"], seed=int(seed), **labels)
    return rows


def save_arrays(results: list[dict], out_dir, study: str = "supervised") -> None:
    """``weights.nc``: the weights and adaptive states of every variant, class set, seed and snapshot
    (:mod:`bioplastic.netcdf`), with the class of each readout neuron."""
    runs = [({"variant": r["variant"], "class_set": class_set_label(r["class_names"])}, r["arrays"]) for r in results]
    netcdf.write(Path(out_dir) / "weights.nc", netcdf.combine(runs), study=study)


def plot(metrics: dict, config: dict, out_dir) -> list[Path]:
    """Every figure of a run, from its folder: ``learning_curve.png`` from metrics.json, and
    ``weights_<variant>.png`` (the readout layer's input weights, first seed) from ``weights.nc``."""
    out_dir = Path(out_dir)
    plotting.learning_curves(metrics, out_dir / "learning_curve.png", title=config.get("title") or "")
    return [out_dir / "learning_curve.png", *plot_weight_grids(metrics, out_dir)]


def plot_weight_grids(metrics: dict, out_dir, caption: str = "input weights of each excitatory neuron") -> list[Path]:
    """``weights_<variant>.png`` for each variant of ``metrics``: its first class set's final weights onto
    the readout layer, first seed, from ``weights.nc``."""
    source = Path(out_dir) / "weights.nc"
    if not source.exists():
        plotting.skipped(f"the weight figures are not drawn: {source.name} is missing (run folders written before "
                         "weights.nc have weights_<variant>.npz instead).")
        return []
    written = []
    with netcdf.open_dataset(source) as arrays:
        for name, v in metrics["variants"].items():
            primary = v["class_sets"][0]
            seed = int(next(iter(primary["accuracy_per_seed"])))
            run = arrays.sel(variant=name, class_set=class_set_label(primary.get("class_names", primary["classes"])),
                             seed=seed)
            weights, neurons, n_images = netcdf.final_readout_weights(run)
            class_names = list(dict.fromkeys(run[f"{run.attrs['readout_layer']}_class"].values[neurons].tolist()))
            figure = Path(out_dir) / f"weights_{name}.png"
            plotting.weight_grid(weights, figure, n_per_class=weights.shape[1] // len(class_names),
                                 class_names=class_names,
                                 title=f"{name}: {caption} (seed {seed}, after {n_images} images)")
            written.append(figure)
    return written


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


def report(runs: list[tuple[dict, dict]]) -> str:
    """The README's results table of each run (``runs``: (config, metrics) of run folders): test accuracy
    in %, mean ± std over seeds, after the first checkpoint, ten times as many images (when measured)
    and the last; over the curve (every checkpoint after training began); the lowest of each seed's
    curve. A run with random class sets besides the configured ones gets one row per class set, the
    accuracy after the first checkpoint per seed, and the mean of the class sets per variant."""
    blocks = []
    for k, (config, metrics) in enumerate(runs, 1):
        first = next(iter(metrics["variants"].values()))
        n_images = first["n_train_images"]
        seeds = list(first["class_sets"][0]["accuracy_per_seed"])
        caption = (f"Classes {', '.join(map(str, config['data']['classes']))}, training to {n_images[-1]} images, "
                   f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
        if len(runs) > 1:
            caption = f"Run {k}: {caption[0].lower()}{caption[1:]}"
        several = any(len(v["class_sets"]) > 1 for v in metrics["variants"].values())
        blocks.append(f"{caption}:\n\n" + (class_sets_table(metrics) if several else results_table(metrics)))
    return "\n".join(blocks)


def _checkpoints(n_images: list) -> tuple[int, list[int]]:
    """Index of the first checkpoint after training began, and the columns' checkpoints: that one, ten
    times as many images when measured, the last."""
    first = 1 if len(n_images) > 1 else 0
    wanted = [n_images[first], 10 * n_images[first], n_images[-1]]
    return first, [i for i, n in enumerate(n_images) if n in wanted and i >= first]


def _pm(mean, std) -> str:
    return f"{mean:.1f} ± {std:.1f}"


def _lowest_per_seed(class_set: dict, first: int) -> str:
    return ", ".join(f"{min(curve[first:]):.1f}" for curve in class_set["accuracy_per_seed"].values())


def results_table(metrics: dict) -> str:
    """One row per variant (its first class set)."""
    n_images = next(iter(metrics["variants"].values()))["n_train_images"]
    first, columns = _checkpoints(n_images)
    heads = [f"after {n_images[i]}{' images' if j == 0 else ''}" for j, i in enumerate(columns)]
    lines = ["| variant | " + " | ".join(heads) + f" | over the curve ({n_images[first]}…{n_images[-1]}), "
             "mean ± std | lowest point per seed |", "|---|" + "---:|" * (len(columns) + 2)]
    for name, v in metrics["variants"].items():
        cells = [f"{_pm(v['accuracy_mean'][i], v['accuracy_std'][i])} %" for i in columns]
        cells += [f"{_pm(*v['mean_over_curve_and_seeds'])} %", f"{_lowest_per_seed(v['class_sets'][0], first)} %"]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def class_sets_table(metrics: dict) -> str:
    """One row per (class set, variant), then the mean of the class sets per variant."""
    n_images = next(iter(metrics["variants"].values()))["n_train_images"]
    first = 1 if len(n_images) > 1 else 0
    lines = [f"| classes | variant | after {n_images[first]} images (per seed) | over the curve "
             f"{n_images[first]}…{n_images[-1]} | after {n_images[-1]} | lowest point per seed |",
             "|---|---|---|---:|---:|---|"]
    n_sets = max(len(v["class_sets"]) for v in metrics["variants"].values())
    for j in range(n_sets):                      # the configured classes of every variant first
        for name, v in metrics["variants"].items():
            if j >= len(v["class_sets"]):
                continue
            cs = v["class_sets"][j]
            per_seed = ", ".join(f"{curve[first]:.1f}" for curve in cs["accuracy_per_seed"].values())
            lines.append(f"| {', '.join(map(str, cs['classes']))} | {name.replace('_', ' ')} | "
                         f"{_pm(cs['accuracy_mean'][first], cs['accuracy_std'][first])} ({per_seed}) | "
                         f"{_pm(*cs['mean_over_curve_and_seeds'])} | "
                         f"{_pm(cs['accuracy_mean'][-1], cs['accuracy_std'][-1])} | {_lowest_per_seed(cs, first)} |")
    for name, v in metrics["variants"].items():
        if "all_class_sets_accuracy_mean" in v:
            mean = np.asarray(v["all_class_sets_accuracy_mean"], dtype=float)
            sets = ", ".join("{" + ",".join(map(str, cs["classes"])) + "}" for cs in v["class_sets"])
            lines.append(f"| mean of {sets} | {name.replace('_', ' ')} | {mean[first]:.1f} | "
                         f"{mean[first:].mean():.1f} | {mean[-1]:.1f} | |")
    return "\n".join(lines) + "\n"


def check(config: dict) -> None:
    """Everything a sweep point can get wrong, before anything is submitted (network, data, classes)."""
    for name in list(config["variants"]) or [None]:
        prepare(variant_config(config, name) if name else config, list(config["data"]["classes"]))
