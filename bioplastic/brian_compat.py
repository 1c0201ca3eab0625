"""The few places where bioplastic relies on Brian2 behaviour that is not public API.

Each use sits behind one function here, and each function has a test
(``tests/test_brian_compat.py``) that fails loudly, on the runtime and the C++ standalone
device, if a Brian2 release stops honouring it.
"""
from __future__ import annotations

import os
import re

import brian2
import numpy as np
from brian2.units.fundamentalunits import fail_for_dimension_mismatch

from bioplastic.errors import ConfigError, ModelError


def run_summed_variables_every(synapses: brian2.Synapses, period, name: str) -> None:
    """Update the summed variables of ``synapses`` once per ``period`` at the start of a step.

    Brian2 updates a ``(summed)`` variable every time step (one pass over all synapses per
    step); weight normalisation needs the sums only once per presentation slot. Brian2 has no
    public switch for that, so the updaters get their own clock (the private ``_clock``
    attribute, which Brian2's ``Network`` reads when it schedules objects) and run first in the
    ``start`` slot (order 0), before the rescaling that reads them (order 1).
    """
    for target, updater in synapses.summed_updaters.items():
        updater._clock = brian2.Clock(dt=period, name=f"{name}_{target}_clock")
        updater.when, updater.order = "start", 0


def write_timed_array(timed_array: brian2.TimedArray, values) -> None:
    """Give a built TimedArray new values for the next run on the runtime device.

    A TimedArray's values are fixed when it is made and Brian2 has no public setter; the runtime
    device's generated code reads the array ``TimedArray.values`` itself, so writing into it in
    place changes what the next run sees, without rebuilding the network (the batched
    evaluation re-runs one network per batch this way). ``values`` may be that array already
    (computed into it), then nothing is copied.
    """
    if values is not timed_array.values:
        timed_array.values[...] = values


def set_from_expression(group: brian2.Group, variable: str, expression: str) -> None:
    """Set every neuron's ``variable`` from a text expression of the group's own symbols.

    ``group.v = "E_rest"`` (public) resolves names it does not find in the group in the
    *caller's* local variables; ``VariableView.set_item`` with ``namespace=`` takes the group's
    namespace instead, so a local such as ``n`` never shadows a model's gating variable ``n``.
    """
    getattr(group, variable).set_item(slice(None), expression, namespace=group.namespace)


def check_units(group: brian2.NeuronGroup) -> None:
    """Raise Brian2's ``DimensionMismatchError`` now if the group's equations do not balance.

    Brian2 checks units only when a run starts; this runs the same check
    (``Equations.check_units``) at once, against the group's namespace alone.
    """
    group.equations.check_units(group, run_namespace={})


def innermost_error(exc: BaseException) -> BaseException:
    """The error Brian2 wrapped: ``BrianObjectException.original_error``, or the cause of an
    "Error encountered with object ..." message, followed down to the first plain error."""
    while getattr(exc, "original_error", None) is not None or (
            exc.__cause__ is not None and "Error encountered with object" in str(exc)):
        exc = getattr(exc, "original_error", None) or exc.__cause__
    return exc


_UNRESOLVED = (re.compile(r"The identifier \"?'?(\w+)'?\"? could not be resolved"),
               re.compile(r"identifiers? (?:'|\")(\w+)(?:'|\")"))


def unresolved_identifier(message: str) -> str | None:
    """The name Brian2 says it could not resolve, read from its error message (Brian2 raises
    a plain KeyError or ValueError with the name only in the text), or None."""
    for pattern in _UNRESOLVED:
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


def standalone_run_args(values: dict, directory: str) -> list[str]:
    """New values for a built cpp_standalone binary, as its command-line arguments.

    ``values``: {TimedArray or VariableView: array}. The binary takes ``<object>.<variable>=<file>``
    with the raw values in the file (what Brian2's dict form of ``run_args`` writes too), but
    the dict form hashes every array and keeps one file per distinct value: gigabytes over a
    test set. Here the files have fixed names that each run overwrites. The binary ignores a
    file of the wrong size with a mere message, so sizes are checked here.
    (``tests/test_evaluation_speedpaths.py::test_rerun_binary_with_second_weight_set_equals_a_fresh_build``
    fails if Brian2 changes this interface.)
    """
    args = []
    for k, (key, value) in enumerate(values.items()):
        if isinstance(key, brian2.TimedArray):
            name, size, dtype = f"{key.name}.values", key.values.size, key.values.dtype
        else:
            fail_for_dimension_mismatch(key.dim, value)
            name, size, dtype = f"{key.group_name}.{key.name}", key.variable.size, key.variable.dtype
        data = np.ascontiguousarray(np.asarray(value), dtype=dtype).ravel()
        if data.size != size:
            raise ValueError(f"run argument {name}: {data.size} values, the binary expects {size}.")
        path = os.path.join(directory, f"run_arg_{k}.dat")
        data.tofile(path)
        args.append(f"{name}={path}")
    return args


def check_cython_compiled(network: brian2.Network) -> None:
    """Raise if Brian2's Cython target dropped a block of code it failed to compile.

    Reads the code objects' private ``compiled_code`` (block -> compiled code, None when
    Cython failed) and their ``code`` blocks.

    Brian2 (2.10) prints the Cython error, then its extension manager returns None and the code
    object's ``run_block`` skips the block: the network runs without that code and gives wrong
    results (this is how pruning on Cython once pruned every weight). Called after a runtime run.
    """
    from brian2.codegen.runtime.cython_rt import CythonCodeObject

    from bioplastic.devices.objects import all_objects
    dropped = [f"{codeobj.name} ({block})" for obj in all_objects(network) for codeobj in obj.code_objects
               if isinstance(codeobj, CythonCodeObject)
               for block, compiled in codeobj.compiled_code.items()
               if compiled is None and getattr(codeobj.code, block, "").strip()
               and "EMPTY_CODE_BLOCK" not in getattr(codeobj.code, block)]
    if dropped:
        raise ModelError(f"Brian2's Cython target failed to compile {', '.join(dropped)} (the Cython error is "
                         "printed above) and ran the network without it, so the results are wrong. Write the "
                         "equations so that Cython compiles them, or use device.target=numpy or "
                         "--device cpp_standalone.")


def share_default_clock(network: brian2.Network, device_name: str) -> None:
    """Move every group onto ``defaultclock`` (set to the groups' common ``dt``).

    GeNN has one time step and brian2genn refuses groups with their own ``Clock``; brian2cuda's
    synapse code reads ``defaultclock``. Groups built with ``dt=spec.dt`` carry their own clock
    even when it equals the default. Operations on slower clocks (run_regularly, monitors) keep them.
    Brian2 has no public way to change an object's clock: this sets the private ``_clock`` and
    points the object's ``t``/``dt``/``timestep`` variables at the default clock's.
    """
    from bioplastic.devices.objects import all_objects
    objects = all_objects(network)
    dts = {float(obj.clock.dt) for obj in objects
           if isinstance(obj, (brian2.NeuronGroup, brian2.Synapses, brian2.SpikeGeneratorGroup))}
    if len(dts) > 1:
        raise ConfigError(f"device {device_name!r} runs every group with one time step; "
                          f"this network uses {sorted(dts)} s.")
    if not dts:
        return
    dt = dts.pop() * brian2.second
    brian2.defaultclock.dt = dt
    for obj in objects:
        clock = obj.clock
        if clock is brian2.defaultclock or abs(float(clock.dt - dt)) > 1e-12 * float(dt):
            continue           # e.g. a run_regularly or monitor on a slower clock: allowed
        obj._clock = brian2.defaultclock
        obj._replaced_clock = clock         # code may hold weak references to its variables
        # Every reference to the old clock's t, dt or timestep (under any name) now reads the default's.
        of_old_clock = {id(var): key for key, var in clock.variables.items()}
        variables = getattr(obj, "variables", None)
        for name, var in list(variables.items()) if variables is not None else []:
            if id(var) in of_old_clock:
                variables._variables[name] = brian2.defaultclock.variables[of_old_clock[id(var)]]
