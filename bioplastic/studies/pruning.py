"""'Use it or lose it' regularisation (issue 7): activity to known, unknown and noise inputs.

The supervised network is trained with and without pruning (variants). Afterwards, with
plasticity off, four test sets of 28x28 images are presented and the excitatory spikes
counted: (1) delta-correlated (white) noise, (2) Gaussian-filtered noise, (3) digits of
the trained classes, (4) digits of classes never trained. Noise images are scaled to the
mean pixel intensity of the training digits, so they carry the same input drive.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from bioplastic import netcdf, plotting
from bioplastic.config import variant_config
from bioplastic.data import balanced_sample, relabel
from bioplastic.errors import ConfigError
from bioplastic.evaluation import TestSpikes, evaluate_batched
from bioplastic.readout import segment_readout
from bioplastic.results import metric_rows, write_json, write_metrics_long
from bioplastic.studies.common import (device_from_config, load_split, protocol_durations, protocol_options,
                                       spec_from_config, train_with_snapshots)
from bioplastic.studies.supervised import readout_projection
from bioplastic.sweep import map_tasks

TEST_SETS = ("white_noise", "filtered_noise", "trained_digits", "untrained_digits")


def noise_images(n: int, mean_intensity: float, rng, sigma_px: float = 0.0) -> np.ndarray:
    """Uniform white noise (sigma 0) or Gaussian-filtered noise, with the given mean pixel value."""
    noise = rng.random((n, 28, 28))
    if sigma_px > 0:
        noise = np.stack([gaussian_filter(img, sigma_px) for img in noise])
        noise -= noise.min(axis=(1, 2), keepdims=True)
    noise *= mean_intensity / noise.mean(axis=(1, 2), keepdims=True)
    return np.clip(noise, 0, 255).round().astype(np.uint8)


def probe_sets(config: dict, train_images: np.ndarray):
    """The four test sets, and the labels of the trained digits (segment indices)."""
    study = config["pruning_study"]
    classes, n = config["data"]["classes"], int(study["n_probe"])
    rng = np.random.default_rng(study["probe_seed"])
    mean_intensity = float(train_images.mean())
    trained = load_split(config, "test", classes)
    untrained = load_split(config, "test", study["untrained_classes"])
    known = balanced_sample(trained, n, seed=study["probe_seed"], indices=True)
    sets = {"white_noise": noise_images(n, mean_intensity, rng),
            "filtered_noise": noise_images(n, mean_intensity, rng, float(study["noise_sigma_px"])),
            "trained_digits": trained.images[known],
            "untrained_digits": untrained.images[balanced_sample(untrained, n, seed=study["probe_seed"],
                                                                 indices=True)]}
    return sets, relabel(trained.labels[known], classes)


def prepare(config: dict):
    """Everything checkable before computation: classes, network, the data of training and probes."""
    classes = config["data"]["classes"]
    if set(classes) & set(config["pruning_study"]["untrained_classes"]):
        raise ConfigError("pruning_study.untrained_classes must not overlap data.classes.")
    spec = spec_from_config(config, len(classes))
    load_split(config, "test", classes), load_split(config, "test", config["pruning_study"]["untrained_classes"])
    return spec, load_split(config, "train", classes)


def train_and_probe(task) -> dict:
    config, variant = task
    data, classes = config["data"], config["data"]["classes"]
    spec, train = prepare(config)
    image_duration, rest_duration = protocol_durations(config)
    seeds, n_train = list(config["seeds"]), int(data["n_train"])
    orders = np.stack([balanced_sample(train, n_train, seed=s, indices=True) for s in seeds])
    weights = spec.seeded_initial_weights(seeds)
    trained = train_with_snapshots(spec, device_from_config(config), train.images.reshape(len(train.images), -1),
                                   orders, relabel(train.labels[orders], classes), n_train, image_duration,
                                   rest_duration, weights, label=variant, brian_seed=seeds[0],
                                   **protocol_options(config))
    final, final_state = trained.final()                               # {projection: [copy, input, exc]}
    projection = readout_projection(spec)
    final_w = final[projection]
    probes, known_labels = probe_sets(config, train.images)
    counts, per_neuron, accuracy = {}, {}, None
    for name, images in probes.items():
        spikes = TestSpikes(images, spec, image_duration, seed=int(config["evaluation"]["test_seed"]))
        c = evaluate_batched(spec, spikes, final, final_state, batch_size=int(config["evaluation"]["batch_size"]))
        counts[name], per_neuron[name] = c.sum(axis=(1, 2)), c.sum(axis=1)   # per seed; per seed and neuron
        if name == "trained_digits":
            accuracy = (segment_readout(c, spec.segments(), spec.n_classes) == known_labels[None]).mean(-1) * 100
    prune_below = (spec.projections[projection].rule.pruning or {}).get("prune_below", 1e-3)
    class_names = [train.class_names[c] for c in classes]
    return {"variant": variant, "seeds": seeds, "counts": counts, "accuracy": accuracy,
            "pruned_fraction": (final_w < prune_below).mean(axis=(1, 2)), "n_train_images": int(trained.n_images[-1]),
            "classes": class_names, "n_probe": len(probes["white_noise"]), "train_wall_time_s": trained.wall_time_s,
            "arrays": netcdf.training_dataset(spec, trained.weights, trained.states, seeds, trained.n_images,
                                              coords=netcdf.segment_classes(spec, class_names),
                                              readout_projection=projection),
            "spike_counts": spike_counts(spec, per_neuron, seeds, len(probes["white_noise"]))}


def spike_counts(spec, per_neuron: dict, seeds, n_images: int):
    """The readout layer's spikes of each neuron summed over each test set's images, [test_set, seed, neuron]."""
    import xarray as xr

    layer = spec.readout_layer
    return xr.DataArray(np.stack([per_neuron[name] for name in TEST_SETS]), dims=("test_set", "seed", layer),
                        coords={"test_set": list(TEST_SETS), "seed": seeds},
                        attrs={"long_name": f"spikes of each {layer} neuron, summed over the {n_images} images of "
                                            "the test set (plasticity off)", "units": "1"}).to_dataset(name="spikes")


def run(config: dict, out_dir) -> dict:
    names = list(config["variants"])
    tasks = [(variant_config(config, name), name) for name in names]
    for cfg, _ in tasks:
        prepare(cfg)                                                   # fail fast
    results = map_tasks(train_and_probe, tasks, workers=int(config["workers"]), scheduler=config["scheduler"])
    metrics = {"test_sets": list(TEST_SETS), "n_images_per_set": results[0]["n_probe"], "variants": {}}
    for r in results:
        metrics["variants"][r["variant"]] = {
            "seeds": r["seeds"], "classes": r["classes"], "n_train_images": r["n_train_images"],
            "total_spikes_mean": {k: float(np.mean(v)) for k, v in r["counts"].items()},
            "total_spikes_per_seed": {k: v for k, v in r["counts"].items()},
            "trained_accuracy_mean": float(np.mean(r["accuracy"])), "trained_accuracy_per_seed": r["accuracy"],
            "pruned_fraction_mean": float(np.mean(r["pruned_fraction"])),
            "pruned_fraction_per_seed": r["pruned_fraction"], "train_wall_time_s": r["train_wall_time_s"]}
    # Reduction of activity relative to the first variant (the unregularised network).
    base = metrics["variants"][results[0]["variant"]]["total_spikes_mean"]
    for r in results[1:]:
        reg = metrics["variants"][r["variant"]]["total_spikes_mean"]
        metrics["variants"][r["variant"]]["reduction_factor"] = {
            k: (base[k] / reg[k] if reg[k] else float("inf")) for k in TEST_SETS}
    write_json(out_dir / "metrics.json", metrics)
    write_metrics_long(out_dir, metric_table(metrics))
    (out_dir / "activity_table.md").write_text(markdown_table(metrics))
    for stem, key in (("weights", "arrays"), ("spike_counts", "spike_counts")):
        netcdf.write(Path(out_dir) / f"{stem}.nc", netcdf.combine([({"variant": r["variant"]}, r[key])
                                                                   for r in results]), study="pruning")
    plot(metrics, config, out_dir)
    return metrics


def metric_table(metrics: dict) -> list[dict]:
    """The rows of ``metrics_long`` from metrics.json, after training (checkpoint: images trained): the
    excitatory spikes on each test set (class_set: the test set), the accuracy on trained digits (%)
    and the fraction of weights pruned, per variant and seed."""
    rows = []
    for name, v in metrics["variants"].items():
        labels = {"variant": name, "checkpoint_unit": "images"}
        for k, seed in enumerate(v["seeds"]):
            at = {**labels, "seed": seed, "checkpoints": [v["n_train_images"]]}
            rows += [row for test_set in metrics["test_sets"] for row in
                     metric_rows("excitatory_spikes", v["total_spikes_per_seed"][test_set][k], class_set=test_set,
                                 **at)]
            trained = ",".join(map(str, v["classes"]))
            rows += metric_rows("trained_digits_accuracy_percent", v["trained_accuracy_per_seed"][k],
                                class_set=trained, **at)
            rows += metric_rows("pruned_fraction", v["pruned_fraction_per_seed"][k], class_set=trained, **at)
    return rows


def plot(metrics: dict, config: dict, out_dir) -> list[Path]:
    """The run's figure from its folder: ``weights_one_neuron.png``, the input weights of one excitatory
    neuron (first seed) in every variant, from the final weights in ``weights.nc``; the neuron is the
    one with the largest single weight in the first variant."""
    out_dir, names = Path(out_dir), list(metrics["variants"])
    if not (out_dir / "weights.nc").exists():
        plotting.skipped("weights_one_neuron.png not drawn: weights.nc is missing (run folders written before "
                         "weights.nc have weights_<variant>.npz instead).")
        return []
    seed = int(metrics["variants"][names[0]]["seeds"][0])
    with netcdf.open_dataset(out_dir / "weights.nc") as arrays:
        weights = [netcdf.final_readout_weights(arrays.sel(variant=name, seed=seed))[0] for name in names]
    neuron = int(np.argmax(weights[0].max(0)))
    path = out_dir / "weights_one_neuron.png"
    plotting.weight_comparison([w[:, neuron] for w in weights], [name.replace("_", " ") for name in names], path,
                               title=f"Input weights of excitatory neuron {neuron} (seed {seed})")
    return [path]


def report(runs: list[tuple[dict, dict]]) -> str:
    """Each run's activity table (:func:`markdown_table`)."""
    return "\n".join((f"Run {k}:\n\n" if len(runs) > 1 else "") + markdown_table(metrics)
                     for k, (_, metrics) in enumerate(runs, 1))


def markdown_table(metrics: dict) -> str:
    names = list(metrics["variants"])
    lines = [f"| test set ({metrics['n_images_per_set']} images) | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]

    def cell(name, key):
        v = metrics["variants"][name]
        factor = v.get("reduction_factor", {}).get(key)
        if factor is None:
            return f"{v['total_spikes_mean'][key]:.0f}"
        return f"{v['total_spikes_mean'][key]:.0f} ({'silent' if factor == float('inf') else f'{factor:.1f}x less'})"
    for key in metrics["test_sets"]:
        lines.append(f"| {key.replace('_', ' ')} | " + " | ".join(cell(n, key) for n in names) + " |")
    acc = " | ".join(f"{metrics['variants'][n]['trained_accuracy_mean']:.1f} %" for n in names)
    lines.append(f"| accuracy on trained digits | {acc} |")
    pruned = " | ".join(f"{100 * metrics['variants'][n]['pruned_fraction_mean']:.1f} %" for n in names)
    lines.append(f"| weights pruned | {pruned} |")
    return "\n".join(lines) + "\n"


def summary_text(metrics: dict) -> str:
    return "\nexcitatory spikes per test set (mean over seeds):\n" + markdown_table(metrics)
