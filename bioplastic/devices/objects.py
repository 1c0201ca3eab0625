"""The Brian2 objects of a network, as the device layer inspects and adjusts them before code generation."""
from __future__ import annotations

import brian2
from brian2 import defaultclock

from bioplastic.errors import ConfigError, ModelError


def is_run_regularly(obj) -> bool:
    """A ``group.run_regularly(...)`` operation (whatever its name)."""
    return type(obj) is brian2.CodeRunner and obj.template == "stateupdate"


def all_objects(network: brian2.Network) -> list:
    """The network's objects and the objects they contain (resetters, run_regularly, ...)."""
    seen, stack = [], list(network.objects)
    while stack:
        obj = stack.pop()
        if any(obj is s for s in seen):
            continue
        seen.append(obj)
        stack.extend(getattr(obj, "contained_objects", []))
    return seen


def check_cython_compiled(network: brian2.Network) -> None:
    """Raise if Brian2's Cython target dropped a block of code it failed to compile.

    Brian2 (2.10) prints the Cython error, then its extension manager returns None and the code
    object's ``run_block`` skips the block: the network runs without that code and gives wrong
    results (this is how pruning on Cython once pruned every weight). Called after a runtime run.
    """
    from brian2.codegen.runtime.cython_rt import CythonCodeObject
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
    """
    objects = all_objects(network)
    dts = {float(obj.clock.dt) for obj in objects
           if isinstance(obj, (brian2.NeuronGroup, brian2.Synapses, brian2.SpikeGeneratorGroup))}
    if len(dts) > 1:
        raise ConfigError(f"device {device_name!r} runs every group with one time step; "
                          f"this network uses {sorted(dts)} s.")
    if not dts:
        return
    dt = dts.pop() * brian2.second
    defaultclock.dt = dt
    for obj in objects:
        clock = obj.clock
        if clock is defaultclock or abs(float(clock.dt - dt)) > 1e-12 * float(dt):
            continue           # e.g. a run_regularly or monitor on a slower clock: allowed
        obj._clock = defaultclock
        obj._replaced_clock = clock         # code may hold weak references to its variables
        # Every reference to the old clock's t, dt or timestep (under any name) now reads the default's.
        of_old_clock = {id(var): key for key, var in clock.variables.items()}
        variables = getattr(obj, "variables", None)
        for name, var in list(variables.items()) if variables is not None else []:
            if id(var) in of_old_clock:
                variables._variables[name] = defaultclock.variables[of_old_clock[id(var)]]
