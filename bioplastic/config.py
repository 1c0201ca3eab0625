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
             "templates", "grid", "zip", "sample"}

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
    "network": {
        "n_per_class": 10,
        "excitatory": dict(NEURON_DEFAULTS, model="adaptive_lif"),
        "inhibitory": dict(NEURON_DEFAULTS, model="inhibitory_lif"),
        "plasticity": {"rule": "supervised", "parameters": {}, "trace_location": "neuron",
                       "pruning": None},   # {k_p: 1, tau_prune: 7500 ms, prune_below: 0.001}
        "max_rate": "63.75 Hz",
        "dt": "0.5 ms",
        "w_init_max": 0.3,
        "w_exc_inh": 10.4,
        "w_inh_exc": 17.0,
        "weight_normalization": None,
        "teacher": {"rate": "0 Hz", "weight": 0.0},   # excitation of the label's segment while learning
        "lateral_inhibition": "all_but_self",
        "inhibition_radius": 0.0,
        "sheet_width": None,                     # columns of the segments' sheet (null: square)
        # Two-layer network: an unsupervised hidden layer between input and segments (n: 0 = none).
        "hidden": {"n": 0, "excitatory": dict(NEURON_DEFAULTS, model="adaptive_lif"),
                   "plasticity": {"rule": "stdp", "parameters": {}},
                   "lateral_inhibition": "all_but_self", "inhibition_radius": 0.0, "sheet_width": None,
                   "weight_normalization": 78.0, "w_init_max": 0.3,
                   "output_gain": 1.0},         # hidden spike -> segment conductance: output_gain * w
    },
    # reset_state: true replaces the rest by resetting neurons and traces at each image start
    # (then rest_duration must be 0 ms): the same learning, 30 % fewer time steps.
    "protocol": {"image_duration": "350 ms", "rest_duration": "150 ms", "eval_every": 100, "reset_state": False},
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


def deep_merge(base: dict, override: dict, *, path: str = "", strict: bool = True) -> dict:
    """Merge ``override`` into a copy of ``base``; unknown keys raise ConfigError when strict."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        where = f"{path}.{key}" if path else str(key)
        if strict and key not in base:
            close = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {where!r}.{hint} Valid keys here: "
                              f"{', '.join(sorted(map(str, base))) or '(none)'}.")
        if key in FREE_FORM or key in ("variants", "quick"):
            out[key] = {**(out.get(key) or {}), **(value or {})}
        elif isinstance(base.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(base[key], value, path=where, strict=strict)
        else:
            out[key] = value
    return out


def dotted_to_nested(overrides: dict) -> dict:
    """``{"network.n_per_class": 20}`` -> ``{"network": {"n_per_class": 20}}``."""
    nested: dict = {}
    for dotted, value in overrides.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {dotted!r} conflicts with another override.")
        node[leaf] = value
    return nested


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
    return config


def variant_config(config: dict, name: str) -> dict:
    return deep_merge(config, dotted_to_nested(config["variants"][name] or {}), path=f"variants.{name}")


def dump(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
