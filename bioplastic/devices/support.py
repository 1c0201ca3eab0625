"""Which bioplastic features each device supports, found by running them (README, "Devices").

A network is checked against this table before any code is generated, so an unsupported
combination fails at once with the feature's name instead of deep inside a code generator.
"""
from __future__ import annotations

import brian2
from brian2 import TimedArray

from bioplastic.devices.objects import all_objects, is_run_regularly
from bioplastic.errors import ConfigError

FEATURES = {
    "timed_array": "TimedArray schedules (stimulus, image/label/learning schedules)",
    "summed_normalization": "summed-variable weight normalisation (weight_normalization)",
    "run_regularly": "run_regularly operations",
    "run_regularly_slot": "run_regularly outside the 'start' slot (e.g. Langevin weight noise)",
    "linked_variables": "linked variables",
    "multiple_runs": "several run() calls on one device (e.g. several protocols per build)",
    "run_args": "run_args (re-running a built binary with new values; batched evaluation on standalone)",
    "seeding": "seeding Brian2's random numbers (brian2.seed)",
}

# device -> feature -> None (supported) or why not. Devices not listed support everything.
# "cuda_standalone" entries come from compiling (no GPU has run them yet, see README).
UNSUPPORTED = {
    "genn": {
        "run_regularly_slot": "brian2genn runs run_regularly operations only in the 'start' slot",
        "linked_variables": "brian2genn does not support linked variables",
        "multiple_runs": "brian2genn supports a single run() per build",
        "run_args": "brian2genn (for Brian2 2.5) has no run_args",
    },
}


def features_used(network: brian2.Network, *, run_args=None, runs_before: int = 0) -> set[str]:
    """The FEATURES a built (not yet run) network uses."""
    used = set()
    objects = all_objects(network)
    for obj in objects:
        namespace = getattr(obj, "namespace", None) or {}
        if any(isinstance(value, TimedArray) for value in namespace.values()):
            used.add("timed_array")
        if getattr(obj, "summed_updaters", None):
            used.add("summed_normalization")
        if getattr(obj, "_linked_variables", None):
            used.add("linked_variables")
        if is_run_regularly(obj):
            used.add("run_regularly")
            if obj.when != "start":
                used.add("run_regularly_slot")
    if run_args:
        used.add("run_args")
    if runs_before:
        used.add("multiple_runs")
    return used


def check_supported(device_name: str, used: set[str]) -> None:
    """Raise a ConfigError naming the first feature ``device_name`` cannot run."""
    refused = UNSUPPORTED.get(device_name, {})
    for feature in sorted(used):
        if feature in refused:
            raise ConfigError(f"device {device_name!r} does not support {FEATURES[feature]}: {refused[feature]}. "
                              "See README, 'Devices', for what each device supports.")
