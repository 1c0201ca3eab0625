"""Where a network runs: Brian2 runtime (Cython, numpy fallback), C++ standalone, GeNN, CUDA.

All devices share one calling convention, :func:`run_network`, so studies never branch on
the device. Standalone devices compile the whole network (one protocol = one ``run()``)
into a binary in ``build_dir``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass

import brian2
from brian2 import device, prefs, set_device

from bioplastic.errors import ConfigError

DEVICES = ("runtime", "cpp_standalone", "genn", "cuda_standalone")
_STANDALONE = {"cpp_standalone", "genn", "cuda_standalone"}
_PLUGINS = {"genn": "brian2genn", "cuda_standalone": "brian2cuda"}


@dataclass
class DeviceConfig:
    name: str = "runtime"
    target: str = "cython"          # runtime code generation target: cython or numpy
    build_dir: str | None = None    # standalone: where the C++ project is written
    threads: int = 0                # OpenMP threads for cpp_standalone (0: off; slower on 2 cores)
    keep_build: bool = False

    def validate(self) -> "DeviceConfig":
        if self.name not in DEVICES:
            raise ConfigError(f"unknown device {self.name!r}; choose one of {', '.join(DEVICES)}.")
        if self.name in _PLUGINS and importlib.util.find_spec(_PLUGINS[self.name]) is None:
            extra = "genn" if self.name == "genn" else "cuda"
            raise ConfigError(f"device {self.name!r} needs the package {_PLUGINS[self.name]!r}, which is not "
                              f"installed: `pip install -e '.[{extra}]'` (and an NVIDIA GPU with CUDA).")
        if self.target not in ("cython", "numpy"):
            raise ConfigError(f"runtime target must be 'cython' or 'numpy', got {self.target!r}.")
        return self

    @property
    def standalone(self) -> bool:
        return self.name in _STANDALONE


def cython_available() -> bool:
    return importlib.util.find_spec("Cython") is not None and shutil.which(os.environ.get("CC", "cc")) is not None


@contextlib.contextmanager
def _preferences_restored(*names: str):
    """Brian2 preferences changed inside the block get their previous values back afterwards."""
    previous = {name: prefs[name] for name in names}
    try:
        yield
    finally:
        for name, value in previous.items():
            prefs[name] = value


@contextlib.contextmanager
def activated(config: DeviceConfig, label: str = "run"):
    """Select the device for the networks built inside this block; afterwards the runtime device
    and every Brian2 preference this changed are back as they were."""
    config.validate()
    with _preferences_restored("codegen.target", "devices.cpp_standalone.openmp_threads"):
        if config.name == "runtime":
            set_device("runtime")
            prefs.codegen.target = config.target if (config.target == "numpy" or cython_available()) else "numpy"
            yield None
            return
        if config.name == "genn":
            import brian2genn  # noqa: F401  (registers the device)
        elif config.name == "cuda_standalone":
            import brian2cuda  # noqa: F401
        build_dir = config.build_dir or tempfile.mkdtemp(prefix=f"bioplastic_{label}_")
        if config.name == "cpp_standalone":
            prefs.devices.cpp_standalone.openmp_threads = config.threads
        set_device(config.name, directory=build_dir, build_on_run=False)
        try:
            yield build_dir
        finally:
            device.reinit()
            set_device("runtime")
            if not config.keep_build and config.build_dir is None:
                shutil.rmtree(build_dir, ignore_errors=True)


def run_network(network: brian2.Network, duration, config: DeviceConfig, *, report=None, build_dir=None,
                run_args=None) -> dict:
    """Run (and, for standalone devices, build and execute) a network for ``duration``.

    Returns the seconds spent: ``{"compile_s": ..., "run_s": ...}`` (compile_s is 0 on the
    runtime device, where Cython compiles inside the first run).
    """
    import time
    started = time.perf_counter()
    if config.name == "runtime":
        network.run(duration, report=report, report_period=2 * brian2.second, namespace={})
        return {"compile_s": 0.0, "run_s": time.perf_counter() - started}
    network.run(duration, report="text" if report else None, namespace={})
    device.build(directory=build_dir, compile=True, run=False, with_output=bool(report))
    compiled = time.perf_counter()
    device.run(directory=build_dir, with_output=bool(report), run_args=run_args)
    return {"compile_s": compiled - started, "run_s": time.perf_counter() - compiled}
