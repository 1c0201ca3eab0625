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
from bioplastic.evaluation import TestSpikes, evaluate_batched, readout
from bioplastic.models import get_neuron_model, get_plasticity_rule
from bioplastic.network.build import HiddenLayer, NetworkSpec, adaptive_state_names, build_training_network
from bioplastic.protocol import ProtocolBuilder
from bioplastic.units import check_unit, parse_quantity


def neuron_from_config(section: dict):
    model = get_neuron_model(section["model"])
    return model.with_overrides(parameters=section.get("parameters"), equations=section.get("equations"),
                                threshold=section.get("threshold"), reset=section.get("reset"),
                                refractory=section.get("refractory"),
                                extra_parameters=section.get("extra_parameters"),
                                initial_values=section.get("initial_values"), method=section.get("method"))


def positive(config_value, unit, name):
    value = check_unit(parse_quantity(config_value, name=name), unit, name=name)
    if float(value) <= 0:
        raise ConfigError(f"{name} must be positive, got {config_value!r}.")
    return value


def spec_from_config(config: dict, n_classes: int) -> NetworkSpec:
    net = config["network"]
    plast = net["plasticity"]
    rule = get_plasticity_rule(plast["rule"]).with_overrides(plast.get("parameters"), plast.get("trace_location"),
                                                             pruning=plast.get("pruning"))
    if int(net["n_per_class"]) < 1:
        raise ConfigError(f"network.n_per_class must be >= 1, got {net['n_per_class']}.")
    spec = NetworkSpec(
        excitatory=neuron_from_config(net["excitatory"]), inhibitory=neuron_from_config(net["inhibitory"]),
        rule=rule, n_classes=n_classes, n_per_class=int(net["n_per_class"]),
        max_rate=positive(net["max_rate"], Hz, "network.max_rate"), dt=positive(net["dt"], ms, "network.dt"),
        w_init_max=float(net["w_init_max"]), w_exc_inh=float(net["w_exc_inh"]), w_inh_exc=float(net["w_inh_exc"]),
        weight_normalization=_optional_positive(net["weight_normalization"], "network.weight_normalization"),
        teacher_rate=check_unit(parse_quantity(net["teacher"]["rate"], name="network.teacher.rate"), Hz,
                                name="network.teacher.rate"),
        teacher_weight=float(net["teacher"]["weight"]),
        lateral_inhibition=net["lateral_inhibition"], inhibition_radius=float(net["inhibition_radius"]),
        sheet_width=_optional_int(net["sheet_width"], "network.sheet_width"), hidden=hidden_from_config(net, rule))
    _check_normalization(spec.weight_normalization, spec.n_segment_inputs, rule, "network.weight_normalization")
    if spec.hidden:
        _check_normalization(spec.hidden.weight_normalization, spec.n_inputs, spec.hidden.rule,
                             "network.hidden.weight_normalization")
    return spec


def _check_normalization(total, n_pre, rule, name):
    """A neuron's input weights cannot sum to more than n_pre * w_max (they would all sit at w_max)."""
    w_max = float(rule.parameters["w_max"])
    if total and total >= n_pre * w_max:
        raise ConfigError(f"{name} = {total:g} cannot be reached: each neuron has {n_pre} inputs with weights "
                          f"<= w_max = {w_max:g}, so every weight would sit at w_max. Use a total well below "
                          f"{n_pre * w_max:g} (Diehl & Cook: 78 for 784 inputs, i.e. 0.1 per input).")


def hidden_from_config(net: dict, output_rule) -> HiddenLayer | None:
    """The hidden layer of ``network.hidden``, or None when ``n`` is 0."""
    section = net["hidden"]
    if int(section["n"]) == 0:
        return None
    plast = section["plasticity"]
    rule = get_plasticity_rule(plast["rule"]).with_overrides(plast.get("parameters"),
                                                             per_synapse_bounds=output_rule.per_synapse_bounds)
    return HiddenLayer(
        n=int(section["n"]), excitatory=neuron_from_config(section["excitatory"]), rule=rule,
        lateral_inhibition=section["lateral_inhibition"], inhibition_radius=float(section["inhibition_radius"]),
        sheet_width=_optional_int(section["sheet_width"], "network.hidden.sheet_width"),
        weight_normalization=_optional_positive(section["weight_normalization"], "network.hidden.weight_normalization"),
        w_init_max=float(section["w_init_max"]), output_gain=float(section["output_gain"])).validate(output_rule)


def _optional_int(value, name):
    if value is None:
        return None
    if int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer (or null), got {value!r}.")
    return int(value)


def _optional_positive(value, name):
    if value is None:
        return None
    if float(value) <= 0:
        raise ConfigError(f"{name} must be positive (or null to switch it off), got {value!r}.")
    return float(value)


def protocol_options(config: dict) -> dict:
    """Keyword arguments of :func:`train_with_snapshots` that the protocol section sets."""
    return {"reset_state": bool(config["protocol"]["reset_state"])}


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
    device = DeviceConfig(**config["device"]).validate()
    if device.name == "runtime" and device.target == "cython" and config["network"]["plasticity"].get("pruning"):
        # Known problem: Brian2's Cython target fails to compile part of the pruning network
        # ("Invalid use of fused types") and the run then gives wrong results (all weights pruned).
        raise ConfigError("pruning ('use it or lose it') does not run correctly on the runtime device with the "
                          "Cython target yet. Use --device cpp_standalone (the default of the shipped "
                          "experiment) or device.target=numpy.")
    return device


@dataclass
class TrainingResult:
    snapshots_w: np.ndarray          # [snapshot, copy, presynaptic, exc]: weights onto the segments
    snapshots_state: dict            # var -> [snapshot, copy, neuron] (SI units; hidden_theta: hidden layer)
    n_images: np.ndarray             # training images seen at each snapshot
    wall_time_s: float
    simulated_s: float
    snapshots_hidden_w: np.ndarray | None = None   # [snapshot, copy, input, hidden]: two-layer network

    def final(self) -> tuple:
        """(weights, states, hidden weights) at the last snapshot, as the next phase starts from them."""
        return (self.snapshots_w[-1], {k: v[-1] for k, v in self.snapshots_state.items()},
                None if self.snapshots_hidden_w is None else self.snapshots_hidden_w[-1])


def train_with_snapshots(spec: NetworkSpec, device: DeviceConfig, pool: np.ndarray, orders: np.ndarray,
                         labels: np.ndarray, eval_every: int, image_duration, rest_duration,
                         initial_weights: np.ndarray, label: str = "train", brian_seed: int = 0,
                         reset_state: bool = False, **network_options) -> TrainingResult:
    """Train ``len(orders)`` independent copies, one per seed, in ONE run, with snapshots.

    ``orders``: [copy, n_train] pool indices in presentation order; ``labels``: their
    classes (0..n_classes-1, i.e. segment indices). ``brian_seed`` seeds Brian2's random
    numbers (the Poisson input) for this run. ``reset_state``: no rest between images, the
    network's state is reset instead (``rest_duration`` must be 0). ``network_options`` go to
    :func:`build_training_network` (initial_state, synapse_state, langevin_sigma).
    """
    n_copies, n_train = orders.shape
    # The stimulus table holds only the images this protocol shows, not the whole dataset.
    used, orders = np.unique(orders, return_inverse=True)
    orders = orders.reshape(n_copies, n_train)
    builder = ProtocolBuilder(pool[used], image_duration, rest_duration, n_copies=n_copies, reset_state=reset_state)
    builder.snapshot()
    for start in range(0, n_train, eval_every):
        stop = min(start + eval_every, n_train)
        builder.present(orders[:, start:stop], labels[:, start:stop], learning=True)
        builder.snapshot()
    protocol = builder.build()
    checkpoints = np.concatenate([[0], np.minimum(np.arange(eval_every, n_train + eval_every, eval_every), n_train)])
    started = time.time()
    with activated(device, label) as build_dir:
        brian2.seed(int(brian_seed))   # Poisson input spikes: reproducible for a given seed and device
        trained = build_training_network(spec, protocol, initial_weights, **network_options)
        report = _tqdm_report(f"{label}: simulating {float(protocol.duration):.0f} s") if not device.standalone else True
        run_network(trained.network, protocol.duration, device, report=report, build_dir=build_dir)
        weights = trained.weight_snapshots()[:len(checkpoints)]
        states = {var: trained.state_snapshots(var)[:len(checkpoints)] for var in adaptive_state_names(spec)}
        hidden = trained.hidden_weight_snapshots()[:len(checkpoints)] if spec.hidden else None
    return TrainingResult(weights, states, checkpoints, time.time() - started, float(protocol.duration), hidden)


def evaluate_snapshots(spec: NetworkSpec, training: TrainingResult, test_images: np.ndarray, test_labels: np.ndarray,
                       *, image_duration, batch_size: int, test_seed: int, label: str = "test") -> dict:
    """Accuracy of every snapshot of every copy: {"accuracy": [copy, snapshot], ...}."""
    n_snap, n_copies = training.snapshots_w.shape[:2]
    weights, states, hidden = flatten_snapshots(training.snapshots_w, training.snapshots_state,
                                                training.snapshots_hidden_w)
    spikes = TestSpikes(test_images, spec, image_duration, seed=test_seed)
    started = time.time()
    with tqdm(total=len(weights) * len(test_images), desc=f"{label}: evaluating", unit="img",
              mininterval=2, leave=False) as bar:
        counts = evaluate_batched(spec, spikes, weights, states, batch_size=batch_size, progress=bar,
                                  hidden_weight_sets=hidden)
    pred = readout(counts, spec.segments(), spec.n_classes).reshape(n_snap, n_copies, -1)
    correct = pred == test_labels[None, None, :]
    return {"accuracy": correct.mean(-1).T * 100, "silent_fraction": (pred == -1).mean(-1).T,
            "eval_wall_time_s": time.time() - started, "predictions_last": pred[-1]}


def flatten_snapshots(weights, states, hidden_weights=None):
    """[snapshot, copy, ...] arrays -> [snapshot*copy, ...] weight sets for evaluation."""
    def flat(a):
        return None if a is None else np.asarray(a).reshape((-1,) + np.shape(a)[2:])
    return flat(weights), {k: flat(v) for k, v in states.items()}, flat(hidden_weights)


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
