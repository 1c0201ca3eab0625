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

from bioplastic import schema
from bioplastic.errors import ConfigError

FREE_FORM = {"parameters", "equations", "extra_parameters", "initial_values", "pruning", "baselines", "panels",
             "templates", "grid", "zip", "sample", "epochs", "ranges"}

#: Defaults shared by every study (each study adds its section(s): bioplastic.schema.STUDY_SECTIONS).
COMMON_DEFAULTS = schema.Common().model_dump()

#: Named maps: their entries are user-chosen names, each checked against a template.
NAMED = {"layers": schema.template("layers"), "projections": schema.template("projections")}

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


def lookup(config: dict, dotted: str):
    """The value at a dotted key (``"forgetting.radii"``) of a nested config; None where any
    part of the path is missing."""
    for part in dotted.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


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
        defaults = schema.defaults(check_study(raw.get("study")))
    config = deep_merge(defaults, raw)
    if quick:
        config = deep_merge(config, dotted_to_nested(config.get("quick") or {}), path="quick")
    config = deep_merge(config, parse_cli_overrides(overrides or []))
    config = schema.validate(config)
    for name in config.get("variants") or {}:          # every variant checked now
        variant_config(config, name)
    return config


def check_study(name) -> str:
    """The name of a known study, or a ConfigError suggesting the closest."""
    if name not in schema.STUDY_SECTIONS:
        close = difflib.get_close_matches(str(name), list(schema.STUDY_SECTIONS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown study {name!r}.{hint} The config's `study:` key must be one of: "
                          f"{', '.join(sorted(schema.STUDY_SECTIONS))}.")
    return name


def variant_config(config: dict, name: str) -> dict:
    """The config of one variant, parsed by the schema like the config itself."""
    merged = deep_merge(config, dotted_to_nested(config["variants"][name] or {}), path=f"variants.{name}")
    return schema.validate(merged, where=f"variants.{name}: ") if merged.get("study") else merged


def changes_within(stored: str, config: dict, keys) -> list[tuple[str, object, object]] | None:
    """The changes of the dotted ``keys`` (``"conv.epochs.s3"``) from the config dumped as
    ``stored`` to ``config``, provided nothing else differs: ``[(key, old, new), ...]`` (empty:
    the same config). None if anything else differs, or if ``stored`` lacks one of the keys."""
    try:
        before = yaml.safe_load(stored)
    except yaml.YAMLError:
        return None
    candidate, changes = copy.deepcopy(config), []
    for key in keys:
        *parents, leaf = key.split(".")
        old, node = before, candidate
        try:
            for part in parents:
                old, node = old[part], node[part]
            old, new = old[leaf], node[leaf]
        except (KeyError, TypeError):
            return None
        if old != new:
            changes.append((key, old, new))
            node[leaf] = old
    return changes if dump(candidate) == stored else None


def dump(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
