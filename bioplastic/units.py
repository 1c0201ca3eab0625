"""Physical quantities written as text, e.g. in YAML: ``"20 ms"``, ``"-65 mV"``, ``"63.75 Hz"``.

Parsing is done against Brian2's unit namespace only (no Python builtins), so a
config file cannot run code, and a misspelt unit is an error, not a silent float.
"""
from __future__ import annotations

import ast
import re

import brian2
from brian2.units.fundamentalunits import Quantity, get_dimensions, DIMENSIONLESS
from brian2.units import allunits, stdunits

from bioplastic.errors import ConfigError

_UNIT_NAMESPACE = {name: getattr(allunits, name) for name in allunits.__all__}
_UNIT_NAMESPACE.update({name: getattr(stdunits, name) for name in stdunits.__all__})
# Spellings people write in configs that Brian2 does not export under these names.
_UNIT_NAMESPACE.update(s=allunits.second, sec=allunits.second)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY_RE = re.compile(rf"^\s*({_NUMBER})\s*\*?\s*([A-Za-z_(][A-Za-z_0-9*/() .-]*)?$")


def parse_quantity(value, *, name: str = "value"):
    """Turn ``"20 ms"`` (or a number, or a Quantity) into a Brian2 quantity or float."""
    if isinstance(value, (Quantity, int, float)) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a number or a quantity such as '20 ms', got {value!r}.")
    match = _QUANTITY_RE.match(value)
    if not match:
        raise ConfigError(
            f"{name}: cannot read {value!r} as a quantity. Write a number followed by a Brian2 "
            "unit, e.g. '20 ms', '-65 mV', '63.75 Hz', '1 nS', '10 uA/cm**2'.")
    number, unit_text = match.groups()
    number = float(number)
    if not unit_text:
        return number
    try:
        unit = _evaluate_unit(ast.parse(unit_text.strip(), mode="eval").body)
    except (SyntaxError, KeyError, TypeError, ValueError, ZeroDivisionError):
        raise ConfigError(
            f"{name}: unknown unit in {value!r}. Use Brian2 unit names such as ms, second, mV, "
            "volt, Hz, nS, uA, cm, ohm (see brian2.units).") from None
    return number * unit


_OPERATORS = {ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}


def _evaluate_unit(node):
    """A unit expression such as ``uA/cm**2`` from its syntax tree: unit names, numbers, ``* / **``
    and parentheses only (no calls, no attributes, no Python evaluation at all)."""
    if isinstance(node, ast.Name):
        return _UNIT_NAMESPACE[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate_unit(node.left), _evaluate_unit(node.right))
    raise ValueError(f"not a unit expression: {ast.dump(node)}")


def format_quantity(value) -> str | float | int | bool:
    """Inverse of :func:`parse_quantity`, for writing resolved configs back to YAML."""
    if isinstance(value, Quantity):
        if get_dimensions(value) is DIMENSIONLESS:
            return float(value)
        if value.shape != ():
            return repr(value)
        return str(brian2.in_best_unit(value, 12)).replace("^", "**")
    return value


def check_unit(value, unit, *, name: str):
    """Raise a ConfigError unless ``value`` has the dimensions of ``unit``."""
    if get_dimensions(value) != get_dimensions(unit):
        expected = "a pure number" if get_dimensions(unit) is DIMENSIONLESS else f"a quantity in {unit!r}"
        raise ConfigError(f"{name}: expected {expected}, got {value!r}.")
    return value


def positive(config_value, unit, name: str):
    """A quantity read from the config, checked for its unit and to be > 0."""
    value = check_unit(parse_quantity(config_value, name=name), unit, name=name)
    if float(value) <= 0:
        raise ConfigError(f"{name} must be positive, got {config_value!r}.")
    return value
