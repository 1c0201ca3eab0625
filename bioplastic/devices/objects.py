"""The Brian2 objects of a network, as the device layer inspects them before code generation
(the adjustments that rely on Brian2 internals are in :mod:`bioplastic.brian_compat`)."""
from __future__ import annotations

import brian2



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
