"""Convolutional STDP network with R-STDP decision layer (Mozafari et al. 2019) on MNIST.

Images are DoG-filtered and coded as first-spike latencies (:mod:`bioplastic.encoding`);
the layers of ``network.layers`` learn one after another: each STDP layer for
``conv.epochs.<layer>`` passes over the first ``conv.stdp_images`` training images (k-WTA
winners only), then is frozen; the frozen chain's output is computed once per image
(cache); the decision layer then trains with R-STDP for ``conv.epochs.<decision layer>``
epochs on the cached maps, tested after every ``conv.test_every`` epochs. Each seed draws
its own initial kernels and its own image order per epoch.

``conv.engine``: ``vectorized`` (per-step matrix products, exact for the reference neuron
model; the default) or ``brian2`` (every layer a Brian2 group, the competition a network
operation; any neuron equations; runtime device). ``tests/test_conv_stdp.py`` checks that
both give the same spikes, winners and kernels.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bioplastic import netcdf, plotting
from bioplastic.config import changes_within
from bioplastic.data import class_indices, relabel, sample_indices
from bioplastic.encoding import LatencyCoding, encode_latency_cached
from bioplastic.errors import BioplasticError, ConfigError
from bioplastic.network import convfast
from bioplastic.network.convnet import INPUT, LayerTraining, conv_network_from_config
from bioplastic.network.decision import SILENCE, DecisionLayer
from bioplastic.network.kernel_rules import KernelSTDP
from bioplastic.results import metric_rows, read_arrays, write_arrays, write_json, write_metrics_long
from bioplastic.studies.common import load_split
from bioplastic.sweep import map_tasks

ENGINES = ("vectorized", "brian2")


def prepare(config: dict):
    """Everything checkable before computation: the network, the epochs, the engine, the data."""
    conv = config["conv"]
    coding = LatencyCoding(**conv["encoding"])
    classes = list(config["data"]["classes"])
    train, test = load_split(config, "train", classes), load_split(config, "test", classes)
    classes = class_indices(train, classes)          # names such as "a" -> indices
    train, test = _relabelled(train, classes), _relabelled(test, classes)
    spec = conv_network_from_config(config["network"], (coding.n_maps,) + train.images.shape[1:],
                                    coding.n_steps, len(classes))
    learning = [name for name in spec.layers if spec.projections[name].rule is not None]
    epochs = dict(conv["epochs"])
    if sorted(epochs) != sorted(learning) or not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1
                                                     for e in epochs.values()):
        raise ConfigError(f"conv.epochs must give a number of epochs >= 1 for each learning layer "
                          f"({', '.join(learning)}), got {epochs}.")
    if conv["engine"] not in ENGINES:
        raise ConfigError(f"conv.engine must be one of {', '.join(ENGINES)}, got {conv['engine']!r}.")
    if config["device"]["name"] != "runtime":
        raise ConfigError(f"device {config['device']['name']!r}: the convolutional network runs on the runtime device "
                          "(conv.engine=brian2: its competition is a network operation) or in numpy "
                          "(conv.engine=vectorized); remove the device setting.")
    needs_brian = convfast.supports_fast_engine(spec)
    if conv["engine"] == "vectorized" and needs_brian:
        raise ConfigError(f"layer(s) {', '.join(needs_brian)} use edited neuron equations or local connectivity, "
                          "which only the Brian2 engine simulates: set conv.engine=brian2.")
    return spec, coding, train, test


def _relabelled(dataset, classes):
    """The dataset with labels 0..k-1 in the order of ``classes`` (the decision layer's class maps)."""
    return replace(dataset, labels=relabel(dataset.labels, classes),
                   class_names=tuple(dataset.class_names[c] for c in classes))


def _bar(total, desc):
    return tqdm(total=total, desc=desc, unit="img", mininterval=5, leave=False)


def _forward(config, spec, start, stop, steps, weights, desc):
    with _bar(len(steps), desc) as bar:
        if config["conv"]["engine"] == "vectorized":
            return convfast.forward(spec, start, stop, steps, weights, progress=bar.update)
        from bioplastic.network.convsim import ChainSimulation
        return ChainSimulation(spec, start, stop, weights).run(steps, progress=bar.update)


def _train_stdp(config, spec, training, weights, source_steps, order, desc):
    with _bar(len(order), desc) as bar:
        if config["conv"]["engine"] == "vectorized":
            convfast.train_layer(spec, training.layer, source_steps[order], training, progress=bar.update)
        else:
            from bioplastic.network.convsim import ChainSimulation
            sim = ChainSimulation(spec, spec.projections[training.layer].source, training.layer, weights)
            sim.training = training
            sim.run(source_steps[order], progress=bar.update)


def train_seed(task) -> dict:
    """One seed: STDP layers in order, cache, decision-layer epochs with a test after each.

    Resumable: the trained S1/S2 with the cached decision-layer input, and the decision layer
    after every epoch, are checkpointed in the run folder; rerunning the same command with the
    same ``--out`` continues from the last checkpoint, also with another number of decision-layer
    epochs (:func:`resumable_change`). :func:`run` removes the checkpoints once every seed is done.
    """
    config, seed, out_dir = task
    spec, coding, train, test = prepare(config)
    data = config["data"]
    train_idx = sample_indices(train, int(data["n_train"]), seed)
    test_idx = sample_indices(test, int(data["n_test"]), int(config["evaluation"]["test_seed"]))
    checkpoints = {"features": out_dir / f"checkpoint_features_seed{seed}.npz",
                   "decision": out_dir / f"checkpoint_decision_seed{seed}.npz"}
    if checkpoints["features"].exists():
        weights, steps, meta = _load_checkpoint(checkpoints["features"])
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
    else:
        rng = np.random.default_rng([seed, 11])
        weights, steps, meta = _features(config, spec, coding, train.images[train_idx], test.images[test_idx],
                                         seed, rng)
        _save_checkpoint(checkpoints["features"], weights, steps, dict(meta, rng=rng.bit_generator.state))
    curve = _decision_epochs(config, spec, weights, steps, train.labels[train_idx], test.labels[test_idx],
                             rng, seed, meta["timings"], out_dir / f"progress_seed{seed}.json", checkpoints["decision"])
    return {"seed": seed, "curve": curve, "timings": meta["timings"], "stdp": meta["stdp"], "weights": weights,
            "active_fraction": {split: float((s >= 0).mean()) for split, s in steps.items()}}


def _features(config, spec, coding, train_images, test_images, seed, rng):
    """Encode, train the STDP layers in order, and compute the decision layer's input once per image."""
    timings = {}
    steps = encoded(config["data"]["dataset"], {"train": train_images, "test": test_images}, coding, timings)
    weights = spec.initial_weights(seed)
    steps, stdp = train_feature_layers(config, spec, steps, weights, rng, seed, dict(config["conv"]["epochs"]),
                                       config["conv"]["stdp_images"], timings)
    return weights, steps, {"timings": timings, "stdp": stdp}


def encoded(dataset: str, images: dict, coding: LatencyCoding, timings: dict) -> dict:
    """split -> (images, flattened first-spike steps) of the latency code, cached per dataset and parameters."""
    started = time.perf_counter()
    steps = {split: np.asarray(encode_latency_cached(x, coding, name=f"{dataset}-{split}")).reshape(len(x), -1)
             for split, x in images.items()}
    timings["encoding_s"] = timings.get("encoding_s", 0.0) + time.perf_counter() - started
    return steps


def train_feature_layers(config, spec, steps, weights, rng, seed, epochs: dict, stdp_images, timings,
                         seen: dict | None = None, tag: str = "") -> tuple[dict, dict]:
    """Train every STDP layer in order on the first ``stdp_images`` of ``steps["train"]`` (None: all),
    ``epochs[layer]`` passes each, the layers upstream frozen; returns the decision layer's input
    steps for every split and, per layer, the images it trained on and its mean winners.

    ``weights`` are changed in place. ``seen[layer]``: images the layer already trained on,
    so that its rate schedule continues from there (a second task); updated in place.
    """
    seen = {} if seen is None else seen
    stdp, source = {}, INPUT
    n_train = len(steps["train"])
    n_stdp = min(int(stdp_images or n_train), n_train)
    for name in [n for n in spec.layers if isinstance(spec.projections[n].rule, KernelSTDP)]:
        upstream = spec.chain(source, spec.projections[name].source)
        if upstream:             # freeze what was learnt so far: its output, once per image, is the input
            steps, source = _cache(config, spec, source, upstream[-1], steps, weights, seed, timings), upstream[-1]
        began = time.perf_counter()
        order = np.concatenate([rng.permutation(n_stdp) for _ in range(int(epochs[name]))])
        training = LayerTraining(name, weights[name], images_seen=int(seen.get(name, 0)))
        _train_stdp(config, spec, training, weights, steps["train"], order, f"seed {seed}{tag}: STDP {name}")
        seen[name] = training.images_seen
        timings[f"train_{name}_s"] = timings.get(f"train_{name}_s", 0.0) + time.perf_counter() - began
        stdp[name] = {"images": len(order), "mean_winners": float(np.mean(training.winners))}
    last_input = spec.projections[spec.decision_layer].source
    return _cache(config, spec, source, last_input, steps, weights, seed, timings), stdp


def _cache(config, spec, source, stop, steps, weights, seed, timings):
    began = time.perf_counter()
    out = {split: _forward(config, spec, source, stop, s, weights, f"seed {seed}: {stop} ({split})")
           for split, s in steps.items()}
    timings[f"cache_{stop}_s"] = timings.get(f"cache_{stop}_s", 0.0) + time.perf_counter() - began
    return out


def _save_checkpoint(path, weights: dict, steps: dict, meta: dict) -> None:
    write_arrays(path, meta, **{f"w_{k}": v for k, v in weights.items()}, **{f"steps_{k}": v for k, v in steps.items()})


def _load_checkpoint(path):
    meta, arrays = read_arrays(path)
    weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w_")}
    steps = {k[6:]: v for k, v in arrays.items() if k.startswith("steps_")}
    return weights, steps, meta


def _decision_epochs(config, spec, weights, steps, train_labels, test_labels, rng, seed, timings, progress,
                     checkpoint) -> dict:
    """R-STDP epochs on the cached maps, tested every ``conv.test_every`` epochs; the curve so far is
    written to ``progress`` after each test, and the run is resumable from ``checkpoint``."""
    decision = spec.decision_layer
    layer = DecisionLayer(spec, weights[decision], spec.projections[decision].rule)
    fired = {split: s >= 0 for split, s in steps.items()}
    _upgrade_checkpoint(checkpoint, decision)

    def on_test(curve, spent):
        write_json(progress, {"seed": seed, "curve": _as_conv_curve(curve), "timings": {**timings, **spent}})

    run = decision_epochs(layer, fired["train"], train_labels, {"test": (fired["test"], test_labels)},
                          int(config["conv"]["epochs"][decision]), rng, f"seed {seed}: R-STDP {decision}",
                          test_every=int(config["conv"]["test_every"]), checkpoint=checkpoint, on_test=on_test)
    weights[decision] = layer.weights.reshape(weights[decision].shape)
    timings[f"train_{decision}_s"], timings["test_s"] = run.spent["train"], run.spent["test"]
    return _as_conv_curve(run.curve)


def _as_conv_curve(curve: dict) -> dict:
    """This study's curve keys (metrics.json since its first version) from :func:`decision_epochs`'s."""
    return {"epoch": curve["epoch"], "test_accuracy": curve["test"], "test_silence": curve["test_silence"],
            "train_correct": curve["train_correct"], "train_silence": curve["train_silence"]}


def _upgrade_checkpoint(path: Path, decision: str) -> None:
    """A decision-layer checkpoint written by bioplastic before :func:`decision_epochs` (weights
    under ``w_<layer>``, this study's curve keys) is rewritten in that function's format."""
    if not path.exists():
        return
    meta, arrays = read_arrays(path)
    if "weights" in arrays:
        return
    curve = meta["curve"]
    curve = {"epoch": curve["epoch"], "train_correct": curve["train_correct"], "train_silence": curve["train_silence"],
             "test": curve["test_accuracy"], "test_silence": curve["test_silence"]}
    write_arrays(path, dict(meta, curve=curve, best_accuracy=-1.0, best_epoch=None, best_rule=None),
                 weights=arrays[f"w_{decision}"])


@dataclass
class DecisionRun:
    """What :func:`decision_epochs` returns: ``curve`` (``epoch``; ``train_correct`` and ``train_silence``,
    % of that epoch's training decisions, None at epoch 0; per test set ``<name>`` and ``<name>_silence``,
    % of its images); ``best``: the state at the best tested accuracy on ``keep_best`` (``epoch``,
    ``weights``, ``rule``), or None; ``spent``: seconds of training and of testing."""
    curve: dict
    best: dict | None
    spent: dict


def decision_epochs(layer: DecisionLayer, fired: np.ndarray, labels: np.ndarray, tests: dict, n_epochs: int,
                    rng: np.random.Generator, desc: str, *, test_every: int = 1, test_first: bool = False,
                    keep_best: str | None = None, checkpoint: Path | None = None, on_test=None) -> DecisionRun:
    """Train ``layer`` for ``n_epochs`` epochs on the cached binary inputs ``fired`` (a new image
    order from ``rng`` each epoch); test every set of ``tests`` (name -> (fired, labels)) after every
    ``test_every``-th epoch and the last, and as epoch 0 before the first with ``test_first``.

    With ``checkpoint`` (a file path) the layer, its adapted rates, ``rng``, the curve and the best
    state are written there after every epoch, and a call that finds the file continues from it: an
    interrupted run resumes at its last finished epoch with the same results as an uninterrupted one
    (the caller removes the file once the result is kept). ``on_test(curve, spent)`` after each test.
    """
    curve = {"epoch": [], "train_correct": [], "train_silence": []}
    for name in tests:
        curve[name], curve[f"{name}_silence"] = [], []
    best, best_accuracy, trained = None, -1.0, None
    spent = {"train": 0.0, "test": 0.0}
    first = 0 if test_first else 1
    done = first - 1
    if checkpoint is not None and Path(checkpoint).exists():
        meta, arrays = read_arrays(checkpoint)
        if meta["epoch"] > n_epochs:
            raise ConfigError(f"{checkpoint} holds {meta['epoch']} trained decision-layer epochs, more than the "
                              f"{n_epochs} asked for; they cannot be undone.")
        layer.restore(arrays["weights"], meta["rule"], meta["clamped"])
        rng.bit_generator.state = meta["rng"]
        done, spent, best_accuracy = meta["epoch"], meta["spent"], meta["best_accuracy"]
        trained = meta.get("trained")
        # A run resumed with more epochs: a test made only because its old last epoch was final is dropped,
        # so that every seed's curve has the tested epochs of this schedule.
        keep = [i for i, e in enumerate(meta["curve"]["epoch"]) if e % test_every == 0 or e == n_epochs]
        curve = {key: [values[i] for i in keep] for key, values in meta["curve"].items()}
        if "best_weights" in arrays:
            best = {"epoch": meta["best_epoch"], "weights": arrays["best_weights"], "rule": meta["best_rule"]}

    def test(epoch: int, trained: list | None) -> None:
        nonlocal best, best_accuracy
        began = time.perf_counter()
        curve["epoch"].append(epoch)
        curve["train_correct"].append(trained and trained[0])
        curve["train_silence"].append(trained and trained[1])
        for name, (test_fired, test_labels) in tests.items():
            predicted = layer.predict(test_fired)
            curve[name].append(100.0 * float(np.mean(predicted == test_labels)))
            curve[f"{name}_silence"].append(100.0 * float(np.mean(predicted == SILENCE)))
        spent["test"] += time.perf_counter() - began
        if keep_best and curve[keep_best][-1] > best_accuracy:
            best_accuracy = curve[keep_best][-1]
            best = {"epoch": epoch, "weights": layer.weights.copy(), "rule": asdict(layer.rule)}
        if on_test is not None:
            on_test(curve, spent)

    for epoch in tqdm(range(done + 1, n_epochs + 1), desc=desc, unit="epoch", initial=done + 1 - first,
                      total=n_epochs + 1 - first, leave=False):
        trained = None
        if epoch:
            began = time.perf_counter()
            stats = layer.train_epoch(fired, labels, rng.permutation(len(labels)))
            spent["train"] += time.perf_counter() - began
            trained = [100.0 * stats.correct, 100.0 * stats.silence]
        if epoch % test_every == 0 or epoch == n_epochs:
            test(epoch, trained)
        if checkpoint is not None:
            kept = {"best_weights": best["weights"]} if best else {}
            write_arrays(checkpoint, {"epoch": epoch, "curve": curve, "spent": spent, "rule": asdict(layer.rule),
                                      "clamped": layer.clamped, "rng": rng.bit_generator.state, "trained": trained,
                                      "best_accuracy": best_accuracy, "best_epoch": best and best["epoch"],
                                      "best_rule": best and best["rule"]},
                         weights=layer.weights, **kept)
    if done == n_epochs and (not curve["epoch"] or curve["epoch"][-1] != n_epochs):
        test(n_epochs, trained)          # resumed with fewer epochs, ending on one that was not tested
    return DecisionRun(curve, best, spent)


def summarize(results: list[dict], config: dict) -> dict:
    curves = np.array([r["curve"]["test_accuracy"] for r in results])
    best = curves.max(axis=1)
    return {"epochs": results[0]["curve"]["epoch"], "seeds": [r["seed"] for r in results],
            "test_accuracy_per_seed": {str(r["seed"]): r["curve"] for r in results},
            "test_accuracy_mean": curves.mean(0), "test_accuracy_std": curves.std(0),
            "final_mean_std": [curves[:, -1].mean(), curves[:, -1].std()],
            "best_mean_std": [best.mean(), best.std()],
            "timings_per_seed": {str(r["seed"]): r["timings"] for r in results},
            "stdp": {str(r["seed"]): r["stdp"] for r in results},
            "active_fraction": {str(r["seed"]): r["active_fraction"] for r in results},
            "n_train": int(config["data"]["n_train"]), "n_test": int(config["data"]["n_test"]),
            "n_classes": len(config["data"]["classes"]), "classes": list(config["data"]["classes"]),
            "engine": config["conv"]["engine"]}


def metric_table(metrics: dict) -> list[dict]:
    """The rows of ``metrics_long`` from metrics.json, per seed and tested decision-layer epoch: test
    accuracy and silence, correct and silent training decisions of that epoch (all in %)."""
    rows = []
    classes = ",".join(map(str, metrics.get("classes", [])))
    for seed, curve in metrics["test_accuracy_per_seed"].items():
        for key in ("test_accuracy", "test_silence", "train_correct", "train_silence"):
            rows += metric_rows(f"{key}_percent", curve[key], curve["epoch"], seed=int(seed), class_set=classes,
                                checkpoint_unit="epochs")
    return rows


def save_encoding(config: dict, coding: LatencyCoding, train, out_dir, n_images: int = 4) -> None:
    """``encoding.npz``: the first training images and their latency code (what S1 sees), for ``encoding.png``."""
    images = np.asarray(train.images[:n_images])
    latency = encode_latency_cached(images, coding, name=f"{config['data']['dataset']}-figure")
    names = [f"{'on' if m % 2 == 0 else 'off'} {size}x{size}" for size, *_ in coding.scales for m in range(2)]
    np.savez_compressed(Path(out_dir) / "encoding.npz", images=images, latency=np.asarray(latency),
                        n_steps=np.array(coding.n_steps), map_names=np.array(names))


def plot(metrics: dict, config: dict, out_dir) -> list[Path]:
    """Every figure of a run, from its folder: ``accuracy_over_epochs.png`` from metrics.json,
    ``encoding.png`` from ``encoding.npz``, and ``kernels_<first layer>.png`` (its learned
    features, first seed) from ``weights.nc``. In a folder written before ``encoding.npz`` was saved, the
    encoding is recomputed from the dataset named in config.yaml (the same first training images) and
    kept as ``encoding.npz``; that needs the dataset on this machine (``BIOPLASTIC_DATA_DIR``), without
    it that figure is skipped with a warning."""
    out_dir = Path(out_dir)
    metrics = {"n_classes": len(config["data"]["classes"]), **metrics}     # older metrics.json lack n_classes
    plotting.decision_epochs(metrics, out_dir / "accuracy_over_epochs.png", title=config.get("title") or "")
    written = [out_dir / "accuracy_over_epochs.png"]
    if not (out_dir / "encoding.npz").exists():
        try:
            coding = LatencyCoding(**config["conv"]["encoding"])
            save_encoding(config, coding, load_split(config, "train", list(config["data"]["classes"])), out_dir)
        except BioplasticError as exc:
            plotting.skipped(f"encoding.png not drawn: this folder has no encoding.npz and the dataset to recompute "
                             f"it could not be read ({exc})")
            return written
    with np.load(out_dir / "encoding.npz") as saved:
        plotting.latency_encoding(saved["images"], saved["latency"], out_dir / "encoding.png",
                                  n_steps=int(saved["n_steps"]), map_names=saved["map_names"].tolist(),
                                  title="DoG maps coded as first-spike steps (dark: early)")
        names = saved["map_names"].tolist()
    written.append(out_dir / "encoding.png")
    projections = (config.get("network") or {}).get("projections") or {}
    first = next((p for p in projections.values() if p.get("source") == "input"), {})
    if (out_dir / "weights.nc").exists() and first.get("connectivity") == "conv":
        with netcdf.open_dataset(out_dir / "weights.nc") as weights:
            seed = int(weights.seed[0])
            kernels = weights[first["target"]].sel(seed=seed).values
        path = out_dir / f"kernels_{first['target']}.png"
        plotting.input_kernels(kernels, path, channel_names=names,
                               title=f"{first['target']}: the {len(kernels)} learned features (seed {seed}), "
                                     "on − off weight per DoG scale")
        written.append(path)
    return written


def run(config: dict, out_dir) -> dict:
    spec, coding, train, _ = prepare(config)                # fail fast, before any computation
    save_encoding(config, coding, train, out_dir)
    tasks = [(config, int(seed), out_dir) for seed in config["seeds"]]
    results = map_tasks(train_seed, tasks, workers=int(config["workers"]), scheduler=config["scheduler"])
    for path in Path(out_dir).glob("checkpoint_*_seed*.npz"):
        path.unlink()
    metrics = summarize(results, config)
    write_json(out_dir / "metrics.json", metrics)
    write_metrics_long(out_dir, metric_table(metrics))
    netcdf.write(out_dir / "weights.nc", netcdf.kernel_dataset(
        {layer: np.stack([r["weights"][layer] for r in results]) for layer in results[0]["weights"]},
        [r["seed"] for r in results]), study="conv_stdp", decision_layer=spec.decision_layer)
    plot(metrics, config, out_dir)
    return metrics


def resumable_change(stored: str, config: dict, partial: Path) -> str | None:
    """Whether an interrupted run (``partial``, its config as ``stored`` text) may resume under
    ``config``: only if the two differ in nothing but the decision layer's number of epochs, which
    the checkpoints allow to grow or to shrink down to the epochs already trained (a shorter run's
    epochs are the first epochs of a longer one: same image orders, rates adapted per image).
    Returns the change, e.g. ``"conv.epochs.s3: 680 -> 40"``; None for any other difference."""
    changes = changes_within(stored, config, [f"conv.epochs.{decision_layer_name(config)}"])
    if not changes:
        return None
    (key, before, after), = changes
    refuse_fewer_epochs(sorted(Path(partial).glob("checkpoint_decision_*")), after, key, partial)
    return f"{key}: {before} -> {after}"


def decision_layer_name(config: dict) -> str:
    """The decision layer: the network's last layer."""
    return list(config["network"]["layers"])[-1]


def refuse_fewer_epochs(checkpoints, epochs: int, key: str, partial) -> None:
    """A clear error if a decision-layer checkpoint of an interrupted run has trained more than
    ``epochs`` epochs (they cannot be undone), naming the setting ``key`` and what to give."""
    trained = {path.name: read_arrays(path)[0]["epoch"] for path in checkpoints}
    beyond = {name: epoch for name, epoch in trained.items() if epoch > epochs}
    if beyond:
        raise ConfigError(f"{key}={epochs}: the interrupted run in {str(partial)!r} has trained more "
                          f"decision-layer epochs already ({', '.join(f'{k}: {v}' for k, v in beyond.items())}), "
                          f"and they cannot be undone. Give at least {max(beyond.values())}, or another --out.")


def report(runs: list[tuple[dict, dict]]) -> str:
    """Two tables over the runs (run k: the k-th run folder given): what each run trained and its test
    accuracy after the last decision-layer epoch and at its best epoch; then the test accuracy at
    every tested epoch, mean ± std over seeds, one column per run (one run of several seeds: then a
    column per seed too)."""
    def pm(pair):
        return f"{pair[0]:.1f} ± {pair[1]:.1f} %"

    lines = ["| run | images (train / test) | STDP layers | decision-layer epochs | seeds | test accuracy, last epoch "
             "| best epoch |", "|---|---|---|---:|---:|---:|---:|"]
    for k, (config, metrics) in enumerate(runs, 1):
        stdp = next(iter(metrics["stdp"].values()), {})
        epochs = config["conv"]["epochs"]
        layers = ", ".join(f"{name}: {epochs[name]} x {info['images'] // max(1, int(epochs[name])):,}"
                           for name, info in stdp.items()) or "none"
        lines.append(f"| {k} | {metrics['n_train']:,} / {metrics['n_test']:,} | {layers} | {metrics['epochs'][-1]} | "
                     f"{len(metrics['seeds'])} | {pm(metrics['final_mean_std'])} | {pm(metrics['best_mean_std'])} |")
    tested = sorted({e for _, metrics in runs for e in metrics["epochs"]})
    # One run: its seeds' own curves beside the mean (the per-seed accuracy over epochs).
    per_seed = runs[0][1]["test_accuracy_per_seed"] if len(runs) == 1 and len(runs[0][1]["seeds"]) > 1 else {}
    heads = ([f"run {k}" for k in range(1, len(runs) + 1)] if len(runs) > 1
             else [f"test accuracy (mean ± std, {len(runs[0][1]['seeds'])} seed(s))"]) + [f"seed {s}" for s in per_seed]
    lines += ["", "| decision-layer epoch | " + " | ".join(heads) + " |", "|---:|" + "---:|" * len(heads)]
    for epoch in tested:
        cells = []
        for _, metrics in runs:
            i = metrics["epochs"].index(epoch) if epoch in metrics["epochs"] else None
            cells.append("" if i is None else pm((metrics["test_accuracy_mean"][i], metrics["test_accuracy_std"][i])))
        for curve in per_seed.values():
            cells.append(f"{curve['test_accuracy'][curve['epoch'].index(epoch)]:.1f} %" if epoch in curve["epoch"]
                         else "")
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary_text(metrics: dict) -> str:
    final, best = metrics["final_mean_std"], metrics["best_mean_std"]
    lines = ["", f"test accuracy over {len(metrics['seeds'])} seed(s), {metrics['n_train']} training / "
                 f"{metrics['n_test']} test images (%):",
             f"  after {metrics['epochs'][-1]} decision-layer epochs: {final[0]:5.1f} ± {final[1]:4.1f}   "
             f"best epoch: {best[0]:5.1f} ± {best[1]:4.1f}"]
    for seed, timing in metrics["timings_per_seed"].items():
        lines.append(f"  seed {seed}: " + ", ".join(f"{k} {v:.0f}" for k, v in timing.items()))
    return "\n".join(lines)


def check(config: dict) -> None:
    prepare(config)
