"""Where a network runs: Brian2 runtime (Cython, numpy fallback), C++ standalone, GeNN, CUDA.

All devices share one calling convention, :func:`run_network`, so studies never branch on
the device. Standalone devices compile the whole network (one protocol = one ``run()``)
into a binary in ``build_dir``. Before anything is generated, the network's features are
checked against what the device supports (:mod:`bioplastic.devices.support`); GeNN's
differences (brian2genn on Brian2 2.5) live in :mod:`bioplastic.devices.genn`.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import brian2
from brian2 import device, prefs, set_device

from bioplastic.devices import brian25, support
from bioplastic.devices.compile import compile_project, guarded_run_command
from bioplastic.brian_compat import check_cython_compiled, share_default_clock
from bioplastic.errors import ConfigError
from bioplastic.schema import DEVICES

brian25.apply()

_STANDALONE = {"cpp_standalone", "genn", "cuda_standalone"}
_PLUGINS = {"genn": "brian2genn", "cuda_standalone": "brian2cuda"}
#: Link flag of the cpp_standalone binary: it starts with the CPU flushing subnormal numbers
#: (below 2.2e-308) to zero. Brian2 compiles with -ffast-math but does not link with it, so the
#: binary keeps the CPU's default, gradual underflow: a trace or conductance that decays for
#: more than ~14 s without a spike (tau 20 ms) becomes subnormal, and every operation on it is
#: ~100x slower on x86. Measured: the supervised study with a simulated rest ran at 104 ms per
#: image, 25 ms with this flag (tests/test_devices.py::test_standalone_flushes_subnormals_to_zero).
FLUSH_SUBNORMALS = ("-ffast-math",)
#: Compile flags of ``DeviceConfig.vectorized_math``. GCC vectorises a loop that calls ``exp``
#: only with a SIMD version of it, which glibc's headers declare (libmvec) when __FAST_MATH__ is
#: defined; Brian2 compiles with -ffast-math -fno-finite-math-only, which leaves it undefined
#: (and must: thresholds of inf and lastspike of -inf need infinities). A state update also reads
#: and writes more arrays than GCC's default of 10 run-time alias checks allows, so it is not
#: vectorised at all (`-fopt-info-vec-missed`: "no vectype for stmt"). With both, the state
#: updates of conductance-based LIF groups run ~3x faster on AVX-512 (Diehl & Cook, 400 neurons:
#: excitatory 4.74 -> 1.47 s, inhibitory 2.91 -> 1.01 s over 1100 presentations, Brian2's
#: profiler). libmvec's exp is specified to within 4 ulp of the correctly rounded scalar exp, so
#: results could differ from the scalar build's in the last bits; measured: every regression
#: fixture (tests/test_regression.py) is reproduced exactly with it, hence on by default.
VECTORIZED_MATH = ("-D__FAST_MATH__", "--param=vect-max-version-for-alias-checks=200")


@dataclass
class DeviceConfig:
    name: str = "runtime"
    target: str = "cython"          # runtime code generation target: cython or numpy
    build_dir: str | None = None    # standalone: where the C++ project is written
    threads: int = 0                # OpenMP threads for cpp_standalone (0: off; slower on 2 cores)
    keep_build: bool = False
    use_gpu: bool | None = None     # genn: None = the GPU if GeNN has a CUDA backend and a GPU is here, else the CPU
    compile_only: bool = False      # standalone: generate and compile, do not run (CUDA without a GPU)
    vectorized_math: bool = True    # cpp_standalone: SIMD exp/log (glibc libmvec), see VECTORIZED_MATH

    def validate(self) -> DeviceConfig:
        if self.name not in DEVICES:
            raise ConfigError(f"unknown device {self.name!r}; choose one of {', '.join(DEVICES)}.")
        if self.name in _PLUGINS and importlib.util.find_spec(_PLUGINS[self.name]) is None:
            how = ("`make genn` builds an environment for it (.venv-genn: Python 3.11, Brian2 2.5, GeNN 4.9), "
                   "then use .venv-genn/bin/bioplastic" if self.name == "genn" else "`pip install -e '.[cuda]'`")
            raise ConfigError(f"device {self.name!r} needs the package {_PLUGINS[self.name]!r}, which is not "
                              f"installed: {how}.")
        if self.target not in ("cython", "numpy"):
            raise ConfigError(f"runtime target must be 'cython' or 'numpy', got {self.target!r}.")
        return self

    @property
    def standalone(self) -> bool:
        return self.name in _STANDALONE


def vectorized_math_available() -> bool:
    """glibc's vector math library (libmvec) exists for x86-64 Linux, and the flags are GCC's;
    elsewhere (or with CXX=clang++) the option is ignored and the scalar build is used."""
    import platform
    return (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
            and platform.libc_ver()[0] == "glibc" and "clang" not in os.environ.get("CXX", ""))


def cython_available() -> bool:
    return importlib.util.find_spec("Cython") is not None and shutil.which(os.environ.get("CC", "cc")) is not None


_OWNER = re.compile(r"_pid(\d+)_")


def _host() -> str:
    import socket
    return re.sub(r"[^A-Za-z0-9]+", "", socket.gethostname())[:20] or "host"


def scratch_dir(prefix: str, parent: str | os.PathLike | None = None) -> str:
    """A new temporary folder named after this host and process (``<prefix><host>_pid<pid>_<random>``).

    A process that is killed (SIGKILL, a Dask worker ended by its nanny, a node's OOM killer)
    cannot remove its folders; the next one on the same host that makes a folder in the same
    place removes those whose process no longer exists (folders of other hosts, on a shared
    temporary directory, are left alone).
    """
    parent = Path(parent or tempfile.gettempdir())
    host = _host()
    for folder in parent.glob(f"bioplastic_*_{host}_pid*_*"):
        owners = _OWNER.findall(folder.name)
        if owners and folder.is_dir() and not _alive(int(owners[-1])):
            shutil.rmtree(folder, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{host}_pid{os.getpid()}_", dir=parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # another user's process
        return True
    return True


def _has_preference(name: str) -> bool:
    """Whether this Brian2 version knows the preference (brian2genn's Brian2 2.5 lacks newer ones)."""
    try:
        prefs[name]
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def _preferences_restored(*names: str):
    """Brian2 preferences changed inside the block get their previous values back afterwards."""
    previous = {name: prefs[name] for name in names if _has_preference(name)}
    try:
        yield
    finally:
        for name, value in previous.items():
            prefs[name] = value


@contextlib.contextmanager
def activated(config: DeviceConfig, label: str = "run"):
    """Select the device for the networks built inside this block; afterwards the runtime device
    and every Brian2 preference this changed are back as they were. Ctrl-C raises KeyboardInterrupt
    inside a simulation too (Brian2's default, ending the running ``Network.run`` early and going
    on, would let a study carry on with a truncated presentation)."""
    config.validate()
    with _preferences_restored("codegen.target", "devices.cpp_standalone.openmp_threads",
                               "codegen.cpp.extra_link_args", "devices.cpp_standalone.run_cmd_unix",
                               "codegen.cpp.extra_compile_args_gcc", "core.stop_on_keyboard_interrupt"):
        if _has_preference("core.stop_on_keyboard_interrupt"):   # not in the Brian2 that brian2genn pins
            prefs.core.stop_on_keyboard_interrupt = False
        if config.name == "runtime":
            set_device("runtime")
            prefs.codegen.target = config.target if (config.target == "numpy" or cython_available()) else "numpy"
            yield None
            return
        saved_prefs = {}
        if config.name == "genn":
            from bioplastic.devices import genn
            saved_prefs = genn.activate()
        elif config.name == "cuda_standalone":
            import brian2cuda  # noqa: F401
        # Plain characters only: GeNN's build script splits paths at spaces and colons.
        build_dir = config.build_dir or scratch_dir(f"bioplastic_{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}_")
        if config.name == "cpp_standalone":
            prefs.devices.cpp_standalone.openmp_threads = config.threads
            prefs.codegen.cpp.extra_link_args = [*prefs.codegen.cpp.extra_link_args, *FLUSH_SUBNORMALS]
            prefs.devices.cpp_standalone.run_cmd_unix = guarded_run_command()
            if config.vectorized_math and vectorized_math_available():
                prefs.codegen.cpp.extra_compile_args_gcc = [*prefs.codegen.cpp.extra_compile_args_gcc,
                                                             *VECTORIZED_MATH]
        if config.name == "cuda_standalone":
            from bioplastic.devices import cuda
            if not config.compile_only and not cuda.gpu_available():
                raise ConfigError("device 'cuda_standalone' needs an NVIDIA GPU to run (none found: no nvidia-smi); "
                                  "without one it can only compile (DeviceConfig.compile_only).")
            cuda.configure(build_dir)
        set_device(config.name, directory=build_dir, build_on_run=False)
        _runs[build_dir] = 0
        default_dt = brian2.defaultclock.dt       # GeNN and CUDA set it to the network's dt
        try:
            yield build_dir
        finally:
            _runs.pop(build_dir, None)
            device.reinit()
            set_device("runtime")
            brian2.defaultclock.dt = default_dt
            if saved_prefs:
                from bioplastic.devices import genn
                genn.restore(saved_prefs)
            if not config.keep_build and config.build_dir is None:
                shutil.rmtree(build_dir, ignore_errors=True)


def run_network(network: brian2.Network, duration, config: DeviceConfig, *, report=None, build_dir=None,
                run_args=None, label: str = "") -> dict:
    """Run (and, for standalone devices, build and execute) a network for ``duration``.

    Returns the seconds spent: ``{"compile_s": ..., "run_s": ...}`` (compile_s is 0 on the
    runtime device, where Cython compiles inside the first run; on GeNN both are in run_s).
    """
    import time
    started = time.perf_counter()
    if config.name == "runtime":
        network.run(duration, report=report, report_period=2 * brian2.second, namespace={})
        check_cython_compiled(network)
        return {"compile_s": 0.0, "run_s": time.perf_counter() - started}
    support.check_supported(config.name, support.features_used(network, run_args=run_args,
                                                               runs_before=_runs.get(build_dir, 0)))
    _runs[build_dir] = _runs.get(build_dir, 0) + 1
    if config.name in ("genn", "cuda_standalone"):
        share_default_clock(network, config.name)
    if config.name == "genn":
        from bioplastic.devices import genn
        genn.prepare(network)
        network.run(duration, report=None, namespace={})
        genn.build(build_dir, use_gpu=config.use_gpu, with_output=bool(report), run=not config.compile_only)
        return {"compile_s": 0.0, "run_s": time.perf_counter() - started}
    network.run(duration, report="text" if report else None, namespace={})
    build(build_dir, config, label=label, show_progress=bool(report), with_output=bool(report))
    compiled = time.perf_counter()
    if not config.compile_only:
        # [] rather than None: Brian2 2.5 (the GeNN environment) concatenates it to a list.
        device.run(directory=build_dir, with_output=bool(report), run_args=run_args if run_args is not None else [])
    return {"compile_s": compiled - started, "run_s": time.perf_counter() - compiled}


_runs: dict = {}   # build_dir -> run() calls so far in this activated() block


def build(build_dir: str, config: DeviceConfig, *, label: str = "", show_progress: bool = False,
          with_output: bool = False) -> None:
    """Write and compile the standalone project of the networks run so far (not run it).

    cpp_standalone compiles through :func:`bioplastic.devices.compile.compile_project`
    (interruptible, a progress bar, no compiler left running); other standalone devices
    through their Brian2 plugin.
    """
    if config.name == "cpp_standalone":
        device.build(directory=build_dir, compile=False, run=False, with_output=with_output)
        compile_project(build_dir, label=label, show_progress=show_progress)
    else:
        device.build(directory=build_dir, compile=True, run=False, with_output=with_output)
