"""Seconds per training image and per test image, side by side, on one machine.

    python -m benchmarks.training                 # the table of the README (a few minutes)
    python -m benchmarks.training --scaling       # + growth with network size and input rate
    python -m benchmarks.training --images 100 --json out.json

Network (Diehl & Cook 2015 style, as in the performance issue): 784 Poisson inputs, 400
adaptive-threshold conductance LIF excitatory + 400 inhibitory neurons, all-to-all
plastic input (pair STDP), dt 0.5 ms, 350 ms image + 150 ms rest, synthetic MNIST-like
images with ~2270 input spikes each.

Compared, on the same images:
  * bioplastic, cpp_standalone: the whole schedule as ONE compiled run (compile reported apart)
  * bioplastic, runtime (Cython): the same network object, one run (after a warm-up compile)
  * plain Brian2 runtime loop, "written the usual way": PoissonGroup whose rates are set in a
    Python loop, ``run()`` per image and per rest, per-synapse event-driven traces.
  * evaluation: seconds per test image, presenting images one after another vs batched copies
    (runtime, and cpp_standalone compiled once and re-run per batch; compile time reported apart).

    python -m benchmarks.training --eval-only --test-images 200 --eval-batch-size 100
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
import brian2
from brian2 import Hz, ms, PoissonGroup, Synapses, Network, device

from bioplastic.devices import DeviceConfig, activated, run_network
from bioplastic.evaluation import TestSpikes, evaluate_batched, evaluate_sequential
from bioplastic.models import get_neuron_model, get_plasticity_rule
from bioplastic.config import COMMON_DEFAULTS, deep_merge
from bioplastic.network.build import build_training_network
from bioplastic.network.spec import NetworkSpec, network_from_config
from bioplastic.protocol import ProtocolBuilder

IMAGE, REST = 350 * ms, 150 * ms


def mnist_like_images(n: int, rng: np.random.Generator, target_spikes: float = 2270) -> np.ndarray:
    """Random pen strokes on 28x28, scaled so an image evokes ~target_spikes at 63.75 Hz over 350 ms."""
    images = np.zeros((n, 28, 28))
    yy, xx = np.mgrid[0:28, 0:28]
    for k in range(n):
        for _ in range(rng.integers(2, 4)):       # 2-3 strokes: a line with a Gaussian profile
            (x0, y0), (x1, y1) = rng.uniform(6, 22, 2), rng.uniform(6, 22, 2)
            s = np.clip(((xx - x0) * (x1 - x0) + (yy - y0) * (y1 - y0)) / max((x1 - x0) ** 2 + (y1 - y0) ** 2, 1), 0, 1)
            d2 = (xx - x0 - s * (x1 - x0)) ** 2 + (yy - y0 - s * (y1 - y0)) ** 2
            images[k] = np.maximum(images[k], np.exp(-d2 / 2.0))
    full_pixels = target_spikes / (63.75 * 0.35)
    for _ in range(20):        # scale to the target drive; repeat because clipping at white loses some
        images = np.clip(images * full_pixels / images.reshape(n, -1).sum(1)[:, None, None], 0, 1)
    return (images * 255).round().astype(np.uint8).reshape(n, -1)


W = "input_to_exc"      # the benchmark network's one (plastic) projection


def make_spec(n_exc: int, max_rate=63.75 * Hz) -> NetworkSpec:
    """input (784) --input_to_exc: all-to-all pair STDP--> exc (n_exc adaptive LIF, one segment) <-> inhibitory."""
    network = {"input": {"max_rate": f"{float(max_rate / Hz)!r} Hz"},
               "layers": {"exc": {"n_per_class": n_exc}},
               "projections": {W: {"source": "input", "target": "exc", "plasticity": {"rule": "stdp"}}}}
    return network_from_config(deep_merge(COMMON_DEFAULTS, {"network": network})["network"], n_classes=1)


def bioplastic_training(spec, images, device_name: str, build_dir=None, reset_state: bool = False) -> dict:
    """One protocol, one run. Returns seconds per image of the simulation itself and the overheads.

    ``reset_state``: no simulated rest; neurons and traces are reset at each image start instead.
    """
    n = len(images)
    builder = ProtocolBuilder(images, IMAGE, 0 * ms if reset_state else REST, reset_state=reset_state)
    builder.present(np.arange(n)[None], np.zeros((1, n), int), learning=True)
    protocol = builder.build()
    weights = {W: spec.initial_weights(W, np.random.default_rng(0))[None]}
    config = DeviceConfig(device_name, build_dir=build_dir)
    if device_name == "runtime":        # compile the Cython code objects first, as a user's second run would
        warm = ProtocolBuilder(images[:1], IMAGE, REST).present([[0]], [[0]], learning=True).build()
        with activated(config):
            run_network(build_training_network(spec, warm, weights, name="warm").network, warm.duration, config)
    started = time.perf_counter()
    with activated(config) as build_dir:
        net = build_training_network(spec, protocol, weights, name="bench")
        built = time.perf_counter()
        run_network(net.network, protocol.duration, config, build_dir=build_dir)
        total = time.perf_counter() - started
        if device_name == "runtime":
            sim = total - (built - started)
            overhead = {"build_network_s": built - started}
        else:
            sim = device._last_run_time
            overhead = {"compile_s": device.timers["compile"]["make"], "binary_total_s": device.timers["run_binary"]}
        dw = float(np.abs(net.final_weights(W) - weights[W]).mean())
    # Peak resident memory of the largest process so far (the standalone binary is a child).
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"s_per_image": sim / n, "total_s": total, "mean_abs_dw": dw, "synapses": spec.n_inputs * spec.readout.size,
            "peak_rss_mb_so_far": peak / 1024, **overhead}


def plain_brian2_loop(images, n_exc: int, max_rate=63.75 * Hz) -> dict:
    """The usual port of Diehl & Cook: rates set in Python, run() per image, per-synapse traces."""
    brian2.set_device("runtime")
    brian2.prefs.codegen.target = "cython"
    exc_m, inh_m = get_neuron_model("adaptive_lif"), get_neuron_model("inhibitory_lif")
    inputs = PoissonGroup(784, rates=0 * Hz, dt=0.5 * ms)
    exc = exc_m.make_group(n_exc, dt=0.5 * ms, name="plain_exc")
    inh = inh_m.make_group(n_exc, dt=0.5 * ms, name="plain_inh", namespace={"learning": 0.0})
    rule = get_plasticity_rule("stdp").with_overrides(trace_location="synapse")
    s_in = Synapses(inputs, exc, rule.synapse_model, on_pre="ge_post += w\n" + rule.on_pre,
                    on_post=rule.on_post.replace("ltp_sign_post*", ""),
                    namespace={**rule.parameters, "learning": 1.0}, dt=0.5 * ms)
    s_in.connect()
    s_in.w = "rand() * 0.3"
    s_ei = Synapses(exc, inh, on_pre="ge_post += 10.4", dt=0.5 * ms)
    s_ei.connect(j="i")
    s_ie = Synapses(inh, exc, on_pre="gi_post += 17.0", dt=0.5 * ms)
    s_ie.connect(condition="i != j")
    net = Network(inputs, exc, inh, s_in, s_ei, s_ie)
    net.run(1 * ms)                       # compile
    started = time.perf_counter()
    for image in images:
        inputs.rates = image / 255.0 * max_rate
        net.run(IMAGE)
        inputs.rates = 0 * Hz
        net.run(REST)
    return {"s_per_image": (time.perf_counter() - started) / len(images)}


def evaluation(spec, images, batch_size: int = 100, standalone: bool = True) -> dict:
    """Seconds per test image on the same spike trains: one after another vs batched copies.

    Sequential: one runtime (Cython) network, 350 ms image + 150 ms rest per image.
    Batched runtime: ``batch_size`` copies on the runtime device, built once, store/restore.
    Batched standalone: the same copies compiled once with cpp_standalone, the binary re-run per
    batch; s/image excludes the compilation, reported apart (it is paid once per evaluation call).
    """
    brian2.set_device("runtime")
    brian2.prefs.codegen.target = "cython"
    n = len(images)
    weights = {W: spec.initial_weights(W, np.random.default_rng(1))}
    spikes = TestSpikes(images, spec, IMAGE, seed=3)
    n_copies = -(-n // -(-n // batch_size))           # evaluate_batched makes its batches equal
    # Compile the Cython code first (same shapes), as a user's second evaluation would.
    sets = {W: weights[W][None]}                          # one weight set
    evaluate_sequential(spec, TestSpikes(images[:2], spec, IMAGE, seed=3), weights)
    evaluate_batched(spec, TestSpikes(images[:n_copies], spec, IMAGE, seed=3), sets, batch_size=n_copies)
    t0 = time.perf_counter()
    sequential = evaluate_sequential(spec, spikes, weights)
    t1 = time.perf_counter()
    runtime_timings = {}
    batched = evaluate_batched(spec, spikes, sets, batch_size=batch_size, timings=runtime_timings)[0]
    t2 = time.perf_counter()
    seq_s, rt_s = (t1 - t0) / n, (t2 - t1) / n
    result = {"n_images": n, "batch_size": batch_size, "copies_per_run": n_copies,
              "sequential_s_per_image": seq_s,
              "batched_runtime_s_per_image": rt_s, "batched_runtime_build_s": runtime_timings["build_s"],
              "speedup_batched_runtime": seq_s / rt_s,
              "most_active_neuron_agrees": float((sequential.argmax(1) == batched.argmax(1)).mean()),
              "total_spikes_sequential": int(sequential.sum()), "total_spikes_batched": int(batched.sum())}
    if standalone:
        timings = {}
        t3 = time.perf_counter()
        compiled = evaluate_batched(spec, spikes, sets, batch_size=batch_size,
                                    device=DeviceConfig("cpp_standalone"), timings=timings)[0]
        total = time.perf_counter() - t3
        sa_s = timings["run_s"] / n
        result.update({"batched_standalone_s_per_image": sa_s,
                       "batched_standalone_compile_s": timings["build_s"] + timings["compile_s"],
                       "batched_standalone_total_s": total,
                       "speedup_batched_standalone": seq_s / sa_s,
                       "standalone_counts_equal_runtime": bool(np.array_equal(compiled, batched))})
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="training images for bioplastic (default 200)")
    parser.add_argument("--plain-images", type=int, default=10, help="images for the plain Brian2 loop")
    parser.add_argument("--test-images", type=int, default=200)
    parser.add_argument("--eval-batch-size", type=int, default=100, help="test images simulated at once")
    parser.add_argument("--eval-only", action="store_true", help="only the evaluation comparison")
    parser.add_argument("--scaling", action="store_true", help="also 100/400/1600/6400 neurons and input rates")
    parser.add_argument("--json", default="benchmarks/measured/latest.json")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    images = mnist_like_images(max(args.images, args.test_images), rng)
    spec = make_spec(400)
    spikes_per_image = len(TestSpikes(images[:50], spec, IMAGE, seed=0).step) / 50
    results = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                           "cpus": os.cpu_count()},
               "brian2": brian2.__version__, "network": "784 -> 400 exc / 400 inh, dt 0.5 ms, 350+150 ms",
               "input_spikes_per_image": spikes_per_image}
    print(f"input spikes per image: {spikes_per_image:.0f}")
    results["load_average_before"] = os.getloadavg()
    if not args.eval_only:
        results["cpp_standalone"] = bioplastic_training(spec, images[:args.images], "cpp_standalone")
        print("bioplastic cpp_standalone:", results["cpp_standalone"])
        results["cpp_standalone_reset_state"] = bioplastic_training(spec, images[:args.images], "cpp_standalone",
                                                                    reset_state=True)
        print("bioplastic cpp_standalone, reset instead of rest:", results["cpp_standalone_reset_state"])
        results["runtime"] = bioplastic_training(spec, images[:args.images], "runtime")
        print("bioplastic runtime:", results["runtime"])
        results["plain_brian2_loop"] = plain_brian2_loop(images[:args.plain_images], 400)
        print("plain Brian2 loop:", results["plain_brian2_loop"])
    results["evaluation"] = evaluation(spec, images[:args.test_images], args.eval_batch_size)
    print("evaluation:", results["evaluation"])
    if args.scaling and not args.eval_only:
        results["scaling_neurons"] = {}
        for n_exc in (100, 400, 1600, 6400):
            n_img = max(20, args.images * 400 // n_exc // 2)
            results["scaling_neurons"][n_exc] = bioplastic_training(make_spec(n_exc), images[:n_img], "cpp_standalone")
            print(f"  {n_exc} neurons:", results["scaling_neurons"][n_exc])
        results["scaling_rate"] = {}
        for rate in (16, 32, 63.75, 128):
            results["scaling_rate"][rate] = bioplastic_training(make_spec(400, rate * Hz), images[:args.images // 2],
                                                                "cpp_standalone")
            print(f"  {rate} Hz:", results["scaling_rate"][rate])
    results["load_average_after"] = os.getloadavg()
    if not args.eval_only:
        plain = results["plain_brian2_loop"]["s_per_image"]
        print("\n| path | s / training image | vs plain loop |\n|---|---:|---:|")
        for key in ("cpp_standalone", "cpp_standalone_reset_state", "runtime", "plain_brian2_loop"):
            s = results[key]["s_per_image"]
            print(f"| {key} | {s:.4f} | {plain / s:.1f}x |")
    for key, label in (("scaling_neurons", "excitatory neurons"), ("scaling_rate", "max input rate (Hz)")):
        if key in results:
            print(f"\n| {label} | synapses | s / training image | peak memory (MB) |\n|---:|---:|---:|---:|")
            for size, r in results[key].items():
                print(f"| {size} | {r['synapses']} | {r['s_per_image']:.4f} | {r['peak_rss_mb_so_far']:.0f} |")
    ev = results["evaluation"]
    print("\n| evaluation path | s / test image | vs sequential |\n|---|---:|---:|")
    print(f"| sequential, runtime | {ev['sequential_s_per_image']:.4f} | 1.0x |")
    print(f"| batched, runtime | {ev['batched_runtime_s_per_image']:.4f} | {ev['speedup_batched_runtime']:.1f}x |")
    if "batched_standalone_s_per_image" in ev:
        print(f"| batched, cpp_standalone (+{ev['batched_standalone_compile_s']:.0f} s compile once) | "
              f"{ev['batched_standalone_s_per_image']:.4f} | {ev['speedup_batched_standalone']:.1f}x |")
    print(f"load average before / after: {results['load_average_before']} / {results['load_average_after']}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"\nwritten {args.json}")
    return results


if __name__ == "__main__":
    main()
