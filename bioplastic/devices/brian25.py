"""Brian2 2.5 (the GeNN environment, ``make genn``) where it differs from the 2.10 that bioplastic
is written for. Applied on import of :mod:`bioplastic.devices`; nothing happens under 2.10.

* ``VariableView`` is hashable in 2.10 (by group and variable name); evaluation keys the values
  of one run by it.
* C++ standalone runs an unbounded ``make -j`` (2.10: one job per core).
"""
from __future__ import annotations

import os

from brian2 import prefs
from brian2.core.variables import VariableView


def apply() -> None:
    if VariableView.__hash__ is None:
        VariableView.__hash__ = lambda view: hash((view.group_name, view.name))
    if prefs.devices.cpp_standalone.extra_make_args_unix == ["-j"]:
        prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count()}"]
