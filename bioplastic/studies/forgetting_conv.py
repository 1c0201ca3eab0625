"""Catastrophic forgetting in the convolutional STDP network, as the reference ran it.

Antonov, Sviatov & Sukhov (2022) and the dissertation trained the network of Mozafari et al.
(2019) (``conv_stdp``) on MNIST digits (task 1), then on ten EMNIST letters mapped onto the
digits' ten labels and the *same* decision maps (task 2: letter k <-> label k), and measured
how much of task 1 survives. Protections: lateral-inhibition radii r of the STDP layers'
k-winners-take-all, freezing the largest decision weights, per-weight Langevin ranges,
rehearsal of a few digits, and joint training as the upper reference; and, as the letters'
ceiling, a fresh decision layer trained on the letters alone (``fresh``).

The computation is Dask tasks in stages per seed (task 1 as two), each task started as soon as the tasks
whose stage files it reads have finished (:func:`bioplastic.sweep.map_graph`): no worker waits
for a whole stage to end, and of the tasks ready at once the earlier seed's go first (then task
1's decision layer, which every task-2 decision waits for, then the later stage's, then the
Langevin task, the longest). Every finished task is kept in the run
folder, so an interrupted run resumes with what is left; a run longer than one sitting shows
whole seeds early: once a seed is finished and others are not, ``interim/`` in the run folder
holds the table, numbers and figure of the seeds finished so far. One Langevin task runs at a
time (its snapshots are held in memory).

1. **task 1** per (seed, radii), two tasks: the STDP layers on the digits, their output
   cached once per image (``task1_features``); then R-STDP decision epochs tested after each
   (``task1``); the state carried into task 2 is the epoch with the best digit test accuracy
   (``forgetting.task1_state: best``, as the reference's notebooks did) or the last one.
2. **task-2 features** per (seed, radii, training set), beside task 1's decision epochs
   (they start from task 1's STDP layers, not from its decision layer): the STDP layers continue on the
   task-2 training set (letters; letters + a fraction of the digits for rehearsal; letters
   + all digits for joint training) at the rates they had reached; the decision layer's
   input is cached for that set and for the letter and digit test images.
3. **task-2 decision** per (seed, variant): the R-STDP rates reset (adaptive_int of task 2),
   the decision layer trained on the task-2 set, letters and digits tested after every
   epoch. Variants: no protection at each radius pair; freezing, Langevin ranges,
   rehearsal and joint training at ``forgetting.protected_radii``; ``fresh`` there trains a
   new decision layer (task 1's initial weights and rates) on the letters: what the letters
   reach with those features when no digit has to be kept.

Data: task 1 is a balanced sample of ``data.n_train`` / ``data.n_test`` images, task 2 of
``task2.n_train`` / ``task2.n_test`` (2,400 / 400 per class in the reference). EMNIST
*letters* merges upper and lower case (the reference used capitals only); its test images
are the official split when present, else a stratified seeded hold-out of the training
split (``data.holdout_per_class``), as the run's provenance says.
"""
from __future__ import annotations

import copy
import shutil
import time
import zlib
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bioplastic import netcdf, plotting
from bioplastic.config import changes_within, lookup
from bioplastic.data import sample_indices
from bioplastic.errors import ConfigError
from bioplastic.network.decision import SILENCE, DecisionLayer
from bioplastic.network.kernel_rules import KernelSTDP, RewardSTDP
from bioplastic.protections import freeze_above_quantile, hyndman_fan_quantiles
from bioplastic.results import metric_rows, read_arrays, read_meta, write_arrays, write_json, write_metrics_long
from bioplastic.studies import conv_stdp
from bioplastic.studies.common import available_memory
from bioplastic.sweep import Node, map_graph

PROTECTIONS = ("freeze", "langevin", "rehearsal", "joint", "fresh")


# The dissertation's table (notebook values in the reference's brackets are in the README).
REFERENCE = {"r0_0": (90.8, 78.4, 48.1), "r3_1": (93.6, 87.3, 73.3), "r5_1": (94.8, 86.5, 72.2),
             "r5_2": (94.8, 88.9, 78.6), "langevin_q1_q3": (None, 66.3, 78.7),
             "langevin_d10_d90": (None, 78.3, 82.2)}


# --- configuration ------------------------------------------------------------------------


def _radii_name(radii) -> str:
    return "r" + "_".join(str(int(r)) for r in radii)


def _task_config(config: dict, task: int) -> dict:
    """The conv_stdp config of one task: its data and its epochs (a layer that task 2 does not
    list, as in the task-2 features' stage config, keeps task 1's)."""
    out = copy.deepcopy(config)
    if task == 2:
        section = config["task2"]
        out["data"] = {**config["data"], **{k: v for k, v in section.items() if k != "epochs"}}
        out["conv"]["epochs"] = {**config["conv"]["epochs"], **section["epochs"]}
    return out


def _with_radii(config: dict, radii) -> dict:
    out = copy.deepcopy(config)
    for name, radius in zip(_stdp_layers(config), radii):
        out["network"]["layers"][name].setdefault("competition", {})
        out["network"]["layers"][name]["competition"] = {**(out["network"]["layers"][name]["competition"] or {}),
                                                         "radius": int(radius)}
    return out


def _stdp_layers(config: dict) -> list[str]:
    """The layers that learn with STDP, in network order (the order of ``forgetting.radii``)."""
    targets = {proj["target"] for proj in config["network"]["projections"].values()
               if (proj or {}).get("plasticity") and proj["plasticity"].get("rule") == KernelSTDP.name}
    return [name for name in config["network"]["layers"] if name in targets]


def _check_forgetting(config: dict) -> dict:
    """The rules that join sections (types and ranges are the schema's: bioplastic/schema.py)."""
    f = config["forgetting"]
    layers = _stdp_layers(config)
    if not all(len(r) == len(layers) for r in f["radii"]):
        raise ConfigError(f"forgetting.radii must be a list of [{', '.join(layers)}] radius lists (integers >= 0), "
                          f"e.g. [[0, 0], [3, 1]]; got {f['radii']!r}.")
    epochs2 = config["task2"]["epochs"]
    if sorted(epochs2) != sorted(config["conv"]["epochs"]):
        raise ConfigError(f"task2.epochs must give the task-2 epochs of the same layers as conv.epochs "
                          f"({', '.join(config['conv']['epochs'])}), got {epochs2!r}.")
    return f


def prepare(config: dict):
    """Both tasks checked and loaded, and every radius pair's network built, before computation."""
    f = _check_forgetting(config)
    first = conv_stdp.prepare(_task_config(config, 1))
    second = conv_stdp.prepare(_task_config(config, 2))
    for radii in f["radii"]:
        conv_stdp.prepare(_with_radii(_task_config(config, 1), radii))
    for task, (spec, _, train, _) in ((1, first), (2, second)):
        if len(train.class_names) != spec.n_classes:
            raise ConfigError(f"task {task} has {len(train.class_names)} classes; both tasks need the same number "
                              "(they share the decision layer's class maps).")
    if "langevin" in f["protections"]:
        # the snapshots are held by the worker that runs the Langevin phase: on a scheduler's
        # workers, their memory counts (this machine's where they state none)
        from bioplastic.sweep.clusters import worker_memory
        check_snapshot_memory(first[0], config, worker_memory(config["scheduler"]) if config.get("scheduler") else None)
    if len(config["data"]["classes"]) != len(config["task2"]["classes"]):
        raise ConfigError(f"data.classes ({len(config['data']['classes'])}) and task2.classes "
                          f"({len(config['task2']['classes'])}) must have the same length: letter k is taught "
                          "on digit k's decision maps.")
    return first, second


def check_snapshot_memory(spec, config: dict, available: int | None = None) -> None:
    """Refuse a Langevin phase whose snapshots (16 bits per decision weight each) would not fit in
    memory, before anything runs: the reference recorded every 100th image over ~24 noisy epochs,
    5,760 snapshots of 1,250,000 weights (14 GiB). Fewer snapshots over the same epochs
    (``snapshot_every``) estimate the same quantiles of each weight's trajectory."""
    lang = config["forgetting"]["langevin"]
    proj = spec.projections[spec.decision_layer]
    n_weights = spec.layers[spec.decision_layer].shape[0] * spec.shape(proj.source)[0] * proj.kernel_size ** 2
    n_images = int(lang["epochs"]) * int(config["data"]["n_train"])
    snapshots = n_images // int(lang["snapshot_every"])
    needed = 2 * snapshots * n_weights          # seeds run one after another: one Langevin task at a time
    available = available_memory() if available is None else available
    if available is not None and needed > available:
        fitting = -(-2 * n_weights * n_images // available)
        raise ConfigError(
            f"the Langevin phase would keep {snapshots:,} snapshots of {n_weights:,} decision weights "
            f"({lang['epochs']} epochs x {config['data']['n_train']:,} images / snapshot_every "
            f"{lang['snapshot_every']}), about {needed / 2**30:,.1f} GiB, more than the {available / 2**30:,.1f} GiB "
            f"of memory available. Record less often: forgetting.langevin.snapshot_every={fitting} or more "
            "(the quantiles of each weight's trajectory need its whole span, not every image), or fewer epochs.")


def _variants(f: dict) -> list[tuple[str, list]]:
    """(variant, radii) of task 2: no protection at every radius pair, then each protection."""
    out = [(_radii_name(r), r) for r in f["radii"]]
    return out + [(p, f["protected_radii"]) for p in f["protections"]]


def _training_set(variant: str) -> str:
    return variant if variant in ("rehearsal", "joint") else "letters"


# --- stage files ----------------------------------------------------------------------------


def _unit_path(out_dir: Path, kind: str, seed: int, radii, extra: str = "") -> Path:
    return Path(out_dir) / "units" / f"{kind}_seed{seed}_{_radii_name(radii)}{extra}.npz"


# --- the decision layer ---------------------------------------------------------------------


def _decision_rule(spec, n_train: int, f: dict, adaptive_int: float | None = None):
    rule = spec.projections[spec.decision_layer].rule
    changes = {"adapt_every": n_train} if f["adapt_once_per_epoch"] and hasattr(rule, "adapt_every") else {}
    if adaptive_int is not None and hasattr(rule, "adaptive_int"):
        changes["adaptive_int"] = float(adaptive_int)
    return replace(rule, **changes)


def _accuracy(layer: DecisionLayer, fired: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float(np.mean(layer.predict(fired) == labels))


# --- stage 1: task 1 ------------------------------------------------------------------------


def _samples(config: dict, train, test, seed: int):
    data = config["data"]
    return (sample_indices(train, int(data["n_train"]), seed),
            sample_indices(test, int(data["n_test"]), int(config["evaluation"]["test_seed"])))


def task1_features(task) -> dict:
    """The STDP layers on the digits, for one seed and one radius pair, and their output cached
    for the decision layer (the stage file that task 1's decision epochs and every task-2
    training set start from)."""
    config, seed, radii, out_dir = task
    path = _unit_path(out_dir, "task1_features", seed, radii)
    legacy = _unit_path(out_dir, "checkpoint_task1_features", seed, radii)  # the same file, in runs before this task
    if legacy.exists() and not path.exists():
        legacy.rename(path)
    if path.exists():                   # written, and the task was interrupted before it returned
        meta = read_meta(path)
        return {"seed": seed, "radii": list(radii), "timings": meta["timings"], "stdp": meta["stdp"]}
    cfg = _with_radii(_task_config(config, 1), radii)
    spec, coding, train, test = conv_stdp.prepare(cfg)
    train_idx, test_idx = _samples(cfg, train, test, seed)
    timings, seen = {}, {}
    rng = np.random.default_rng([seed, 11, *radii])
    steps = conv_stdp.encoded(cfg["data"]["dataset"], {"train": train.images[train_idx],
                                                       "test": test.images[test_idx]}, coding, timings)
    weights = spec.initial_weights(seed)
    steps, stdp = conv_stdp.train_feature_layers(cfg, spec, steps, weights, rng, seed, cfg["conv"]["epochs"],
                                                 cfg["conv"]["stdp_images"], timings, seen,
                                                 tag=f" {_radii_name(radii)}")
    # the decision epochs go on with this random stream where the STDP layers left it
    write_arrays(path, {"seen": seen, "stdp": stdp, "timings": timings, "rng": rng.bit_generator.state},
                 **{f"w_{k}": v for k, v in weights.items()}, **{f"fired_{k}": s >= 0 for k, s in steps.items()})
    return {"seed": seed, "radii": list(radii), "timings": timings, "stdp": stdp}


def task1(task) -> dict:
    """The decision layer on the digits, for one seed and one radius pair, on the output of the
    STDP layers that :func:`task1_features` trained."""
    config, seed, radii, out_dir = task
    path = _unit_path(out_dir, "task1", seed, radii)
    cfg = _with_radii(_task_config(config, 1), radii)
    spec, _, train, test = conv_stdp.prepare(cfg)
    train_idx, test_idx = _samples(cfg, train, test, seed)
    rng = np.random.default_rng([seed, 11, *radii])     # the stream task1_features left, restored below
    tag = f" {_radii_name(radii)}"
    meta, arrays = read_arrays(_unit_path(out_dir, "task1_features", seed, radii))
    weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w_")}
    fired = {split: arrays[f"fired_{split}"] for split in ("train", "test")}
    seen, stdp, timings = meta["seen"], meta["stdp"], meta["timings"]
    rng.bit_generator.state = meta["rng"]
    labels = {"train": train.labels[train_idx], "test": test.labels[test_idx]}
    decision = spec.decision_layer
    f = config["forgetting"]
    layer = DecisionLayer(spec, weights[decision], _decision_rule(spec, len(train_idx), f))
    checkpoint = _unit_path(out_dir, "checkpoint_task1", seed, radii)
    tests = {"digits": (fired["test"], labels["test"])}
    trained = conv_stdp.decision_epochs(layer, fired["train"], labels["train"], tests,
                                        int(cfg["conv"]["epochs"][decision]), rng,
                                        f"seed {seed}{tag}: task 1 {decision}", keep_best="digits",
                                        checkpoint=checkpoint)
    curve, best = trained.curve, trained.best
    timings[f"train_{decision}_s"], timings["test_s"] = trained.spent["train"], trained.spent["test"]
    carried = best if f["task1_state"] == "best" else {"epoch": curve["epoch"][-1], "weights": layer.weights,
                                                        "rule": asdict(layer.rule)}
    # the STDP layers' weights and their output stay in the features unit alone (_task1_unit)
    write_arrays(path, {"seen": seen, "rule": carried["rule"], "epoch": carried["epoch"], "train_idx_seed": seed},
                 decision=carried["weights"], labels_train=labels["train"], labels_test=labels["test"],
                 train_idx=train_idx)
    checkpoint.unlink(missing_ok=True)                 # the features stay: task 2 and --extend start from them
    return {"seed": seed, "radii": list(radii), "curve": curve, "carried_epoch": carried["epoch"],
            "carried_accuracy": curve["digits"][curve["epoch"].index(carried["epoch"])], "timings": timings,
            "stdp": stdp}


def _task1_unit(out_dir: Path, seed: int, radii) -> tuple[dict, dict]:
    """Task 1's carried decision layer (the ``task1`` unit) and the decision-layer input it was
    trained and tested on (``fired_train``, ``fired_test`` of the ``task1_features`` unit; a
    ``task1`` unit written before task 1 was two tasks holds them itself)."""
    meta, unit = read_arrays(_unit_path(out_dir, "task1", seed, radii))
    if "fired_train" not in unit:
        _, features = read_arrays(_unit_path(out_dir, "task1_features", seed, radii))
        unit.update({k: features[k] for k in ("fired_train", "fired_test")})
    return meta, unit


# --- stage 2: task-2 features ---------------------------------------------------------------


def task2_features(task) -> dict:
    """The STDP layers continue on a task-2 training set; cached inputs of the decision layer."""
    config, seed, radii, training_set, out_dir = task
    meta, unit = read_arrays(_unit_path(out_dir, "task1_features", seed, radii))
    cfg1 = _with_radii(_task_config(config, 1), radii)
    cfg2 = _with_radii(_task_config(config, 2), radii)
    spec, coding, letters, letters_test = conv_stdp.prepare(cfg2)
    _, _, digits, digits_test = conv_stdp.prepare(cfg1)
    letter_idx, letter_test_idx = _samples(cfg2, letters, letters_test, seed)
    digit_idx, digit_test_idx = _samples(cfg1, digits, digits_test, seed)        # task 1's images
    rng = np.random.default_rng([seed, 13, *radii, PROTECTIONS.index(training_set) if training_set in PROTECTIONS
                                 else 9])
    if training_set == "rehearsal":
        digit_idx = _rehearsed(digit_idx, digits.labels, config["forgetting"]["rehearsal_fraction"], rng)
    timings = {}
    images = {"train": letters.images[letter_idx], "letters": letters_test.images[letter_test_idx],
              "digits": digits_test.images[digit_test_idx]}
    labels = {"train": letters.labels[letter_idx], "letters": letters_test.labels[letter_test_idx],
              "digits": digits_test.labels[digit_test_idx]}
    steps = conv_stdp.encoded(cfg2["data"]["dataset"], {k: images[k] for k in ("train", "letters")}, coding, timings)
    steps.update(conv_stdp.encoded(cfg1["data"]["dataset"], {"digits": images["digits"]}, coding, timings))
    if training_set != "letters":
        extra = conv_stdp.encoded(cfg1["data"]["dataset"], {"train": digits.images[digit_idx]}, coding, timings)
        steps["train"] = np.concatenate([steps["train"], extra["train"]])
        labels["train"] = np.concatenate([labels["train"], digits.labels[digit_idx]])
    weights = {k[2:]: v for k, v in unit.items() if k.startswith("w_") and k[2:] != spec.decision_layer}
    seen = dict(meta["seen"])
    steps, stdp = conv_stdp.train_feature_layers(cfg2, spec, steps, weights, rng, seed, cfg2["conv"]["epochs"],
                                                 None, timings, seen, tag=f" {_radii_name(radii)} {training_set}")
    write_arrays(_unit_path(out_dir, "task2", seed, radii, f"_{training_set}"), {"seen": seen},
          **{f"w_{k}": v for k, v in weights.items()},
          **{f"fired_{k}": s >= 0 for k, s in steps.items()}, **{f"labels_{k}": v for k, v in labels.items()},
          n_digits_in_train=np.array(len(labels["train"]) - len(letter_idx)))
    return {"seed": seed, "radii": list(radii), "training_set": training_set, "timings": timings, "stdp": stdp,
            "n_train": len(labels["train"])}


def _rehearsed(indices: np.ndarray, labels: np.ndarray, fraction: float, rng) -> np.ndarray:
    """A seeded ``fraction`` of each class's task-1 training images (at least one per class)."""
    chosen = []
    for c in np.unique(labels[indices]):
        own = indices[labels[indices] == c]
        chosen.append(rng.choice(own, max(1, int(round(fraction * len(own)))), replace=False))
    return np.sort(np.concatenate(chosen))


# --- stage 3: task-2 decision layer ---------------------------------------------------------


def task2_decision(task) -> list[dict]:
    """Task 2 of one variant (the Langevin task returns one result per range)."""
    config, seed, variant, radii, out_dir = task
    f = config["forgetting"]
    meta1, unit1 = _task1_unit(out_dir, seed, radii)
    _, unit2 = read_arrays(_unit_path(out_dir, "task2", seed, radii, f"_{_training_set(variant)}"))
    cfg2 = _with_radii(_task_config(config, 2), radii)
    spec, *_ = conv_stdp.prepare(cfg2)
    rng = np.random.default_rng([seed, 17, *radii, zlib.crc32(variant.encode())])
    tests = {"letters": (unit2["fired_letters"], unit2["labels_letters"]),
             "digits": (unit2["fired_digits"], unit2["labels_digits"])}
    n_epochs = int(cfg2["conv"]["epochs"][spec.decision_layer])

    ranges = {None: None}
    extra = {}
    if variant == "freeze":
        mask = freeze_above_quantile(unit1["decision"], f["freeze_fraction"])
        extra["frozen_fraction"] = float(1.0 - mask.mean())
        ranges = {None: ("plastic", mask)}
    elif variant == "langevin":
        began = time.perf_counter()
        bounds, extra = langevin_ranges(spec, unit1, meta1["rule"], f["langevin"], rng)
        extra["langevin_s"] = time.perf_counter() - began
        ranges = {name: ("bounds", b) for name, b in bounds.items()}
    results = []
    for name, protection in ranges.items():
        layer = task2_layer(spec, unit1["decision"], len(unit2["labels_train"]), f, variant, seed)
        if protection and protection[0] == "plastic":
            layer.protect(plastic=protection[1])
        elif protection:
            layer.protect(bounds=protection[1])
        label = f"{variant}_{name}" if name else variant
        checkpoint = _unit_path(out_dir, "checkpoint_task2", seed, radii, f"_{label}")
        began = time.perf_counter()
        trained = conv_stdp.decision_epochs(layer, unit2["fired_train"], unit2["labels_train"], tests, n_epochs, rng,
                                            f"seed {seed} {label}: task 2", test_first=True, checkpoint=checkpoint)
        results.append({"seed": seed, "variant": label, "radii": list(radii), "curve": trained.curve,
                        "train_s": time.perf_counter() - began, "n_train": len(unit2["labels_train"]), **extra})
    for result in results:              # kept by the task cache once returned
        _unit_path(out_dir, "checkpoint_task2", seed, radii, f"_{result['variant']}").unlink(missing_ok=True)
    return results


def task2_layer(spec, carried: np.ndarray, n_train: int, f: dict, variant: str, seed: int) -> DecisionLayer:
    """The decision layer that task 2 trains: the one carried from task 1 at the reset R-STDP
    rates with task 2's adaptive_int; for ``fresh``, a new one as task 1 started it (the seed's
    initial weights, task 1's rates), which has never seen a digit."""
    if variant == "fresh":
        return DecisionLayer(spec, spec.initial_weights(seed)[spec.decision_layer], _decision_rule(spec, n_train, f))
    layer = DecisionLayer(spec, carried, _decision_rule(spec, n_train, f, f["task2_adaptive_int"]))
    layer.clamped = True                 # task 1 left the weights within the rule's bounds
    return layer


def langevin_ranges(spec, unit1: dict, rule: dict, lang: dict, rng) -> tuple[dict, dict]:
    """Per-weight ranges (name -> (low, high)) from the quantiles of :func:`langevin_phase`'s
    snapshots (plotting positions of ``scipy.stats.mstats.mquantiles``, as the reference)."""
    layer, snapshots, scale = langevin_phase(spec, unit1, rule, lang, rng)
    names = list(lang["ranges"])
    probabilities = [p for name in names for p in lang["ranges"][name]]
    q = hyndman_fan_quantiles(snapshots, probabilities) / scale + layer.rule.w_min
    bounds = {name: (q[2 * i], q[2 * i + 1]) for i, name in enumerate(names)}
    width = {name: float(np.mean(high - low)) for name, (low, high) in bounds.items()}
    after = _accuracy(layer, unit1["fired_test"], unit1["labels_test"])
    return bounds, {"langevin_snapshots": len(snapshots), "langevin_mean_range": width,
                    "langevin_digits_after": after}


def langevin_phase(spec, unit1: dict, rule: dict, lang: dict, rng):
    """Continue task-1 R-STDP on the digits with N(0, sigma) added to every weight after each
    update (then clamped), as the reference: one ordinary epoch at the carried rates, which
    are then rescaled once by the fractions wrong/correct x ``adaptive_int``; then
    ``lang["epochs"]`` noisy epochs at fixed rates, the weights (before that image's noise)
    recorded every ``snapshot_every`` images. Returns the layer, the snapshots (time,
    weights) as 16-bit fixed point over [w_min, w_max], and that fixed point's scale."""
    fired, labels = unit1["fired_train"], unit1["labels_train"]
    base = replace(spec.projections[spec.decision_layer].rule, **rule)
    if not isinstance(base, RewardSTDP):
        raise ConfigError("the Langevin protection needs the decision layer's rule to be rstdp.")
    layer = DecisionLayer(spec, unit1["decision"], replace(base, adapt_every=0))
    layer.clamped = True
    stats = layer.train_epoch(fired, labels, rng.permutation(len(labels)))
    reward, punish = stats.wrong * lang["adaptive_int"], stats.correct * lang["adaptive_int"]
    layer.rule = layer.base_rule = replace(
        base, adapt_every=0, a_plus_reward=base.a_plus_reward * reward, a_minus_reward=base.a_minus_reward * reward,
        a_plus_punish=base.a_plus_punish * punish, a_minus_punish=base.a_minus_punish * punish)
    every, sigma = int(lang["snapshot_every"]), float(lang["sigma"])
    n_snapshots = int(lang["epochs"]) * len(labels) // every
    w_min, w_max = base.w_min, base.w_max
    scale = 65535.0 / (w_max - w_min)
    snapshots = np.empty((n_snapshots, layer.weights.size), dtype=np.uint16)
    noise = np.empty(layer.weights.shape, dtype=np.float32)
    state = {"image": 0, "taken": 0}

    def after_image(decided):
        state["image"] += 1
        if state["image"] % every == 0 and state["taken"] < n_snapshots:
            snapshots[state["taken"]] = np.rint((layer.weights.ravel() - w_min) * scale)
            state["taken"] += 1
        if decided != SILENCE and sigma > 0:
            rng.standard_normal(out=noise, dtype=np.float32)
            layer.add_noise(np.multiply(noise, sigma, out=noise), w_min, w_max)

    for _ in tqdm(range(int(lang["epochs"])), desc="Langevin epochs", unit="epoch", leave=False):
        layer.train_epoch(fired, labels, rng.permutation(len(labels)), after_image=after_image)
    return layer, snapshots[:state["taken"]], scale


# --- the run --------------------------------------------------------------------------------


#: Settings that choose which tasks run, not what one computes (a task gets its radii and variant).
CHOOSING = ("radii", "protected_radii", "protections")
#: What each stage's tasks read of the `forgetting` section, their own and through the stage
#: files of the stages before (None: all of it but :data:`CHOOSING`).
STAGE_READS = {0: (), 1: ("task1_state", "adapt_once_per_epoch"),
               2: ("task1_state", "adapt_once_per_epoch", "rehearsal_fraction"), 3: None}


def stage_config(config: dict, stage: int) -> dict:
    """The part of the config that a stage's tasks depend on. A finished task is kept under a
    key made of its arguments, so a task carrying only this keeps its key when a setting of a
    later stage changes (e.g. the list of protections, or the task-2 decision epochs): resuming
    such a run (:func:`resumable_change`) recomputes only what the change affects."""
    sections = ("data", "network", "conv", "device", "evaluation", "forgetting") + (("task2",) if stage > 1 else ())
    out = {key: copy.deepcopy(config[key]) for key in sections}
    if STAGE_READS[stage] is not None:
        out["forgetting"] = {key: config["forgetting"][key] for key in STAGE_READS[stage]}
    else:
        out["forgetting"] = {key: v for key, v in config["forgetting"].items() if key not in CHOOSING}
    if stage == 2:                      # the task-2 features do not depend on the decision layer's epochs
        out["task2"]["epochs"].pop(conv_stdp.decision_layer_name(config), None)
    return out


#: What an interrupted run may change when it resumes (besides the task-2 decision epochs):
#: every task's key holds the settings it depends on, so the tasks these leave unchanged are
#: kept and the others run; the in-task checkpoints are per (seed, radii, variant) and stay valid.
RESUMABLE = ("seeds", "forgetting.radii", "forgetting.protected_radii", "forgetting.protections")

#: A finished run may be extended (`bioplastic run --extend`) by the same changes: its tasks
#: stay valid, so only what the change adds runs.
EXTENDS_FINISHED_RUNS = True


def resumable_change(stored: str, config: dict, partial: Path) -> str | None:
    """Whether an interrupted run (``partial``, its config as ``stored`` text) may resume under
    ``config``: only if the two differ in nothing but seeds, radius pairs, protections (and the
    radii they start from) and the number of task-2 decision epochs, which may grow, or shrink
    down to the epochs an interrupted variant has trained. Returns the change, e.g.
    ``"forgetting.protections: [] -> ['freeze']"``; None for any other difference."""
    epochs_key = f"task2.epochs.{conv_stdp.decision_layer_name(config)}"
    changes = changes_within(stored, config, [*RESUMABLE, epochs_key])
    if not changes:
        return None
    for key, _, epochs in changes:
        if key == epochs_key:
            conv_stdp.refuse_fewer_epochs(sorted(Path(partial).glob("units/checkpoint_task2_*")), epochs, key, partial)
    return ", ".join(f"{key}: {old} -> {new}" for key, old, new in changes)


def run(config: dict, out_dir) -> dict:
    (spec, *_), _ = prepare(config)                          # fail fast, before any computation
    out_dir = Path(out_dir)
    f, workers, scheduler = config["forgetting"], int(config["workers"]), config["scheduler"]
    seeds = [int(s) for s in config["seeds"]]
    variants = _variants(f)
    radii_all = f["radii"]
    sets = sorted({(tuple(r), _training_set(v)) for v, r in variants})
    nodes, stage_of, seed_of, where = [], [], [], {}

    def add(stage, seed, key, function, task, after=(), priority=0):
        where[key] = len(nodes)
        # earlier seeds first, then later stages (a seed ends sooner), then the longer tasks
        nodes.append(Node(function, task, tuple(where[a] for a in after),
                          priority=100 * (len(seeds) - seeds.index(seed)) + 10 * stage + priority))
        stage_of.append(stage)
        seed_of.append(seed)

    for s in seeds:
        for r in radii_all:
            add(0, s, ("task1_features", s, tuple(r)), task1_features, (stage_config(config, 0), s, r, out_dir))
            # before the task-2 features that are ready with it: every task-2 decision waits for it
            add(1, s, ("task1", s, tuple(r)), task1, (stage_config(config, 1), s, r, out_dir),
                after=[("task1_features", s, tuple(r))], priority=15)
        for r, t in sets:
            add(2, s, ("features", s, r, t), task2_features, (stage_config(config, 2), s, list(r), t, out_dir),
                after=[("task1_features", s, r)], priority=int(t != "letters"))
        for v, r in variants:
            # one Langevin phase at a time (its snapshots are held in memory: check_snapshot_memory)
            chain = [("langevin", seeds[seeds.index(s) - 1])] if v == "langevin" and s != seeds[0] else []
            add(3, s, ("langevin", s) if v == "langevin" else ("decision", s, v), task2_decision,
                (stage_config(config, 3), s, v, r, out_dir), after=[("task1_features", s, tuple(r)),
                                                                   ("task1", s, tuple(r)),
                                                                   ("features", s, tuple(r), _training_set(v)),
                                                                   *chain], priority=int(v == "langevin"))
    computed = {}

    def finished(i, result):            # the seeds done so far, shown in interim/ while the run goes on
        computed[i] = result
        done = [s for s in seeds if all(j in computed for j, t in enumerate(seed_of) if t == s)]
        if seed_of[i] in done and len(done) < len(seeds):
            _write_interim(*_by_stage(stage_of, seed_of, computed, done)[::2], config, out_dir / "interim")

    map_graph(nodes, workers=workers, scheduler=scheduler, on_result=finished)
    first, features, second = _by_stage(stage_of, seed_of, computed, seeds)
    shutil.rmtree(out_dir / "interim", ignore_errors=True)
    metrics = summarize(first, second, config)
    metrics["timings"] = {"task1": {f"seed{r['seed']}_{_radii_name(r['radii'])}": r["timings"] for r in first},
                          "task2_features": {f"seed{r['seed']}_{_radii_name(r['radii'])}_{r['training_set']}":
                                             r["timings"] for r in features}}
    write_results(metrics, out_dir)
    save_arrays(out_dir, spec, seeds, radii_all, sets)
    plot(metrics, config, out_dir)
    return metrics


def _by_stage(stage_of: list[int], seed_of: list[int], results: dict, seeds: list[int]) -> tuple[list, list, list]:
    """The results of task 1, the task-2 features and the task-2 decision (one list of results
    per Langevin task, flattened) of ``seeds``, in the order of the nodes (task 1's STDP
    layers, stage 0, report their times in task 1's result)."""
    stages = ([], [], [])
    for i in sorted(results):
        if seed_of[i] in seeds and stage_of[i]:
            stages[stage_of[i] - 1].extend(results[i] if stage_of[i] == 3 else [results[i]])
    return stages


def _write_interim(first: list[dict], second: list[dict], config: dict, folder: Path) -> None:
    """The table, numbers and figure of the seeds finished so far (removed when the run completes)."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = summarize(first, second, config)
    metrics["interim"] = f"seeds {metrics['seeds']} of {[int(s) for s in config['seeds']]}; the run goes on"
    write_results(metrics, folder)
    (folder / "table.md").write_text(f"Interim: {metrics['interim']}.\n\n" + markdown_table(metrics))
    plot(metrics, dict(config, title=f"{config.get('title') or ''} (interim: seeds {metrics['seeds']})"), folder)


def save_arrays(out_dir: Path, spec, seeds: list, radii_all: list, sets: list) -> None:
    """``weights.nc``, the weights the stage files in ``units/`` hold, named (:func:`netcdf.kernel_dataset`):
    every STDP layer's kernels after task 1 and after task 2 on each training set (dimension
    ``phase``: task1, task2_letters, task2_rehearsal, task2_joint), and the decision layer carried
    from task 1 into task 2; each per radius pair and seed."""
    def kernels(stage, radii, extra=""):
        saved = [_stage_weights(out_dir, stage, s, radii, spec.decision_layer, extra) for s in seeds]
        return {layer: np.stack([w[layer] for w in saved]).reshape(len(seeds), *spec.connectivity(layer).weight_shape)
                for layer in saved[0]}

    runs = []
    for radii in radii_all:
        task1 = kernels("task1", radii)
        carried = netcdf.kernel_dataset({spec.decision_layer: task1.pop(spec.decision_layer)}, seeds)
        carried[spec.decision_layer].attrs["long_name"] = "decision layer carried from task 1 into task 2"
        runs.append(({"radii": _radii_name(radii)}, carried))
        runs.append(({"radii": _radii_name(radii), "phase": "task1"}, netcdf.kernel_dataset(task1, seeds)))
        for training_set in sorted({t for r, t in sets if list(r) == list(radii)}):
            runs.append(({"radii": _radii_name(radii), "phase": f"task2_{training_set}"},
                         netcdf.kernel_dataset(kernels("task2", radii, f"_{training_set}"), seeds)))
    netcdf.write(out_dir / "weights.nc", netcdf.combine(runs), study="forgetting_conv",
                 decision_layer=spec.decision_layer)


def _stage_weights(out_dir: Path, stage: str, seed: int, radii, decision_layer: str, extra: str = "") -> dict:
    """The weights after a stage by layer; after task 1, the STDP layers of its features unit
    and the decision layer it carried (a task1 unit from before task 1 was two tasks holds both)."""
    weights = {}
    features = _unit_path(out_dir, "task1_features", seed, radii)
    if stage == "task1" and features.exists():
        weights = {k: w for k, w in _load_weights(features, decision_layer).items() if k != decision_layer}
    return {**weights, **_load_weights(_unit_path(out_dir, stage, seed, radii, extra), decision_layer)}


def _load_weights(path: Path, decision_layer: str) -> dict:
    """The weights of a stage file by layer (task 1's carried decision layer included), nothing else read."""
    with np.load(path) as saved:
        return {decision_layer if k == "decision" else k.removeprefix("w_"): saved[k] for k in saved.files
                if k.startswith("w_") or k == "decision"}


def plot(metrics: dict, config: dict, out_dir) -> list[Path]:
    """The run's figure from metrics.json alone: ``forgetting_conv.png`` (:func:`plotting.task2_panels`)."""
    path = Path(out_dir) / "forgetting_conv.png"
    plotting.task2_panels(metrics, path, title=config.get("title") or "")
    return [path]


def report(runs: list[tuple[dict, dict]]) -> str:
    """Each run's table (:func:`markdown_table`), after a line saying what its numbers are."""
    blocks = []
    for k, (_, metrics) in enumerate(runs, 1):
        caption = (f"test accuracy (%), mean ± std over seeds {metrics['seeds']}; task 1 = the decision layer "
                   f"carried into task 2 ({metrics['task1_state']} epoch); {metrics['n_train'][0]:,} / "
                   f"{metrics['n_train'][1]:,} training images in task 1 / 2:")
        blocks.append((f"Run {k}: {caption}" if len(runs) > 1 else caption[0].upper() + caption[1:]) + "\n\n"
                      + markdown_table(metrics))
    return "\n".join(blocks)


#: What runs pooled by ``bioplastic merge`` may differ in: their seeds and variants (a variant's
#: radii are checked per variant), and where and under which title they ran. Everything else
#: (data, network, epochs, rates) must be the same.
MERGEABLE = ("seeds", "forgetting.radii", "forgetting.protections", "forgetting.protected_radii", "workers",
             "scheduler", "title")


def merge(runs: list[tuple[str, dict, dict]]) -> tuple[dict, dict]:
    """The config and metrics of one run made of finished runs ``(folder, config, metrics)`` of the
    same protocol that ran other seeds or variants (``bioplastic merge``): e.g. a seed run per
    session or per cluster node. Refused, naming what stands in the way, where the configs differ
    in anything but :data:`MERGEABLE`, where a variant starts from other radii in two runs, or where
    two runs hold the same seed of a variant with different results. The same seed of a variant with
    the same results (a run repeated to add other variants: the study is deterministic per seed)
    is taken once."""
    (first_dir, config, _), *others = runs
    for folder, other, _ in others:
        differ = [key for key in _differing_keys(config, other)
                  if not any(key == k or key.startswith(f"{k}.") for k in MERGEABLE)]
        if differ:
            raise ConfigError(f"{folder!r} and {first_dir!r} ran different protocols, so their seeds cannot be "
                              "pooled: " + "; ".join(f"{key} is {lookup(other, key)!r} there and "
                                                     f"{lookup(config, key)!r} here" for key in differ[:5])
                              + (f" (and {len(differ) - 5} more)" if len(differ) > 5 else "")
                              + f". Only {', '.join(MERGEABLE)} may differ.")
    first, second, timings, holder, started_from = [], [], {}, {}, {}
    for folder, _, metrics in runs:
        one, two = _results_of(metrics)
        for kept, results in ((first, one), (second, two)):
            for r in results:
                what = r.get("variant") or f"task 1 at radii {r['radii']}"
                if (what, r["seed"]) in holder:
                    there, same = holder[what, r["seed"]]
                    if same != r:
                        raise ConfigError(f"seed {r['seed']} of {what} is in both {there!r} and {folder!r}, with "
                                          "different results; merge runs of different seeds, or leave one of "
                                          "the two out.")
                    continue                                   # the same numbers twice: taken once
                holder[what, r["seed"]] = folder, r
                other, radii = started_from.setdefault(what, (folder, r["radii"]))
                if radii != r["radii"]:
                    raise ConfigError(f"{what} starts from radii {r['radii']} in {folder!r} and {radii} in "
                                      f"{other!r}: not the same variant, so its seeds cannot be pooled.")
                kept.append(r)
        for stage, entries in metrics.get("timings", {}).items():
            timings.setdefault(stage, {}).update(entries)
    merged = copy.deepcopy(config)
    merged["seeds"] = sorted({int(s) for _, c, _ in runs for s in c["seeds"]})
    f = merged["forgetting"]
    f["radii"] = [list(r) for r in dict.fromkeys(tuple(r) for _, c, _ in runs for r in c["forgetting"]["radii"])]
    f["protections"] = list(dict.fromkeys(p for _, c, _ in runs for p in c["forgetting"]["protections"]))
    protected = {tuple(c["forgetting"]["protected_radii"]): c for _, c, _ in runs if c["forgetting"]["protections"]}
    if len(protected) > 1:
        raise ConfigError(f"the runs protect networks of different radii ({', '.join(map(str, protected))}); "
                          "one merged run has one forgetting.protected_radii. Merge those of the same radii.")
    f["protected_radii"] = list(next(iter(protected), f["protected_radii"]))
    metrics = summarize(first, second, merged)
    if timings:
        metrics["timings"] = timings
    return merged, metrics


def _results_of(metrics: dict) -> tuple[list[dict], list[dict]]:
    """The task results (:func:`task1`, :func:`task2_decision`) that :func:`summarize` made
    ``metrics`` of, as far as :func:`merge` needs them."""
    first = []
    for name, entry in metrics["task1"].items():
        carried = entry.get("carried_per_seed") or metrics["task2"][name]["task1_digits_per_seed"]
        epochs = entry.get("carried_epoch_per_seed", {})
        first += [{"seed": int(seed), "radii": [int(r) for r in name[1:].split("_")], "curve": curve,
                   "carried_accuracy": carried[seed], **({"carried_epoch": epochs[seed]} if seed in epochs else {})}
                  for seed, curve in entry["curves_per_seed"].items()]
    second = []
    for name, entry in metrics["task2"].items():
        seeds = list(entry["curves_per_seed"])
        extras = {k: entry.get(f"{k}_per_seed") or ({seeds[0]: entry[k][0]} if len(seeds) == 1 else None)
                  for k in EXTRAS if entry.get(k)}             # earlier metrics kept these as mean ± std only
        second += [{"seed": int(seed), "variant": name, "radii": entry["radii"], "curve": curve,
                    **{k: per_seed[seed] for k, per_seed in extras.items() if per_seed}}
                   for seed, curve in entry["curves_per_seed"].items()]
    return first, second


def _differing_keys(a, b, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two nested configs."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [prefix]
    return [key for k in dict.fromkeys([*a, *b])
            for key in _differing_keys(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))]


#: Numbers a task-2 variant reports besides its curves (freeze, langevin), per seed and as mean ± std.
EXTRAS = ("frozen_fraction", "langevin_digits_after")


def summarize(first: list[dict], second: list[dict], config: dict) -> dict:
    by_radii = {}
    for r in first:
        by_radii.setdefault(_radii_name(r["radii"]), []).append(r)
    task1 = {name: {"carried_mean_std": _mean_std([r["carried_accuracy"] for r in rs]),
                    "last_mean_std": _mean_std([r["curve"]["digits"][-1] for r in rs]),
                    "best_mean_std": _mean_std([max(r["curve"]["digits"]) for r in rs]),
                    "curve_mean": np.mean([r["curve"]["digits"] for r in rs], axis=0).tolist(),
                    "curves_per_seed": {str(r["seed"]): r["curve"] for r in rs},
                    "carried_per_seed": {str(r["seed"]): r["carried_accuracy"] for r in rs},
                    **({"carried_epoch_per_seed": {str(r["seed"]): r["carried_epoch"] for r in rs}}
                       if all("carried_epoch" in r for r in rs) else {})}
             for name, rs in by_radii.items()}
    variants = {}
    for r in second:
        variants.setdefault(r["variant"], []).append(r)
    table = {}
    for name, rs in variants.items():
        # fresh never learnt the digits: it has no task 1 to forget (its digits are the letters' labels by chance)
        carried = [] if name == "fresh" else [
            next(t["carried_accuracy"] for t in first if t["seed"] == r["seed"] and t["radii"] == r["radii"])
            for r in rs]
        letters = [r["curve"]["letters"][-1] for r in rs]
        digits = [r["curve"]["digits"][-1] for r in rs]
        table[name] = {"radii": rs[0]["radii"], "task1_digits": _mean_std(carried) if carried else None,
                       "task2_letters": _mean_std(letters), "task2_digits": _mean_std(digits),
                       "forgetting": _mean_std(np.subtract(carried, digits)) if carried else None,
                       "letters_curve": _curve_stats([r["curve"]["letters"] for r in rs]),
                       "digits_curve": _curve_stats([r["curve"]["digits"] for r in rs]),
                       "reference": REFERENCE.get(name),
                       "curves_per_seed": {str(r["seed"]): r["curve"] for r in rs},
                       "task1_digits_per_seed": {str(r["seed"]): c for r, c in zip(rs, carried)},
                       **{key: value for k in EXTRAS if all(k in r for r in rs)
                          for key, value in ((k, _mean_std([r[k] for r in rs])),
                                             (f"{k}_per_seed", {str(r["seed"]): r[k] for r in rs}))}}
    return {"seeds": sorted({r["seed"] for r in first}), "task1": task1, "task2": table,
            "epochs": second[0]["curve"]["epoch"] if second else [],
            "n_train": [int(config["data"]["n_train"]), int(config["task2"]["n_train"])],
            "n_test": [int(config["data"]["n_test"]), int(config["task2"]["n_test"])],
            "task1_state": config["forgetting"]["task1_state"]}


def _mean_std(values) -> list[float]:
    values = np.asarray(values, dtype=float)
    return [float(values.mean()), float(values.std())]


def _curve_stats(curves) -> dict:
    curves = np.asarray(curves, dtype=float)
    return {"mean": curves.mean(0).tolist(), "std": curves.std(0).tolist()}


def write_results(metrics, out_dir: Path) -> None:
    """metrics.json, the tidy table of every number (``metrics_long``) and the Markdown table."""
    write_json(out_dir / "metrics.json", metrics)
    write_metrics_long(out_dir, metric_table(metrics))
    (out_dir / "table.md").write_text(markdown_table(metrics))


def metric_table(metrics: dict) -> list[dict]:
    """The rows of ``metrics_long`` from metrics.json, per seed and tested decision-layer epoch: task 1
    (variant: the radii) on the digits; task 2 (every variant) on letters and digits (class_set) from
    epoch 0, before task-2 training; test accuracy and silence and the training decisions correct (%);
    and each task-2 variant's forgetting (points) at its last epoch."""
    rows = []
    for phase, section, test_sets in (("task1", "task1", ("digits",)), ("task2", "task2", ("letters", "digits"))):
        for name, entry in metrics[section].items():
            for seed, curve in entry.get("curves_per_seed", {}).items():
                labels = {"variant": name, "seed": int(seed), "phase": phase, "checkpoint_unit": "epochs"}
                for test_set in test_sets:
                    for key, metric in ((test_set, "test_accuracy_percent"),
                                        (f"{test_set}_silence", "test_silence_percent")):
                        rows += metric_rows(metric, curve[key], curve["epoch"], class_set=test_set, **labels)
                rows += metric_rows("train_correct_percent", curve["train_correct"], curve["epoch"], **labels)
                if phase == "task2" and seed in entry["task1_digits_per_seed"]:      # none for fresh
                    rows += metric_rows("forgetting_points", entry["task1_digits_per_seed"][seed] - curve["digits"][-1],
                                        curve["epoch"][-1:], class_set="digits", **labels)
    return rows


def markdown_table(metrics: dict) -> str:
    def cell(pair):
        return f"{pair[0]:.1f} ± {pair[1]:.1f}" if pair else ""

    def ref(value):
        return "" if value is None else f"{value:.1f}"

    lines = ["| variant | radii | task 1 digits | task 2 letters | task 2 digits | forgetting | reference "
             "(task 1 / letters / digits) | seeds |", "|---|---|---:|---:|---:|---:|---|---:|"]
    for name, row in metrics["task2"].items():
        reference = row["reference"] or (None, None, None)
        lines.append(f"| {name} | {', '.join(map(str, row['radii']))} | {cell(row['task1_digits'])} | "
                     f"{cell(row['task2_letters'])} | {cell(row['task2_digits'])} | {cell(row['forgetting'])} | "
                     f"{' / '.join(ref(v) for v in reference) if row['reference'] else ''} | "
                     f"{len(row.get('curves_per_seed', {})) or ''} |")
    return "\n".join(lines) + "\n"


def summary_text(metrics: dict) -> str:
    lines = ["", f"test accuracy (%), mean ± std over seeds {metrics['seeds']}; task 1 = the decision layer carried "
                 f"into task 2 ({metrics['task1_state']} epoch):", markdown_table(metrics)]
    return "\n".join(lines)


def check(config: dict) -> None:
    prepare(config)
