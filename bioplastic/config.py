"""Declarative experiment configuration: YAML files in ``experiments/``, overridable as
``key.sub=value`` from the command line, checked against the defaults of the study.

Every key must exist in the defaults (a misspelt key is an error that suggests the
closest valid one), except inside the free-form maps of models (``parameters``,
``equations``, ``extra_parameters``, ``initial_values``), whose contents the models check
themselves, and ``variants``, whose entries are override maps checked like the rest.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path

import yaml

from bioplastic.errors import ConfigError

FREE_FORM = {"parameters", "equations", "extra_parameters", "initial_values", "pruning", "baselines", "panels",
             "templates", "grid", "zip", "sample", "epochs", "ranges"}

NEURON_DEFAULTS = {"model": None, "parameters": {}, "equations": {}, "extra_parameters": {},
                   "threshold": None, "reset": None, "refractory": None, "initial_values": {}, "method": None}

#: Defaults shared by the studies; each study adds its own section(s).
COMMON_DEFAULTS = {
    "study": None,
    "title": "",
    "seeds": [0],
    "workers": 1,                    # parallel Dask worker processes (1: run in this process)
    "scheduler": None,               # address of an existing Dask scheduler (cluster), overrides workers
    "device": {"name": "runtime", "target": "cython", "threads": 0, "build_dir": None, "keep_build": False},
    "data": {"dataset": "mnist", "classes": [0, 1, 2], "n_train": 5000, "n_test": 1000, "holdout_per_class": 800,
             "verify": True},                     # check pinned SHA-256 checksums of the data files
    # Named layers and projections (see bioplastic/network/spec.py); each entry of
    # `layers` / `projections` is checked against LAYER_DEFAULTS / PROJECTION_DEFAULTS.
    "network": {
        "dt": "0.5 ms",
        "input": {"max_rate": "63.75 Hz"},       # Poisson input: a pixel of intensity 255 fires at max_rate
        "layers": {},
        "projections": {},
        "readout": {"layer": None, "kind": "segments"},   # layer: null = the last layer
    },
    # reset_state: true replaces the rest by resetting neurons and traces at each image start
    # (then rest_duration must be 0 ms): the same learning, 30 % fewer time steps.
    # eval_every: images between two snapshots (0: only at the start and the end).
    "protocol": {"image_duration": "350 ms", "rest_duration": "150 ms", "eval_every": 100, "reset_state": False,
                 # Diehl & Cook: an image evoking < min_spikes spikes in the readout layer is shown
                 # again with rate_increase more input (at most max_repeats times); the run has room
                 # for extra_fraction more presentations than images.
                 "repeat": {"enabled": False, "min_spikes": 5, "rate_increase": "32 Hz", "max_repeats": 10,
                            "extra_fraction": 0.1}},
    "evaluation": {"batch_size": 500, "test_seed": 12345},
    "variants": {},
    "templates": {},                 # YAML anchors that variants share (``<<: *name``); not read otherwise
    "quick": {},
    # `bioplastic sweep`: the points (dotted config keys -> values) and what to report; see README.
    "sweep": {"grid": {},            # every combination: {data.n_train: [100, 300], ...}
              "zip": {},             # varied together (lists of equal length), one axis of the grid
              "sample": {},          # {key: {low: 1e-4, high: 1e-2, log: true}}: `samples` seeded draws
              "samples": 0, "sample_seed": 0,
              "metric": None},       # the metric of the summary and plots (default: accuracy_mean[-1])
    # Where a sweep runs when neither --workers nor --scheduler is given: a dask-jobqueue cluster.
    "cluster": {"kind": None,        # slurm | pbs | sge | lsf | oar | htcondor | moab
                "cores": 1, "processes": None,   # processes: single-threaded workers per job (default: cores)
                "memory": "2GB", "walltime": "01:00:00", "queue": None, "account": None,
                "job_extra": [],     # extra scheduler directives, e.g. ["--qos=short"]
                "job_script_prologue": [],       # shell lines before the worker starts (module load ...)
                "jobs": 2, "minimum_jobs": 1,    # adapt(): between minimum_jobs and jobs jobs at once
                "interface": None,   # network interface of scheduler and workers (e.g. ib0; lo: this node only)
                "log_directory": None, "local_directory": None},
}


LAYER_DEFAULTS = {
    "neuron": dict(NEURON_DEFAULTS, model="adaptive_lif"),
    "size": None, "shape": None, "n_per_class": None,   # exactly one of them
    "sheet_width": None,                                  # columns of the layer's sheet (null: square)
    # One-to-one inhibitory partners and lateral inhibition; `inhibition: null` = no partners.
    "inhibition": {"neuron": dict(NEURON_DEFAULTS, model="inhibitory_lif"), "lateral": "all_but_self",
                   "radius": 0.0, "w_exc_inh": 10.4, "w_inh_exc": 17.0},
    "teacher": {"rate": "0 Hz", "weight": 0.0},           # excitation of the label's segment while learning
    # Layers of feature maps (study conv_stdp): {k, radius, pointwise}: k-winners-take-all per image.
    "competition": None,
}

PROJECTION_DEFAULTS = {
    "source": None, "target": None,
    "connectivity": "all_to_all",        # one_to_one | all_but_self | within_radius | fixed_probability
    "radius": 0.0, "probability": 1.0, "connect_seed": 0,
    "w_init_max": 0.3,
    # `plasticity: null` = frozen weights.
    "plasticity": {"rule": "supervised", "parameters": {}, "trace_location": "neuron",
                   "pruning": None},     # {k_p: 1, tau_prune: 7500 ms, prune_below: 0.001}
    "weight_normalization": None,        # each target neuron's input weights sum to this (Diehl & Cook: 78)
    "gain": 1.0,                         # a spike adds gain * w to the target's conductance
    # Between layers of feature maps (study conv_stdp): connectivity conv | max_pool | local.
    "kernel_size": None, "stride": None, "padding": 0, "drop_remainder": False,
    "w_init_normal": None,               # [mean, std] of the initial kernel weights (default 0.8, 0.05)
}

#: Named maps: their entries are user-chosen names, each checked against a template.
NAMED = {"layers": LAYER_DEFAULTS, "projections": PROJECTION_DEFAULTS}

_LAYER, _PROJ = "network.layers.<layer>", "network.projections.<projection>"
#: Keys of the single-shape network description (before named layers) and where they went.
MOVED = {
    "network.n_per_class": f"{_LAYER}.n_per_class",
    "network.excitatory": f"{_LAYER}.neuron",
    "network.inhibitory": f"{_LAYER}.inhibition.neuron",
    "network.plasticity": f"{_PROJ}.plasticity",
    "network.lateral_inhibition": f"{_LAYER}.inhibition.lateral",
    "network.inhibition_radius": f"{_LAYER}.inhibition.radius",
    "network.sheet_width": f"{_LAYER}.sheet_width",
    "network.w_init_max": f"{_PROJ}.w_init_max",
    "network.w_exc_inh": f"{_LAYER}.inhibition.w_exc_inh",
    "network.w_inh_exc": f"{_LAYER}.inhibition.w_inh_exc",
    "network.weight_normalization": f"{_PROJ}.weight_normalization",
    "network.teacher": f"{_LAYER}.teacher",
    "network.max_rate": "network.input.max_rate",
    "network.hidden": "a layer of its own under network.layers, with projections input -> it -> the segments",
}


def deep_merge(base: dict, override: dict, *, path: str = "", strict: bool = True) -> dict:
    """Merge ``override`` into a copy of ``base``; unknown keys raise ConfigError when strict."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        where = f"{path}.{key}" if path else str(key)
        if where in MOVED or _moved_under_variant(where):
            old = where if where in MOVED else _moved_under_variant(where)
            raise ConfigError(f"config key {where!r} belongs to the old single-shape network description; it is now "
                              f"{MOVED[old]} (networks are named layers and projections: see "
                              "experiments/supervised_stdp_alltd.yaml).")
        if key in NAMED and path.endswith("network"):
            out[key] = _merge_named(base.get(key) or {}, value, NAMED[key], f"{where}", strict)
            continue
        if strict and key not in base:
            close = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {where!r}.{hint} Valid keys here: "
                              f"{', '.join(sorted(map(str, base))) or '(none)'}.")
        if (key in FREE_FORM and not isinstance(base.get(key), (int, float))) or key in ("variants", "quick"):
            out[key] = {**(out.get(key) or {}), **(value or {})}
        elif isinstance(base.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(base[key], value, path=where, strict=strict)
        else:
            out[key] = value
    return out


def _moved_under_variant(where: str) -> str | None:
    """``variants.x.network.n_per_class`` -> ``network.n_per_class`` when that key moved."""
    for old in MOVED:
        if where.endswith("." + old) and (where.startswith("variants.") or where.startswith("quick.")):
            return old
    return None


def _merge_named(base: dict, override, template: dict, path: str, strict: bool) -> dict:
    """Entries of a named map: an existing entry is merged, a new one starts from the template,
    ``name: null`` removes one."""
    if override is None:
        return {}
    if not isinstance(override, dict):
        raise ConfigError(f"{path} must be a mapping of names to settings, got {override!r}.")
    out = copy.deepcopy(base)
    for name, entry in override.items():
        if entry is None:
            out.pop(name, None)
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}.{name} must be a mapping of settings, got {entry!r}.")
        out[name] = deep_merge(out.get(name) or template, entry, path=f"{path}.{name}", strict=strict)
    return out


def dotted_to_nested(overrides: dict) -> dict:
    """``{"network.dt": "0.1 ms"}`` -> ``{"network": {"dt": "0.1 ms"}}``.

    Values are copied (YAML anchors share objects between variants); a dotted key that lands
    inside a mapping given by another key is merged into it, in either order.
    """
    nested: dict = {}
    for dotted, value in overrides.items():
        node = nested
        *parents, leaf = str(dotted).split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {dotted!r} conflicts with another override.")
        value = copy.deepcopy(value)
        if isinstance(node.get(leaf), dict) and isinstance(value, dict):
            node[leaf] = _merge_plain(value, node[leaf])
        else:
            node[leaf] = value
    return nested


def _merge_plain(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge_plain(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) \
            else value
    return out


def parse_cli_overrides(items: list[str]) -> dict:
    """``["network.n_per_class=20", "seeds=[0,1]"]`` -> nested dict (values read as YAML)."""
    flat = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. network.n_per_class=20).")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
            # An equation such as "dv/dt = ... : volt" reads as a YAML mapping; a mapping must be
            # written explicitly as {key: value}.
            if isinstance(value, dict) and not raw.strip().startswith("{"):
                value = raw.strip()
            flat[key.strip()] = value
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot read the value as YAML ({exc}).") from None
    return dotted_to_nested(flat)


def load_config(path: str | Path, overrides: list[str] | None = None, *, quick: bool = False,
                defaults: dict | None = None) -> dict:
    """Read a YAML experiment file, apply the study's defaults, ``quick`` and CLI overrides."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist. The experiments shipped with "
                          "bioplastic are in experiments/*.yaml.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values.")
    if defaults is None:
        from bioplastic.studies import study_defaults
        defaults = study_defaults(raw.get("study"))
    config = deep_merge(defaults, raw)
    if quick:
        config = deep_merge(config, dotted_to_nested(config.get("quick") or {}), path="quick")
    config = deep_merge(config, parse_cli_overrides(overrides or []))
    for name, variant in (config.get("variants") or {}).items():
        deep_merge(config, dotted_to_nested(variant or {}), path=f"variants.{name}")  # check keys now
    check_common(config)
    return config


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: Common keys that must be integers >= their minimum (dotted path -> minimum).
_INTEGERS = {"workers": 1, "data.n_train": 1, "data.n_test": 1, "data.holdout_per_class": 1,
             "protocol.eval_every": 0, "evaluation.batch_size": 1, "evaluation.test_seed": 0}


def check_common(config: dict) -> None:
    """Types of the keys every study shares, checked when the config is read (before any computation)."""
    seeds = config.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of integers >= 0, e.g. seeds=[0,1,2]; got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct, got {seeds!r}.")
    for dotted, minimum in _INTEGERS.items():
        section, _, key = dotted.rpartition(".")
        holder = config.get(section, {}) if section else config
        if key in holder and not (_is_int(holder[key]) and holder[key] >= minimum):
            raise ConfigError(f"{dotted} must be an integer >= {minimum}, got {holder[key]!r}.")
    classes = config.get("data", {}).get("classes")
    if not isinstance(classes, list) or not classes:
        raise ConfigError(f"data.classes must be a non-empty list, e.g. data.classes=[0,1,2]; got {classes!r}.")


def variant_config(config: dict, name: str) -> dict:
    return deep_merge(config, dotted_to_nested(config["variants"][name] or {}), path=f"variants.{name}")


def dump(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
