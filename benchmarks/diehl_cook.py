"""Training cost of the Diehl & Cook (2015) network per presentation, by size, on real MNIST.

    python -m benchmarks.diehl_cook                       # 100, 400, 1600 neurons, 300 images each
    python -m benchmarks.diehl_cook --sizes 6400 --images 100
    python -m benchmarks.diehl_cook --json benchmarks/measured/diehl_cook-2core.json
    python -m benchmarks.diehl_cook --sizes 400 --images 2000 --vectorized-math both   # side by side

Exactly the network of ``experiments/diehl_cook_2015.yaml`` (cpp_standalone, one compiled
run, repeat rule on), ``--images`` training images; reported: compile seconds, simulation
seconds per presentation (repeats included), the projected wall time of one 60,000-image
epoch (simulation only, at this rate), and the peak memory of the simulation process.
``--vectorized-math off|on|both``: the default scalar build, ``device.vectorized_math`` (SIMD
exp), or both one after the other on the same images.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from bioplastic.config import load_config
from bioplastic.data import sample_indices
from bioplastic.studies.common import (device_from_config, load_split, protocol_durations, repeat_rule,
                                       spec_from_config, train_with_snapshots)

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "diehl_cook_2015.yaml"


def measure(size: int, n_images: int, seed: int = 0, vectorized: bool = False) -> dict:
    config = load_config(CONFIG, [f"network.layers.exc.size={size}", f"device.vectorized_math={vectorized}"])
    spec = spec_from_config(config, 10)
    train = load_split(config, "train")
    order = sample_indices(train, n_images, seed)[None]
    image, rest = protocol_durations(config)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    trained = train_with_snapshots(spec, device_from_config(config), train.images.reshape(len(train.images), -1),
                                   order, np.zeros_like(order), 1 << 40, image, rest,
                                   spec.seeded_initial_weights([seed]), label=f"{size} neurons", brian_seed=seed,
                                   repeat=repeat_rule(config))
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    presentations = int(trained.n_images[-1])
    per = trained.timings["run_s"] / presentations
    return {"neurons": size, "vectorized_math": vectorized, "images": n_images, "presentations": presentations,
            "images_completed": int(trained.images_completed[-1, 0]),
            "synapses_plastic": 784 * size, "synapses_lateral": size * (size - 1),
            "compile_s": round(trained.timings["compile_s"], 1), "run_s": round(trained.timings["run_s"], 2),
            "ms_per_presentation": round(1000 * per, 2), "epoch_60k_min": round(60000 * per / 60, 1),
            "peak_memory_mb_simulation": round(max(peak_kb, before) / 1024)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1600])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--vectorized-math", choices=["off", "on", "both"], default="on")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    started = time.time()
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.vectorized_math]
    rows = [measure(size, args.images, vectorized=mode) for size in args.sizes for mode in modes]
    meta = {"host": platform.node(), "cpus": os.cpu_count(), "load_average_before_after": os.getloadavg(),
            "wall_time_s": round(time.time() - started, 1)}
    print("| neurons | vectorized math | presentations | compile s | ms / presentation | 60k-image epoch (min) | "
          "peak memory (MB) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['neurons']} | {r['vectorized_math']} | {r['presentations']} | {r['compile_s']} | "
              f"{r['ms_per_presentation']} | "
              f"{r['epoch_60k_min']} | {r['peak_memory_mb_simulation']} |")
    print(meta)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
