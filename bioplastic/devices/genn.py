"""GeNN through brian2genn: what must differ from Brian2's own standalone devices, in one place.

brian2genn 1.7 (the latest) runs on Brian2 2.5 in its own environment (``make genn``); the
rest of bioplastic is written for Brian2 2.10 and runs unchanged there (Brian2 2.5's own
differences: :mod:`bioplastic.devices.brian25`), because what brian2genn does differently is
absorbed here:

* one clock: GeNN has a single time step, and brian2genn refuses groups that carry their own
  ``Clock`` (see :func:`bioplastic.brian_compat.share_default_clock`).
* seeding: brian2genn refuses ``brian2.seed()``. The seed is instead written into the
  generated ``main()``: it seeds the host's generator (run_regularly code) and the C library
  generator from which brian2genn draws GeNN's per-neuron random streams. Same seed, same run.
* run_regularly: brian2genn recognises these operations by their default name and silently
  drops named ones; they are renamed.
* TimedArray: brian2genn has none in GeNN's code, only in code the host runs (run_regularly).
  The network therefore reads its schedules in run_regularly operations, once per slot
  (``learning``, ``label_now``, ``ltp_sign`` are variables, see ``network/build.py``).
* synaptic code that reads its own side's neuron (``ltp_sign_post``, ``learning_post`` at a
  postsynaptic spike): brian2genn refuses it, because its schedule runs synaptic code after
  the neurons' resets, where a variable the reset changes would read differently. Variables
  no reset writes read the same; they are let through (GeNN spells them with their
  ``_post``/``_pre`` suffix), the others are still refused.
* summed variables (weight normalisation): brian2genn computes a sum in GeNN's synaptic input
  slot, which the input current already occupies, so it refuses both in one Synapses object.
  Here a sum whose updater runs on its own clock (normalisation: once per period) is computed
  by the host instead, with Brian's own C++ template, just before the normalisation reads it.
* GeNN's ``clip`` takes ``float`` arguments: its implementation is replaced by one that
  takes any arithmetic type (``clip(w, 0, w_max)`` otherwise fails to compile).
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import brian2
from brian2 import device, prefs

from bioplastic.errors import ConfigError


def genn_path() -> str:
    """GeNN's folder: $GENN_PATH, Brian's preference, or the one ``make genn`` recorded in the venv."""
    candidates = [os.environ.get("GENN_PATH"), prefs.get("devices.genn.path", None)]
    recorded = Path(sys.prefix, "genn-path")
    if recorded.exists():
        candidates.append(recorded.read_text().strip())
    for path in candidates:
        if path and Path(path, "version.txt").exists():
            return path
    raise ConfigError("device 'genn' needs GeNN 4.x: run `make genn` (builds .venv-genn and GeNN's CPU backend) "
                      "and use .venv-genn/bin/bioplastic, or set GENN_PATH to a built GeNN 4.9.")


# Preferences brian2genn changes when its device is selected (and never restores).
_GENN_PREFS = ("codegen.generators.cpp.restrict_keyword", "codegen.loop_invariant_optimisations",
               "core.network.default_schedule")


def activate() -> dict:
    """Register brian2genn's device and point it at GeNN; returns the preferences to restore."""
    import brian2genn  # noqa: F401  (registers the 'genn' device)
    saved = {name: prefs[name] for name in _GENN_PREFS}
    prefs.devices.genn.path = genn_path()
    _clip_for_any_arithmetic_type()
    _let_synapses_read_unreset_variables()
    _sums_on_the_host()
    return saved


def restore(saved: dict) -> None:
    for name, value in saved.items():
        prefs[name] = value


def prepare(network: brian2.Network) -> None:
    """Before code generation: sums and run_regularly operations as brian2genn runs them."""
    from bioplastic.devices.objects import all_objects, is_run_regularly
    for obj in all_objects(network):
        for varname, updater in (getattr(obj, "summed_updaters", None) or {}).items():
            if updater.when == "start" and updater.clock is not obj.clock:
                # A host operation, for brian2genn a run_regularly (by class and by name).
                updater.__class__ = brian2.CodeRunner
                updater._name = f"{obj.name}_sum_{varname}_run_regularly"
                obj.__dict__.setdefault("_bioplastic_host_sums", set()).add(varname)
        # brian2genn recognises run_regularly operations by their name only (a named one is
        # silently dropped).
        if is_run_regularly(obj) and "_run_regularly" not in obj.name:
            obj._name = f"{obj.name}_run_regularly"


def gpu_available() -> bool:
    """GeNN was built with its CUDA backend (CUDA_PATH set at build time) and a GPU is here."""
    import shutil
    return bool(list(Path(genn_path(), "lib").glob("libgenn_cuda_backend*"))) and shutil.which("nvidia-smi") is not None


def build(build_dir: str, *, use_gpu: bool | None, with_output: bool, run: bool = True) -> None:
    if use_gpu is None:
        use_gpu = gpu_available()
    _seed_in_main()
    # brian2genn expects build_on_run=True: its "no code after run()" check is armed by
    # run() and would refuse the initialisation code queued before it. One run() per build
    # is enforced by the support check instead.
    brian2.get_device().run_statement_used = False
    device.build(directory=build_dir, compile=True, run=run, use_GPU=use_gpu, with_output=with_output)


def _seed_in_main():
    """Turn brian2.seed() calls (refused by brian2genn) into seeding code in main()."""
    seeds = [args for func, args in device.main_queue if func == "seed"]
    brian2.get_device().main_queue[:] = [(func, args) for func, args in device.main_queue if func != "seed"]
    if seeds and seeds[-1] is not None:
        seed = int(seeds[-1])
        device.insert_code("after_start", f"srand({seed}u); rk_seed({seed}UL, brian::_mersenne_twister_states[0]);")


def _clip_for_any_arithmetic_type():
    from brian2.core.functions import DEFAULT_FUNCTIONS
    from brian2genn.genn_generator import GeNNCodeGenerator
    code = """
template <typename T, typename A, typename B>
SUPPORT_CODE_FUNC double _clip(const T value, const A a_min, const B a_max)
{
    if (value < a_min) return a_min;
    if (value > a_max) return a_max;
    return value;
}
"""
    implementations = DEFAULT_FUNCTIONS["clip"].implementations
    implementations._implementations[GeNNCodeGenerator] = None   # replaced below
    del implementations._implementations[GeNNCodeGenerator]
    implementations.add_implementation(GeNNCodeGenerator, code=code, name="_clip")


def _let_synapses_read_unreset_variables():
    from types import SimpleNamespace

    from brian2genn.device import GeNNDevice
    original = getattr(GeNNDevice.collect_synapses_variables, "_bioplastic_original", None) \
        or GeNNDevice.collect_synapses_variables

    def collect(self, synapse_model, pathway, codeobj):
        if pathway not in ("pre", "post"):
            return original(self, synapse_model, pathway, codeobj)
        own_side = f"_{pathway}synaptic_idx"
        group = codeobj.owner.source if pathway == "pre" else codeobj.owner.target
        reset_writes = _reset_writes(group)
        variables, indices = {}, dict(codeobj.variable_indices)
        for name, var in codeobj.variables.items():
            if indices.get(name) == own_side and name.rsplit("_", 1)[0] not in reset_writes:
                indices[name] = own_side + "_unreset"     # anything but own_side: accepted
            variables[name] = var
        proxy = SimpleNamespace(code=codeobj.code, variables=variables, variable_indices=indices,
                                owner=codeobj.owner, name=codeobj.name)
        result = original(self, synapse_model, pathway, proxy)
        # A neuron variable named without its suffix (``learning`` for ``learning_post``) must
        # carry it in GeNN's synapse code.
        renames = synapse_model.__dict__.setdefault("_bioplastic_renames", {})
        external = []
        for name in synapse_model.external_variables:
            suffix = {"_presynaptic_idx": "_pre", "_postsynaptic_idx": "_post"}.get(codeobj.variable_indices.get(name))
            if suffix and not name.endswith(suffix):
                renames[name] = name = name + suffix
            if name not in external:
                external.append(name)
        synapse_model.external_variables[:] = external
        return result

    def fix_code(self, synapse_model, pathway, codeobj, code):
        for name, suffixed in getattr(synapse_model, "_bioplastic_renames", {}).items():
            code = re.sub(rf"\b{name}\b", suffixed, code)
        return original_fix(self, synapse_model, pathway, codeobj, code)

    original_fix = getattr(GeNNDevice.fix_synapses_code, "_bioplastic_original", None) or GeNNDevice.fix_synapses_code
    collect._bioplastic_original, fix_code._bioplastic_original = original, original_fix
    GeNNDevice.collect_synapses_variables, GeNNDevice.fix_synapses_code = collect, fix_code


def _reset_writes(group) -> set[str]:
    """Variables the group's reset code assigns."""
    from brian2.parsing.statements import parse_statement
    code = getattr(group, "event_codes", {}).get("spike", "") or ""
    written = set()
    for line in code.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            written.add(parse_statement(line)[0])
    return written


def _sums_on_the_host():
    from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
    from brian2.utils.stringtools import get_identifiers
    from brian2genn.device import GeNNDevice
    original = getattr(GeNNDevice.code_object, "_bioplastic_original", None) or GeNNDevice.code_object

    def code_object(self, owner, name, abstract_code, variables, template_name, variable_indices,
                    codeobj_class=None, template_kwds=None, override_conditional_write=None, **kwds):
        host_sums = owner.__dict__.get("_bioplastic_host_sums", set())
        if template_name == "summed_variable" and "_run_regularly" in name:
            codeobj = CPPStandaloneDevice.code_object(self, owner, name, abstract_code, variables, template_name,
                                                      variable_indices, codeobj_class=CPPStandaloneCodeObject,
                                                      template_kwds=template_kwds,
                                                      override_conditional_write=override_conditional_write)
            read = {n for n in get_identifiers(abstract_code[None])
                    if n in variables and getattr(variables[n], "owner", None) is owner and not variables[n].constant}
            self.run_regularly_read_write[codeobj.name] = {"read": read, "write": set()}
            return codeobj
        codeobj = original(self, owner, name, abstract_code, variables, template_name, variable_indices,
                           codeobj_class=codeobj_class, template_kwds=template_kwds,
                           override_conditional_write=override_conditional_write, **kwds)
        if host_sums and codeobj.name in self.run_regularly_read_write:
            for access in self.run_regularly_read_write[codeobj.name].values():
                access -= host_sums              # host-only values: nothing to copy from or to GeNN
        return codeobj

    code_object._bioplastic_original = original
    GeNNDevice.code_object = code_object
