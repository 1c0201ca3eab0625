"""New values for a compiled cpp_standalone binary: Brian2's dict form of ``run_args`` against
bioplastic's writer (``brian_compat.standalone_run_args``), side by side in one run.

    python -m benchmarks.run_args                    # 5 runs each, drive of 64 MB
    python -m benchmarks.run_args --mb 256 --runs 3

The batched evaluation reruns one compiled binary with a new input drive (a TimedArray of
copies x neurons x steps values) and new weights for every batch. The dict form hashes every
array (MD5) and writes it under ``static_arrays/`` of the build folder, named by its hash, and
``device.delete(run_args=True)`` removes them after the run; bioplastic's writer writes the raw
values to fixed file names (in /dev/shm where it has room) that each run overwrites. Reported:
seconds per run (preparing the arguments + running the binary), and that both give the same
result.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
import brian2
from brian2 import device, ms

from bioplastic.brian_compat import standalone_run_args
from bioplastic.devices import DeviceConfig, activated, build


def measure(mb: float, runs: int) -> dict:
    n_neurons, n_steps = 400, 100
    n_copies = max(1, int(mb * 2**20 / 8 / n_neurons / n_steps))
    results = {}
    with activated(DeviceConfig(name="cpp_standalone"), "bench_run_args") as build_dir:
        drive = brian2.TimedArray(np.zeros((n_steps, n_copies * n_neurons)), dt=0.5 * ms, name="bench_drive")
        group = brian2.NeuronGroup(n_copies * n_neurons, "dv/dt = (drive(t, i) - v) / (10*ms) : 1\nw : 1",
                                   namespace={"drive": drive}, name="bench_group", dt=0.5 * ms)
        total = brian2.StateMonitor(group, "v", record=[0], when="end", name="bench_monitor")
        net = brian2.Network(group, total)
        net.run(n_steps * 0.5 * ms, namespace={})
        build(build_dir, DeviceConfig(name="cpp_standalone"), label="run_args benchmark")
        rng = np.random.default_rng(0)
        batches = [(rng.random((n_steps, n_copies * n_neurons)), rng.random(n_copies * n_neurons))
                   for _ in range(runs)]
        with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as arg_dir:
            for form in ("bioplastic writer", "Brian2 dict form", "bioplastic writer (again)"):
                final = []
                started = time.perf_counter()
                for values, w in batches:
                    if form.startswith("bioplastic"):
                        device.run(directory=build_dir, with_output=False,
                                   run_args=standalone_run_args({drive: values, group.w: w}, arg_dir))
                    else:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            device.run(directory=build_dir, with_output=False, run_args={drive: values, group.w: w})
                        device.delete(code=False, data=False, run_args=True, directory=False, force=True)
                    final.append(float(group.v[-1]))
                results[form] = {"s_per_run": round((time.perf_counter() - started) / runs, 3), "final_v": final}
    same = results["bioplastic writer"]["final_v"] == results["Brian2 dict form"]["final_v"]
    return {"drive_mb": round(n_copies * n_neurons * n_steps * 8 / 2**20, 1), "runs": runs, "same_results": same,
            **{form: r["s_per_run"] for form, r in results.items()}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=64)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    row = measure(args.mb, args.runs)
    print("| drive (MB) | runs | bioplastic writer (s/run) | Brian2 dict form (s/run) | writer again | same results |")
    print("|---:|---:|---:|---:|---:|---|")
    print(f"| {row['drive_mb']} | {row['runs']} | {row['bioplastic writer']} | {row['Brian2 dict form']} | "
          f"{row['bioplastic writer (again)']} | {row['same_results']} |")
    print({"load_average": os.getloadavg(), "cpus": os.cpu_count()})


if __name__ == "__main__":
    main()
