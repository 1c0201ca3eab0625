"""Pieces every study shares: models and network spec from a config, training with
snapshots on the chosen device, and batched evaluation of those snapshots."""
from __future__ import annotations

import time
from dataclasses import dataclass

import brian2
import numpy as np
from brian2 import Hz, ms
from tqdm.auto import tqdm

from bioplastic.devices import DeviceConfig, activated, run_network
from bioplastic.errors import ConfigError
from bioplastic.evaluation import TestSpikes, evaluate_batched
from bioplastic.readout import segment_readout
from bioplastic.models import neuron_from_config  # noqa: F401  (studies import it from here)
from bioplastic.network.build import build_training_network
from bioplastic.network.spec import NetworkSpec, network_from_config
from bioplastic.protocol import ProtocolBuilder, RepeatRule, repeat_protocol
from bioplastic.units import check_unit, parse_quantity, positive


#: Bytes a Brian2 synapse takes, about: indices, weight, rule variables, per-synapse bounds.
BYTES_PER_SYNAPSE = 64


def spec_from_config(config: dict, n_classes: int = 0) -> NetworkSpec:
    """The network of a config (``network.layers`` / ``network.projections``), checked, and its
    size checked against this machine's memory before anything is allocated."""
    spec = network_from_config(config["network"], n_classes)
    check_memory(spec, len(config.get("seeds") or [0]))
    return spec


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), None where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(spec: NetworkSpec, n_copies: int, available: int | None = None) -> None:
    """Refuse a network whose synapses alone would not fit in memory, before building it."""
    synapses = spec.synapse_estimate() * n_copies
    needed = synapses * BYTES_PER_SYNAPSE
    available = available_memory() if available is None else available
    if available is not None and needed > available:
        sizes = ", ".join(f"{name} {layer.size}" for name, layer in spec.layers.items())
        raise ConfigError(f"this network has about {synapses:,.0f} synapses ({n_copies} copies, one per seed; "
                          f"layers: {sizes}), about {needed / 2**30:,.1f} GiB, more than the "
                          f"{available / 2**30:,.1f} GiB of memory available. Make the layers smaller "
                          "(e.g. network.layers.<name>.n_per_class or size), or run fewer seeds at once.")


def protocol_options(config: dict) -> dict:
    """Keyword arguments of :func:`train_with_snapshots` that the protocol section sets."""
    return {"reset_state": bool(config["protocol"]["reset_state"])}


def repeat_rule(config: dict) -> RepeatRule | None:
    """Diehl & Cook's repeat rule from ``protocol.repeat`` (None when off)."""
    section = config["protocol"]["repeat"]
    if not section["enabled"]:
        return None
    return RepeatRule(int(section["min_spikes"]),
                      positive(section["rate_increase"], Hz, "protocol.repeat.rate_increase"),
                      int(section["max_repeats"]), float(section["extra_fraction"])).validate()


def protocol_durations(config: dict):
    proto = config["protocol"]
    image = positive(proto["image_duration"], ms, "protocol.image_duration")
    rest = check_unit(parse_quantity(proto["rest_duration"], name="protocol.rest_duration"), ms,
                      name="protocol.rest_duration")
    if float(rest) < 0:
        raise ConfigError(f"protocol.rest_duration must be >= 0, got {proto['rest_duration']!r}.")
    return image, rest


def load_split(config: dict, split: str, classes=None):
    """The dataset split named by ``config["data"]``, optionally restricted to some classes."""
    from bioplastic.data import load_dataset, select_classes
    data = config["data"]
    options = {"verify": data["verify"]}
    if data["dataset"] == "emnist_letters":
        options["holdout_per_class"] = int(data["holdout_per_class"])
    dataset = load_dataset(data["dataset"], split, **options)
    return select_classes(dataset, classes) if classes is not None else dataset


def device_from_config(config: dict) -> DeviceConfig:
    return DeviceConfig(**config["device"]).validate()


@dataclass
class TrainingResult:
    weights: dict                    # projection -> [snapshot, copy, pre, post] (or [..., synapse])
    states: dict                     # "layer.variable" -> [snapshot, copy, neuron], SI units
    n_images: np.ndarray             # training images seen at each snapshot
    wall_time_s: float
    simulated_s: float
    images_completed: np.ndarray | None = None   # repeat mode: images shown to the end, [snapshot, copy]
    timings: dict | None = None                  # compile_s (standalone), run_s: seconds

    def final(self) -> tuple[dict, dict]:
        """(weights, states) at the last snapshot, as the next phase starts from them."""
        return {k: v[-1] for k, v in self.weights.items()}, {k: v[-1] for k, v in self.states.items()}


def train_with_snapshots(spec: NetworkSpec, device: DeviceConfig, pool: np.ndarray, orders: np.ndarray,
                         labels: np.ndarray, eval_every: int, image_duration, rest_duration,
                         initial_weights: dict, label: str = "train", brian_seed: int = 0,
                         reset_state: bool = False, repeat: RepeatRule | None = None,
                         **network_options) -> TrainingResult:
    """Train ``len(orders)`` independent copies, one per seed, in ONE run, with snapshots.

    ``orders``: [copy, n_train] pool indices in presentation order; ``labels``: their
    classes (0..n_classes-1, i.e. segment indices). ``initial_weights``: {projection: [copy,
    ...]}. ``brian_seed`` seeds Brian2's random numbers (the Poisson input) for this run.
    ``reset_state``: no rest between images, the network's state is reset instead
    (``rest_duration`` must be 0). ``repeat``: Diehl & Cook's rule, an image that evokes too few
    spikes is shown again with more input (then ``eval_every`` counts presentations, and
    ``images_completed`` tells how many images each snapshot had seen). ``network_options`` go
    to :func:`build_training_network` (initial_state, synapse_state, langevin_sigma).
    """
    eval_every = eval_every or 1 << 40              # 0: snapshots only at the start and the end
    n_copies, n_train = orders.shape
    # The stimulus table holds only the images this protocol shows, not the whole dataset.
    used, orders = np.unique(orders, return_inverse=True)
    orders = orders.reshape(n_copies, n_train)
    if repeat is not None:
        protocol = repeat_protocol(pool[used], orders, labels, image_duration, rest_duration, repeat, eval_every,
                                   reset_state)
        n_periods = len(protocol.blocks) and sum(block.n for block in protocol.blocks)
        checkpoints = np.concatenate([[0], np.minimum(np.arange(eval_every, n_periods + eval_every, eval_every),
                                                      n_periods)])
    else:
        builder = ProtocolBuilder(pool[used], image_duration, rest_duration, n_copies=n_copies,
                                  reset_state=reset_state)
        builder.snapshot()
        for start in range(0, n_train, eval_every):
            stop = min(start + eval_every, n_train)
            builder.present(orders[:, start:stop], labels[:, start:stop], learning=True)
            builder.snapshot()
        protocol = builder.build()
        checkpoints = np.concatenate([[0], np.minimum(np.arange(eval_every, n_train + eval_every, eval_every),
                                                      n_train)])
    started = time.time()
    with activated(device, label) as build_dir:
        brian2.seed(int(brian_seed))   # Poisson input spikes: reproducible for a given seed and device
        trained = build_training_network(spec, protocol, initial_weights, **network_options)
        report = (_tqdm_report(f"{label}: simulating {float(protocol.duration):.0f} s")
                  if not device.standalone else True)
        timings = run_network(trained.network, protocol.duration, device, report=report, build_dir=build_dir,
                              label=label)
        weights = {p: trained.weight_snapshots(p)[:len(checkpoints)] for p in spec.plastic_projections}
        frozen = {p: np.broadcast_to(initial_weights[p], (len(checkpoints),) + np.shape(initial_weights[p]))
                  for p in spec.projections if p not in weights}
        states = {s: trained.state_snapshots(s)[:len(checkpoints)] for s in spec.adaptive_states()}
        completed = trained.images_completed()[:len(checkpoints)] if repeat is not None else None
    return TrainingResult({**weights, **frozen}, states, checkpoints, time.time() - started, float(protocol.duration),
                          completed, timings)


def evaluate_snapshots(spec: NetworkSpec, training: TrainingResult, test_images: np.ndarray, test_labels: np.ndarray,
                       *, image_duration, batch_size: int, test_seed: int, label: str = "test") -> dict:
    """Accuracy of every snapshot of every copy (segment readout): {"accuracy": [copy, snapshot], ...}."""
    n_snap, n_copies = next(iter(training.weights.values())).shape[:2]
    weights, states = flatten_snapshots(training.weights, training.states)
    spikes = TestSpikes(test_images, spec, image_duration, seed=test_seed)
    started = time.time()
    with tqdm(total=n_snap * n_copies * len(test_images), desc=f"{label}: evaluating", unit="img",
              mininterval=2, leave=False) as bar:
        counts = evaluate_batched(spec, spikes, weights, states, batch_size=batch_size, progress=bar)
    pred = segment_readout(counts, spec.segments(), spec.n_classes).reshape(n_snap, n_copies, -1)
    correct = pred == test_labels[None, None, :]
    return {"accuracy": correct.mean(-1).T * 100, "silent_fraction": (pred == -1).mean(-1).T,
            "eval_wall_time_s": time.time() - started, "predictions_last": pred[-1]}


def flatten_snapshots(weights: dict, states: dict) -> tuple[dict, dict]:
    """{name: [snapshot, copy, ...]} -> {name: [snapshot*copy, ...]} weight sets for evaluation."""
    def flat(a):
        return np.asarray(a).reshape((-1,) + np.shape(a)[2:])
    return {k: flat(v) for k, v in weights.items()}, {k: flat(v) for k, v in states.items()}


def _tqdm_report(desc: str):
    """A Brian2 runtime ``report`` callback that drives a tqdm bar."""
    bar = {}

    def report(elapsed, completed, start, duration):
        if "bar" not in bar:
            bar["bar"] = tqdm(total=100, desc=desc, unit="%", mininterval=2, leave=False)
        b = bar["bar"]
        b.update(int(completed * 100) - b.n)
        if completed >= 1:
            b.close()
    return report
