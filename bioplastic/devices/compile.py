"""Compiling a C++ standalone project: interruptible, with a progress bar, nothing left behind.

Brian2 compiles with ``os.system("make ...")``. While ``system()`` waits, the calling process
ignores SIGINT, so a ``kill -INT`` during compilation is lost (the run goes on), and a Ctrl-C
reaches ``make`` only, whose failure then surfaces as Brian2's "Project compilation failed,
consider clean=True" instead of an interruption. Here Brian2 writes the project
(``device.build(compile=False)``, public API) and bioplastic runs the same ``make`` command
itself, in its own process group:

* SIGINT/SIGTERM during compilation raise ``KeyboardInterrupt`` in Python as in any other
  phase; ``make`` and its compilers are ended before it propagates;
* if the Python process dies without a chance to clean up (SIGKILL), the kernel sends ``make``
  SIGTERM (Linux ``PR_SET_PDEATHSIG``), and GNU make passes it on to its compilers;
* a progress bar counts the compiled sources; a failed build raises an error with the end of
  ``make``'s output, which is kept in ``make.log``.

The compiled binary is started by Brian2 (``device.run``) with the command of the public
preference ``devices.cpp_standalone.run_cmd_unix``; :func:`guarded_run_command` makes that
command a tiny launcher that asks the kernel to end the binary when the Python process dies
(``PR_SET_PDEATHSIG``, which survives ``exec``), so a SIGKILLed run leaves no simulation behind.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from brian2 import prefs

from bioplastic.errors import BioplasticError

_PR_SET_PDEATHSIG = 1


class CompilationError(BioplasticError):
    """The C++ compiler rejected the generated project (a toolchain problem or a Brian2 bug)."""


def _end_with_parent() -> None:          # runs in the child between fork and exec
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):    # not Linux: the SIGKILL case is not covered there
        pass


#: Sets PR_SET_PDEATHSIG, checks the parent has not already gone, then becomes the binary.
_LAUNCHER = ("import ctypes, os, signal, sys\n"
             "parent = int(sys.argv[1])\n"
             "try:\n"
             "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
             "except (OSError, AttributeError):\n"
             "    pass\n"
             "if os.getppid() != parent:\n"
             "    sys.exit('bioplastic: the run was stopped before the simulation started')\n"
             "os.execv(sys.argv[2], sys.argv[2:])\n")


def guarded_run_command(binary: str = "./main") -> list[str]:
    """``run_cmd_unix`` that starts ``binary`` so that it ends with this process (Linux)."""
    if not sys.platform.startswith("linux"):
        return [binary]
    return [sys.executable, "-S", "-c", _LAUNCHER, str(os.getpid()), binary]


def _sources(build_dir: Path) -> list[Path]:
    """The sources the makefile compiles (its ``SRCS`` line)."""
    text = (build_dir / "makefile").read_text()
    found = re.search(r"^SRCS\s*=\s*(.*)$", text, flags=re.MULTILINE)
    return [build_dir / name for name in found.group(1).split()] if found else []


def compile_project(build_dir: str | os.PathLike, *, label: str = "", show_progress: bool = True) -> float:
    """Run ``make`` in a project that Brian2 has written; returns the seconds it took."""
    build_dir = Path(build_dir)
    command = [prefs.devices.cpp_standalone.make_cmd_unix, *prefs.devices.cpp_standalone.extra_make_args_unix]
    objects = [source.with_suffix(".o") for source in _sources(build_dir)]
    started = time.perf_counter()
    with open(build_dir / "make.log", "wb") as log:
        process = subprocess.Popen(command, cwd=build_dir, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=_end_with_parent)
        try:
            _wait(process, objects, label, show_progress)
        except BaseException:
            _end(process)
            raise
    if process.returncode != 0:
        tail = (build_dir / "make.log").read_text(errors="replace").strip().splitlines()[-25:]
        raise CompilationError(f"C++ compilation of the standalone project failed (make exit code "
                               f"{process.returncode}); the end of {build_dir / 'make.log'}:\n" + "\n".join(tail))
    return time.perf_counter() - started


def _wait(process: subprocess.Popen, objects: list[Path], label: str, show_progress: bool) -> None:
    bar = None
    if show_progress and objects:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(objects), desc=f"{label}: compiling" if label else "compiling", unit="file",
                   leave=False, file=sys.stderr, mininterval=1.0)
    try:
        while process.poll() is None:
            time.sleep(0.25)
            if bar is not None:
                bar.update(sum(path.exists() for path in objects) - bar.n)
    finally:
        if bar is not None:
            bar.close()


def _end(process: subprocess.Popen) -> None:
    """Stop ``make`` and every compiler it started (its whole process group)."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
