"""CUDA through brian2cuda: what it needs from this machine, set in one place.

brian2cuda 1.0b1 (Brian2 2.10.1) generates CUDA code that compiles with CUDA 13 when:

* ``CUDA_PATH`` is the real toolkit prefix. brian2cuda derives it from the first ``nvcc`` on
  PATH, which on some images is a wrapper script in /usr/local/bin (prefix /usr/local: wrong).
* C++17 is used: CUDA 13's CUB requires it; brian2cuda's makefile says ``-std=c++11`` (the last
  ``-std`` wins, nvcc warns).
* curand is found: a toolkit without it can use PyPI's ``nvidia-curand`` (headers and
  ``libcurand.so.10``; ``-lcurand`` needs an unversioned ``libcurand.so`` link, made in the
  build folder).
* without a GPU (compile only), GPU detection is off and the code is compiled for compute
  capability 9.0 (H100/H200) unless ``BIOPLASTIC_CUDA_CC`` says otherwise.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from brian2 import prefs

from bioplastic.errors import ConfigError


def gpu_available() -> bool:
    return shutil.which("nvidia-smi") is not None


def cuda_path() -> str:
    """The CUDA toolkit prefix: $CUDA_PATH, /usr/local/cuda, or the real nvcc's (wrappers resolved)."""
    candidates = [os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    for path in candidates:
        if path and Path(path, "bin", "nvcc").is_file() and Path(path, "include", "cuda_runtime.h").is_file():
            return str(Path(path).resolve())
    raise ConfigError("device 'cuda_standalone' needs the CUDA toolkit (nvcc): set CUDA_PATH to its prefix, "
                      "or install PyPI's nvidia-cuda-nvcc, -runtime, -cccl, -crt, nvidia-nvvm and nvidia-curand.")


def configure(build_dir: str) -> None:
    """Set brian2cuda's and the C++ compiler's preferences for this machine."""
    import brian2cuda  # noqa: F401  (registers the device and its preferences)
    backend = prefs.devices.cuda_standalone.cuda_backend
    path = cuda_path()
    os.environ["CUDA_PATH"] = path
    backend.cuda_path = path
    if not gpu_available():
        backend.detect_gpus = False
        backend.gpu_id = 0
        backend.compute_capability = float(os.environ.get("BIOPLASTIC_CUDA_CC", "9.0"))
    nvcc_args = [a for a in backend.extra_compile_args_nvcc if not a.startswith("-std=")]
    backend.extra_compile_args_nvcc = nvcc_args + ["-std=c++17"]
    gcc_args = [a for a in prefs.codegen.cpp.extra_compile_args_gcc if not a.startswith("-std=")]
    prefs.codegen.cpp.extra_compile_args_gcc = gcc_args + ["-std=c++17"]
    _find_curand(path, Path(build_dir))


def _find_curand(toolkit: str, build_dir: Path) -> None:
    if list(Path(toolkit).glob("lib*/libcurand.so")) or list(Path(toolkit).glob("targets/*/lib/libcurand.so")):
        return                             # the toolkit has it
    spec = importlib.util.find_spec("nvidia")
    roots = [Path(p) for p in (spec.submodule_search_locations if spec else [])]
    for root in roots:
        for lib in sorted(root.glob("*/lib/libcurand.so.*")):
            include = lib.parent.parent / "include"
            link_dir = build_dir / "curand_lib"
            link_dir.mkdir(parents=True, exist_ok=True)
            link = link_dir / "libcurand.so"
            if not link.exists():
                link.symlink_to(lib)
            for pref, folder in (("include_dirs", include), ("library_dirs", link_dir),
                                 ("runtime_library_dirs", lib.parent)):
                prefs.codegen.cpp[pref] = [d for d in prefs.codegen.cpp[pref] if "curand" not in d
                                           and "nvidia" not in d] + [str(folder)]
            return
    raise ConfigError("device 'cuda_standalone' needs curand: the CUDA toolkit has none; "
                      "`pip install nvidia-curand` provides it.")
