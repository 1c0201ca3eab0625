"""Neuron models and plasticity rules as *data*: Brian2 equation strings plus parameters with units.

A model is never Python logic. Users change it by overriding parameters or replacing
whole equation lines (from YAML or Python); :meth:`NeuronModel.validate` then checks the
edited model with Brian2 itself, before any long computation starts, and names the
offending line when something is wrong.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field

import brian2
from brian2 import Equations
from brian2.codegen.runtime.numpy_rt import NumpyCodeObject
from brian2.units.fundamentalunits import DimensionMismatchError

from bioplastic.brian_compat import check_units, innermost_error, set_from_expression, unresolved_identifier
from bioplastic.errors import ModelError
from bioplastic.units import parse_quantity


# Identifiers the network supplies to every model. `learning` is 1 while plasticity is on
# and 0 during test presentations; models gate their own adaptation with it
# (e.g. the adaptive threshold of Diehl & Cook 2015 is frozen during testing).
SUPPLIED_BY_NETWORK = ("learning",)


def _equation_lines(equations: str) -> list[str]:
    return [line.rstrip() for line in equations.strip().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _defined_name(line: str) -> str:
    """The variable an equation line defines: ``dv/dt = ...`` -> ``v``; ``I = ... : amp`` -> ``I``."""
    match = re.match(r"\s*d([A-Za-z_]\w*)\s*/\s*dt\s*=", line) or re.match(r"\s*([A-Za-z_]\w*)\s*(?:=|:)", line)
    if not match:
        raise ModelError(f"Cannot tell which variable this equation line defines: {line.strip()!r}. "
                         "Write 'dx/dt = ... : unit', 'x = ... : unit' or 'x : unit'.")
    return match.group(1)


def replace_equation_lines(equations: str, replacements: dict[str, str | None], *, model: str) -> str:
    """Replace (or with ``None``, delete) the lines defining the given variables; add new ones.

    ``{"v": "dv/dt = (E_rest - v + I*R)/tau_m : volt"}`` replaces the membrane equation;
    a key that no line defines appends the line, so a user can add an adaptation current.
    """
    lines = _equation_lines(equations)
    names = [_defined_name(line) for line in lines]
    for name, new_line in replacements.items():
        if new_line is not None:
            new_line = " ".join(new_line.split()) if "\n" not in new_line.strip() else new_line.strip()
            if _defined_name(new_line) != name:
                raise ModelError(f"model {model!r}: the replacement given for {name!r} defines "
                                 f"{_defined_name(new_line)!r} instead: {new_line!r}.")
        if name in names:
            idx = names.index(name)
            if new_line is None:
                del lines[idx], names[idx]
            else:
                lines[idx] = new_line
        elif new_line is None:
            raise ModelError(f"model {model!r}: cannot delete {name!r}, no equation defines it "
                             f"(defined: {', '.join(names)}).")
        else:
            lines.append(new_line)
            names.append(name)
    return "\n".join(lines)


def resolve_parameters(defaults: dict, overrides: dict | None, *, model: str) -> dict:
    """Merge parameter overrides, checking names and units against the defaults."""
    params = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ModelError(f"model {model!r} has no parameter {key!r}.{hint} Its parameters are: "
                             f"{', '.join(sorted(defaults))}. To add a new symbol, also add the "
                             "equation line that uses it and declare it under `extra_parameters`.")
        value = parse_quantity(value, name=f"{model}.{key}")
        if brian2.get_dimensions(value) != brian2.get_dimensions(defaults[key]):
            raise ModelError(f"model {model!r}: parameter {key!r} = {value!r} has the wrong unit; "
                             f"the default is {defaults[key]!r}, so give a value in the same unit.")
        params[key] = value
    return params


@dataclass(frozen=True)
class NeuronModel:
    """A point-neuron model: what Brian2's NeuronGroup needs, with named parameters.

    ``membrane`` names the membrane potential; ``excitatory_input`` / ``inhibitory_input``
    name the (dimensionless) conductance variables that synapses increment, so any model
    that defines them can sit in the plastic networks.
    """
    name: str
    description: str
    equations: str
    threshold: str
    reset: str
    parameters: dict
    refractory: object = None
    initial_values: dict = field(default_factory=dict)
    method: str = "euler"
    membrane: str = "v"
    excitatory_input: str | None = "ge"
    inhibitory_input: str | None = "gi"
    current_input: str | None = "I_ext"
    positive_parameters: tuple = ()
    reference: str = ""

    def resting_state_code(self) -> str:
        """Brian2 code that puts a neuron back at rest: initial values, input conductances 0."""
        lines = [f"{var} = {value!r}" if not isinstance(value, str) else f"{var} = {value}"
                 for var, value in self.initial_values.items()]
        lines += [f"{g} = 0" for g in (self.excitatory_input, self.inhibitory_input) if g]
        return "\n".join(lines)

    def with_overrides(self, parameters: dict | None = None, equations: dict | None = None,
                       threshold: str | None = None, reset: str | None = None,
                       refractory=None, extra_parameters: dict | None = None,
                       initial_values: dict | None = None, method: str | None = None) -> NeuronModel:
        """A copy with parameters and/or whole equation lines replaced (see module docstring)."""
        defaults = dict(self.parameters)
        for key, value in (extra_parameters or {}).items():
            if key in defaults:
                raise ModelError(f"model {self.name!r}: extra parameter {key!r} exists already; "
                                 "set it under `parameters` instead.")
            defaults[key] = parse_quantity(value, name=f"{self.name}.{key}")
        params = resolve_parameters(defaults, parameters, model=self.name)
        changes = {"parameters": params}
        if equations:
            changes["equations"] = replace_equation_lines(self.equations, equations, model=self.name)
        if threshold is not None:
            changes["threshold"] = threshold
        if reset is not None:
            changes["reset"] = reset
        if refractory is not None:
            changes["refractory"] = parse_quantity(refractory, name=f"{self.name}.refractory") \
                if not (isinstance(refractory, str) and not refractory[:1].isdigit()) else refractory
        if initial_values:
            changes["initial_values"] = {**self.initial_values,
                                         **{k: _initial_value(v, f"{self.name}.initial_values.{k}")
                                            for k, v in initial_values.items()}}
        if method is not None:
            changes["method"] = method
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> NeuronModel:
        """Build a one-neuron group and check every expression with Brian2; name the bad line."""
        if not self.threshold or not self.threshold.strip():
            raise ModelError(f"model {self.name!r} has no threshold condition. Spiking models need one, "
                             "e.g. threshold='v > v_thresh'.")
        for key in self.positive_parameters:
            if float(self.parameters[key]) <= 0:
                raise ModelError(f"model {self.name!r}: {key} must be > 0, got {self.parameters[key]!r}.")
        check_equations(self.equations, self.name)
        try:
            group = self.make_group(1, name="validate*", codeobj_class=NumpyCodeObject)
            brian2.Network(group).run(0 * brian2.ms, namespace={})
        except ModelError:
            raise
        except Exception as exc:  # Brian2 raises many types; turn them into one clear message
            raise ModelError(explain_brian_error(exc, self)) from exc
        return self

    def namespace(self, extra: dict | None = None) -> dict:
        namespace = dict(self.parameters)
        namespace["learning"] = 1.0
        namespace.update(extra or {})
        return {key: value for key, value in namespace.items() if value is not None}

    def make_group(self, n: int, *, extra_equations: str = "", extra_reset: str = "",
                   namespace: dict | None = None, name: str | None = None, dt=None,
                   codeobj_class=None) -> brian2.NeuronGroup:
        eqs = Equations(self.equations)
        namespace = dict(namespace or {})
        if extra_equations.strip():
            eqs = eqs + Equations(extra_equations)
            if "learning" in eqs.names:        # the network supplies it as a schedule
                namespace["learning"] = None
        reset = "\n".join(code for code in (self.reset, extra_reset) if code and code.strip())
        kwargs = {}
        if self.refractory is not None:
            kwargs["refractory"] = self.refractory
        group = brian2.NeuronGroup(n, eqs, threshold=self.threshold, reset=reset or None,
                                   method=self.method, namespace=self.namespace(namespace),
                                   name=name or f"{self.name}*", dt=dt, codeobj_class=codeobj_class,
                                   **kwargs)
        try:
            for var, value in self.initial_values.items():
                # Text such as "E_rest" or "b*v" is evaluated in the model's namespace, never in
                # this function's locals (where e.g. `n` would shadow a gating variable n).
                set_from_expression(group, var, value)
        except Exception as exc:
            # A unit error in an equation line surfaces here first, as a puzzling error about
            # an initial value; report the equation instead when it is the cause.
            try:
                check_units(group)
            except DimensionMismatchError as unit_error:
                raise unit_error from exc
            raise
        return group

    def describe(self) -> str:
        params = "\n".join(f"    {k:<14} = {v!r}" for k, v in sorted(self.parameters.items()))
        return (f"{self.name}: {self.description}\n"
                + (f"  reference: {self.reference}\n" if self.reference else "")
                + "  equations:\n" + "\n".join("    " + line for line in _equation_lines(self.equations))
                + f"\n  threshold: {self.threshold}\n  reset: "
                + ("\n         ".join(line.strip() for line in self.reset.strip().splitlines()) or "-")
                + f"\n  refractory: {self.refractory}\n  method: {self.method}\n  parameters:\n{params}\n")


def _initial_value(value, name: str):
    """A quantity ("-65 mV") or an expression of the model's symbols ("b*v", "E_rest")."""
    if isinstance(value, str) and not re.match(r"\s*[-+]?(\d|\.\d)", value):
        return value            # an expression: evaluated by Brian2 in the model's namespace
    return parse_quantity(value, name=name)


def check_equations(equations: str, model: str) -> None:
    """Parse the equations line by line so that a syntax or unit error names its line."""
    for line in _equation_lines(equations):
        try:
            Equations(line)
        except Exception as exc:
            raise ModelError(f"model {model!r}: cannot parse the equation line {line.strip()!r}: {exc}. "
                             "Equation lines look like 'dv/dt = (E_rest - v)/tau_m : volt'.") from exc


def explain_brian_error(exc: Exception, model) -> str:
    """One paragraph naming what is wrong in a model, from a Brian2 exception."""
    exc = innermost_error(exc)
    message = str(exc).strip().splitlines()
    text = " ".join(message)[:800]
    symbol = unresolved_identifier(text) or (exc.args[0] if isinstance(exc, KeyError) and exc.args else None)
    culprit = ""
    if symbol:
        places = {"equations": getattr(model, "equations", "") or getattr(model, "model", ""),
                  "threshold": getattr(model, "threshold", ""), "reset": getattr(model, "reset", "")}
        found = [(place, line.strip()) for place, code in places.items() for line in (code or "").splitlines()
                 if re.search(rf"\b{re.escape(str(symbol))}\b", line)]
        culprit = (f" The unknown symbol {symbol!r} appears in the {found[0][0]}: {found[0][1]!r}." if found
                   else f" The unknown symbol is {symbol!r}.")
        culprit += (" Define it as a parameter (extra_parameters) or as an equation line (a variable that a "
                    f"reset writes is declared there with its unit, e.g. '{symbol} : 1').")
    if isinstance(exc, DimensionMismatchError) or "nconsistent units" in text or "dimension" in text.lower():
        lines = _find_unit_error_lines(model)
        if lines:
            culprit += f" The units do not balance in: {lines[0]!r}."
        culprit += " Check that every term has the unit declared after ':' (e.g. volt/second for dv/dt)."
    return f"model {model.name!r} is invalid: {text}.{culprit}"


def _find_unit_error_lines(model) -> list[str]:
    """Check each equation line alone against the model's parameters to find unit errors."""
    found = []
    eq_text = getattr(model, "equations", "")
    lines = _equation_lines(eq_text)
    for line in lines:
        others = [other for other in lines if other is not line]
        try:
            group = brian2.NeuronGroup(1, Equations("\n".join(others + [line])), method="euler",
                                       namespace=model.namespace(), codeobj_class=NumpyCodeObject)
            brian2.Network(group).run(0 * brian2.ms, namespace={})
        except Exception as exc:
            if isinstance(exc, DimensionMismatchError) or "units" in str(exc).lower():
                # The line alone is at fault if the others are fine without it.
                try:
                    brian2.Network(brian2.NeuronGroup(1, Equations("\n".join(others)), method="euler",
                                                      namespace=model.namespace(),
                                                      codeobj_class=NumpyCodeObject)).run(0 * brian2.ms, namespace={})
                    found.append(line.strip())
                except Exception:
                    pass
    return found


def lookup(registry: dict, name: str, kind: str):
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ModelError(f"unknown {kind} model {name!r}.{hint} Available: {', '.join(sorted(registry))}. "
                         "`bioplastic models` lists them with their equations.")
    return registry[name]
