"""The few places where bioplastic relies on Brian2 behaviour that is not public API.

Each use sits behind one function here, and each function has a test
(``tests/test_brian_compat.py``) that fails loudly, on the runtime and the C++ standalone
device, if a Brian2 release stops honouring it.
"""
from __future__ import annotations

import brian2


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
