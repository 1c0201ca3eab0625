"""Milliseconds per image of the Mozafari (2019) network, stage by stage: bioplastic next to SpykeTorch.

    make torch-env                                   # .venv-torch with torch + SpykeTorch (once)
    python -m benchmarks.conv_stdp                   # 300 MNIST training images per stage
    python -m benchmarks.conv_stdp --images 500 --json benchmarks/measured/conv_stdp-2core.json

One command, one machine, the same images (the first ``--images`` of MNIST's training file):
bioplastic's stages run in this process, then SpykeTorch's ``MozafariDeep.py`` in
``.venv-torch`` (``benchmarks/spyketorch_mozafari.py``). Both single-threaded, subnormal
floats flushed. Stages: encoding; S1 STDP step; S2 STDP step; decision-layer R-STDP step;
inference. bioplastic computes the frozen S1/S2 output once per image (``cache``) and trains
the decision layer on it, so its decision-layer epoch costs the R-STDP step only, where
SpykeTorch recomputes S1 and S2 for every image of every epoch. The Brian2 engine is timed
on fewer images (``--brian-images``).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")              # single-threaded, as SpykeTorch is run

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bioplastic.config import load_config  # noqa: E402
from bioplastic.encoding import encode_latency  # noqa: E402
from bioplastic.network import convfast  # noqa: E402
from bioplastic.network.convnet import LayerTraining  # noqa: E402
from bioplastic.network.decision import DecisionLayer  # noqa: E402
from bioplastic.studies.common import load_split  # noqa: E402
from bioplastic.studies.conv_stdp import prepare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "conv_stdp_mnist.yaml"


def _timed(function, n_images: int) -> tuple[float, object]:
    began = time.perf_counter()
    value = function()
    return 1e3 * (time.perf_counter() - began) / n_images, value


def bioplastic_stages(images: np.ndarray, labels: np.ndarray, brian_images: int) -> dict:
    spec, coding, _, _ = prepare(load_config(CONFIG))
    n = len(images)
    ms = {}
    ms["encode"], steps = _timed(lambda: encode_latency(images, coding).reshape(n, -1), n)
    weights = spec.initial_weights(0)
    ms["s1"], _ = _timed(lambda: convfast.train_layer(spec, "s1", steps, LayerTraining("s1", weights["s1"])), n)
    ms["cache_c1"], c1 = _timed(lambda: convfast.forward(spec, "input", "c1", steps, weights), n)
    ms["s2"], _ = _timed(lambda: convfast.train_layer(spec, "s2", c1, LayerTraining("s2", weights["s2"])), n)
    ms["cache_c2"], c2 = _timed(lambda: convfast.forward(spec, "c1", "c2", c1, weights), n)
    decision = DecisionLayer(spec, weights["s3"], spec.projections["s3"].rule)
    ms["decision"], _ = _timed(lambda: decision.train_epoch(c2 >= 0, labels, np.arange(n)), n)
    ms["test"], _ = _timed(lambda: decision.predict(convfast.forward(spec, "input", "c2", steps, weights) >= 0), n)
    ms["brian2_s1"] = _brian_s1(spec, steps[:brian_images], spec.initial_weights(0))
    return ms


def _brian_s1(spec, steps, weights) -> float:
    """S1 STDP on the Brian2 engine (runtime, Cython), compilation excluded (a warm-up image first)."""
    import brian2 as b2

    from bioplastic.network.convsim import ChainSimulation
    b2.prefs.codegen.target = "cython"
    b2.defaultclock.dt = 1 * b2.ms
    sim = ChainSimulation(spec, "input", "s1", weights)
    sim.training = LayerTraining("s1", weights["s1"])
    sim.run(steps[:1])
    return _timed(lambda: sim.run(steps[1:]), len(steps) - 1)[0]


def spyketorch_stages(images, labels, n: int) -> dict:
    venv = ROOT / ".venv-torch"
    path_file = venv / "spyketorch-path"
    if not path_file.exists():
        return {"error": "no .venv-torch: run `make torch-env` first"}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "images.npy", images)
        np.save(Path(tmp) / "labels.npy", labels)
        out = Path(tmp) / "spyketorch.json"
        subprocess.run([str(venv / "bin" / "python"), str(ROOT / "benchmarks" / "spyketorch_mozafari.py"),
                        "--images", str(Path(tmp) / "images.npy"), "--labels", str(Path(tmp) / "labels.npy"),
                        "--spyketorch", path_file.read_text().strip(), "--json", str(out),
                        "--s1", str(n), "--s2", str(n), "--decision", str(n), "--test", str(n)], check=True)
        return json.loads(out.read_text())


def table(ours: dict, theirs: dict) -> str:
    st = theirs.get("ms_per_image", {})
    rows = [("encoding (DoG + latency)", ours["encode"], st.get("encode")),
            ("S1 STDP step", ours["s1"], st.get("s1")),
            ("S1 STDP step, Brian2 engine", ours["brian2_s1"], None),
            ("S1 -> C1 once per image (cache)", ours["cache_c1"], None),
            ("S2 STDP step", ours["s2"], st.get("s2")),
            ("C1 -> C2 once per image (cache)", ours["cache_c2"], None),
            ("decision-layer R-STDP step (= one epoch / image)", ours["decision"], st.get("decision")),
            ("inference (S1, S2, decision)", ours["test"], st.get("test"))]
    lines = ["| stage | bioplastic ms/image | SpykeTorch ms/image | speed-up |", "|---|---:|---:|---:|"]
    for name, a, b in rows:
        lines.append(f"| {name} | {a:.2f} | {'' if b is None else f'{b:.2f}'} | "
                     f"{'' if b is None else f'{b / a:.1f}x'} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--brian-images", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    train = load_split(load_config(CONFIG), "train")
    images, labels = train.images[:args.images], train.labels[:args.images]
    ours = bioplastic_stages(images, labels, args.brian_images)
    theirs = spyketorch_stages(images, labels, args.images)
    text = table(ours, theirs)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"bioplastic_ms_per_image": ours, "spyketorch": theirs,
                                         "images": args.images, "machine": platform.platform(),
                                         "python": sys.version.split()[0], "table": text}, indent=2))


if __name__ == "__main__":
    main()
