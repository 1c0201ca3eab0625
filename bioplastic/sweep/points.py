"""The points of a sweep: dotted config keys and the values they take.

Three kinds of axes, combined as a product (every combination):

* ``grid``: one axis per key, ``{data.n_train: [100, 300], protocol.eval_every: [50, 100]}``;
* ``zip``: lists of equal length varied together, one axis (``{a: [1, 2], b: [10, 20]}`` is 2 points);
* ``sample``: ``samples`` seeded random draws from ranges, linear or log, one axis.

Every point is checked against the study's config before anything runs: an unknown key
(with the closest valid key), a value of the wrong unit or type, an empty grid.
"""
from __future__ import annotations

import difflib
import itertools
import re

import numpy as np
import yaml
from brian2.units.fundamentalunits import DIMENSIONLESS, Quantity, get_dimensions

from bioplastic import schema
from bioplastic.config import deep_merge, dotted_to_nested, lookup
from bioplastic.errors import ConfigError
from bioplastic.units import parse_quantity


def split_values(text: str) -> list:
    """``"5,10,20"`` -> [5, 10, 20]; ``"100 ms,350 ms"`` -> ["100 ms", "350 ms"]; commas inside
    brackets stay (``"[0,1],[2,3]"`` -> [[0, 1], [2, 3]]). Each value is read as YAML."""
    items, depth, current = [], 0, ""
    for char in text:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    values = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            value = yaml.safe_load(item)
        except yaml.YAMLError:
            value = item
        if isinstance(value, str) and _FLOAT.match(value):
            value = float(value)                 # YAML 1.1 reads 1e-3 as text
        values.append(item if isinstance(value, dict) and not item.startswith("{") else value)
    return values


_FLOAT = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def parse_assignments(items: list[str] | None, option: str) -> dict:
    """``["a.b=1,2", "c=x,y"]`` -> {"a.b": [1, 2], "c": ["x", "y"]} (``--grid``, ``--zip``)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE1,VALUE2,... "
                              f"(e.g. {option} data.n_train=100,300).")
        key, raw = item.split("=", 1)
        out[key.strip()] = split_values(raw)
    return out


_RANGE = re.compile(r"^(?P<low>.+?)\.\.(?P<high>.+?)(?::(?P<scale>log|linear))?$")


def parse_ranges(items: list[str] | None) -> dict:
    """``["a=1e-4..1e-2:log", "b=100 ms..300 ms"]`` -> the ``sweep.sample`` mapping."""
    out = {}
    for item in items or []:
        key, _, raw = item.partition("=")
        match = _RANGE.match(raw.strip())
        if not key or not match:
            raise ConfigError(f"--sample {item!r}: expected KEY=LOW..HIGH or KEY=LOW..HIGH:log (e.g. --sample "
                              "network.projections.input_to_exc.plasticity.parameters.A_pre=1e-4..1e-2:log).")
        low, high = (split_values(match[name])[0] for name in ("low", "high"))
        out[key.strip()] = {"low": low, "high": high, "log": match["scale"] == "log"}
    return out


def _split_quantity(value, key: str) -> tuple[float, str]:
    """``"100 ms"`` -> (100.0, "ms"); a number -> (number, "")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), ""
    text = str(value).strip()
    match = re.match(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*)$", text)
    if not match:
        raise ConfigError(f"sweep.sample.{key}: cannot read {value!r} as a number or a quantity such as '100 ms'.")
    parse_quantity(text, name=f"sweep.sample.{key}")       # a misspelt unit is an error here
    return float(match[1]), match[2].strip()


def sample_axis(ranges: dict, n: int, seed: int) -> list[dict]:
    """``n`` points drawn uniformly (or log-uniformly) from each range, reproducibly from ``seed``."""
    rng = np.random.default_rng(seed)
    columns = {}
    for key, spec in ranges.items():
        if not isinstance(spec, dict) or "low" not in spec or "high" not in spec:
            raise ConfigError(f"sweep.sample.{key}: expected {{low: ..., high: ..., log: true|false}}, got {spec!r}.")
        (low, unit), (high, unit_high) = _split_quantity(spec["low"], key), _split_quantity(spec["high"], key)
        if unit != unit_high:
            raise ConfigError(f"sweep.sample.{key}: low and high must be in the same unit, got {spec['low']!r} "
                              f"and {spec['high']!r}.")
        if not low < high:
            raise ConfigError(f"sweep.sample.{key}: low must be below high, got {spec['low']!r} and {spec['high']!r}.")
        if spec.get("log"):
            if low <= 0:
                raise ConfigError(f"sweep.sample.{key}: a log range needs low > 0, got {spec['low']!r}.")
            draws = np.exp(rng.uniform(np.log(low), np.log(high), n))
        else:
            draws = rng.uniform(low, high, n)
        columns[key] = [float(f"{x:.6g}") if not unit else f"{x:.6g} {unit}" for x in draws]
    return [{key: values[i] for key, values in columns.items()} for i in range(n)]


def expand(section: dict) -> list[dict]:
    """The points of a ``sweep:`` section, each ``{dotted key: value}``, in a fixed order."""
    axes: list[list[dict]] = []
    seen: set[str] = set()

    def claim(keys, where):
        for key in keys:
            if key in seen:
                raise ConfigError(f"sweep: {key!r} is swept twice (in {where} and before); sweep each key once.")
            seen.add(key)

    grid = section.get("grid") or {}
    claim(grid, "grid")
    for key, values in grid.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"sweep.grid.{key} has no values: give at least one, e.g. --grid {key}=1,2.")
        axes.append([{key: value} for value in values])
    zipped = section.get("zip") or {}
    if zipped:
        claim(zipped, "zip")
        lengths = {key: len(values if isinstance(values, list) else [values]) for key, values in zipped.items()}
        if len(set(lengths.values())) != 1:
            raise ConfigError(f"sweep.zip: the lists must have the same length, got {lengths}.")
        rows = zip(*[(values if isinstance(values, list) else [values]) for values in zipped.values()])
        axes.append([dict(zip(zipped, row)) for row in rows])
    ranges = section.get("sample") or {}
    if ranges:
        claim(ranges, "sample")
        n = int(section.get("samples") or 0)
        if n < 1:
            raise ConfigError("sweep.sample needs sweep.samples >= 1 (how many random points; --samples N).")
        axes.append(sample_axis(ranges, n, int(section.get("sample_seed") or 0)))
    if not axes or any(not axis for axis in axes):
        raise ConfigError("empty sweep: no points to run. Give a grid (--grid data.n_train=100,300, or a `sweep:` "
                          "section with grid/zip/sample in the config).")
    return [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*axes)]


def dotted_keys(config: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in config.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        keys.append(dotted)
        if isinstance(value, dict):
            keys.extend(dotted_keys(value, dotted))
    return keys


def _dimensions(value):
    """Dimensions of a quantity given as text or number; None when it is not a quantity."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Quantity)):
        return None
    try:
        return get_dimensions(parse_quantity(value))
    except ConfigError:
        return None


def check_value(key: str, current, value) -> None:
    """The value swept in must be of the kind the config holds: a number, a bool, or a quantity
    with the same dimensions (``protocol.image_duration`` takes a time, not ``'100 mV'``)."""
    if current is None:
        return
    where = f"sweep key {key}"
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}.")
        return
    current_dims = _dimensions(current)
    if current_dims is None:
        return
    value_dims = _dimensions(value)
    if value_dims is None:
        raise ConfigError(f"{where}: expected {_kind(current, current_dims)}, got {value!r}.")
    if value_dims != current_dims:
        raise ConfigError(f"{where}: {value!r} has the wrong unit: expected {_kind(current, current_dims)} "
                          f"(like the config's {current!r}).")


def _kind(current, dims) -> str:
    if dims is DIMENSIONLESS:
        return "a pure number"
    unit = str(current).split(None, 1)[1] if isinstance(current, str) and " " in str(current).strip() else ""
    return f"a quantity in units of {unit or dims}"


def resolve(config: dict, point: dict) -> dict:
    """``config`` with the point's values in; unknown keys and wrong units are ConfigErrors."""
    valid = dotted_keys(config)
    for key, value in point.items():
        try:
            deep_merge(config, dotted_to_nested({key: value}))
        except ConfigError as exc:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"sweep: unknown config key {key!r}.{hint} ({exc})") from None
        check_value(key, lookup(config, key), value)
    return schema.validate(deep_merge(config, dotted_to_nested(point)), where=f"sweep point {point}: ")
