"""Per-stage speed of SpykeTorch's Mozafari et al. 2019 network, the reference side of a comparison.

Times SpykeTorch's own ``MozafariDeep.py`` (the deep convolutional STDP + R-STDP network of
Mozafari et al., "Bio-inspired digit recognition using reward-modulated spike-timing-dependent
plasticity in deep convolutional networks", Pattern Recognition 2019) on the CPU, per image:

  encode    ``s1c1(image)``: ToTensor, the six DoG filters, local normalisation, and
            intensity-to-latency coding into 15 time steps (MozafariDeep's S1C1Transform,
            which prints its image count every 1000 images)
  s1        ``train_unsupervise(net, data, 1)``: forward to layer 1, then layer-1 STDP
  s2        ``train_unsupervise(net, data, 2)``: forward to layer 2, then layer-2 STDP
  decision  ``train_rl(net, data, targets)``: forward through all three layers, then R-STDP
            (reward or punish)
  test      ``test(net, data, targets)``: inference (eval-mode forward)

Each stage first runs on ``--warmup`` images, then ``time.perf_counter`` is read around one call
of MozafariDeep's own loop function over N images (its per-image calls, unchanged). The stages
run in that order on one network, so layer 2 and the decision layer train on top of the layers
before them. Torch runs on ``--threads`` threads (default 1) with denormals flushed to zero.

How MozafariDeep.py is loaded: it is a script that, on import, downloads MNIST through
torchvision and trains for hundreds of epochs, so it cannot be imported. This script parses it
and executes its top-level statements in order up to, not including, ``data_root = ...``, the
first statement of its data-and-training part. That defines, from the file itself and unchanged,
its imports, ``MozafariMNIST2018``, ``train_unsupervise``, ``train_rl``, ``test``,
``S1C1Transform`` and the transform ``s1c1`` with its DoG filter. ``use_cuda`` (True in the file)
is then set to False in that module, whose functions read it as a global. Nothing is copied.

In MozafariDeep a decision-layer epoch calls ``network(data, 3)`` for every image, which runs
layers 1 and 2 again: their forward cost is inside the ``decision`` time. The spike encodings
are cached in RAM (``utils.CacheDataset``) after the first pass over the data, so a
decision-layer epoch there costs ``decision`` per image (``decision_epoch_ms_per_image``); one
that encodes every image again costs ``encode + decision``
(``decision_epoch_uncached_ms_per_image``).

Runs in its own environment (``make torch-env``: torch, no brian2); it imports neither brian2
nor bioplastic::

    .venv-torch/bin/python benchmarks/spyketorch_mozafari.py --images IMAGES.npy \
        --labels LABELS.npy --spyketorch "$(cat .venv-torch/spyketorch-path)" --json OUT.json

IMAGES.npy: uint8 array (n, 28, 28), as MNIST; LABELS.npy: integer array (n,).
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

STAGES = ("s1", "s2", "decision", "test")
TRAINING_PART_MARKER = "data_root"  # MozafariDeep.py's first statement after its definitions


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="uint8 .npy of shape (n, 28, 28)")
    parser.add_argument("--labels", required=True, help=".npy of n integer labels")
    parser.add_argument("--spyketorch", required=True,
                        help="directory with the SpykeTorch package and MozafariDeep.py")
    parser.add_argument("--json", required=True, help="where to write the results")
    for stage in STAGES:
        parser.add_argument(f"--{stage}", type=int, default=200, metavar="N",
                            help=f"images timed in stage {stage} (default 200)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed images before each stage")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return parser.parse_args(argv)


def _is_assignment_to(node, name):
    return isinstance(node, ast.Assign) and any(
        isinstance(target, ast.Name) and target.id == name for target in node.targets)


def load_mozafari(spyketorch_dir):
    """MozafariDeep.py's definitions as a module, without its data loading and training."""
    path = Path(spyketorch_dir) / "MozafariDeep.py"
    tree = ast.parse(path.read_text(), str(path))
    stop = next((i for i, node in enumerate(tree.body)
                 if _is_assignment_to(node, TRAINING_PART_MARKER)), None)
    if stop is None:
        sys.exit(f"error: {path} has no top-level `{TRAINING_PART_MARKER} = ...`, where its "
                 "training part is expected to start; is this the pinned SpykeTorch commit?")
    tree.body = tree.body[:stop]
    sys.path.insert(0, str(Path(spyketorch_dir).resolve()))  # for `from SpykeTorch import ...`
    module = types.ModuleType("MozafariDeep")
    module.__file__ = str(path)
    exec(compile(tree, str(path), "exec"), module.__dict__)
    module.use_cuda = False
    return module


def encode_all(s1c1, pil_images):
    """MozafariDeep's per-image transform, as its dataset applies it."""
    return [s1c1(image) for image in pil_images]


def timed(function, *args):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def run_stages(moz, images, labels, counts, warmup):
    """Total seconds per stage; the images are a DataLoader-like batch of encodings."""
    pil_images = [Image.fromarray(image) for image in images]
    encode_all(moz.s1c1, pil_images[:warmup])
    seconds = {}
    seconds["encode"], encoded = timed(encode_all, moz.s1c1, pil_images)
    data = torch.stack(encoded)  # as DataLoader's batching does: (n, 15, 6, 28, 28) uint8
    targets = torch.as_tensor(labels, dtype=torch.int64)
    net = moz.MozafariMNIST2018()
    calls = {
        "s1": lambda n: moz.train_unsupervise(net, data[:n], 1),
        "s2": lambda n: moz.train_unsupervise(net, data[:n], 2),
        "decision": lambda n: moz.train_rl(net, data[:n], targets[:n]),
        "test": lambda n: moz.test(net, data[:n], targets[:n]),
    }
    for stage in STAGES:
        calls[stage](warmup)
        seconds[stage], _ = timed(calls[stage], counts[stage])
    return seconds


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit(directory):
    result = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def report(args, counts, seconds):
    ms = {stage: 1000 * seconds[stage] / counts[stage] for stage in seconds}
    return {
        "framework": "SpykeTorch",
        "network": "MozafariDeep.py (MozafariMNIST2018)",
        "spyketorch_commit": git_commit(args.spyketorch),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "flush_denormal": True,
        "cpu_model": cpu_model(),
        "warmup_images": args.warmup,
        "n_images": counts,
        "total_s": seconds,
        "ms_per_image": ms,
        "decision_epoch_ms_per_image": ms["decision"],
        "decision_epoch_uncached_ms_per_image": ms["encode"] + ms["decision"],
        "notes": ("decision includes the layer-1 and layer-2 forward passes, which MozafariDeep "
                  "recomputes for every image; encodings are cached after the first pass, so "
                  "the uncached figure adds encode for a pipeline that re-encodes each epoch"),
    }


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    stage_counts = {stage: getattr(args, stage) for stage in STAGES}
    # Every later stage (and its warm-up) needs these encodings.
    counts = {"encode": max(*stage_counts.values(), args.warmup), **stage_counts}
    images, labels = np.load(args.images), np.load(args.labels)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        sys.exit("error: --images must be uint8 (n, 28, 28) and --labels hold n labels")
    n = counts["encode"]
    if len(images) < n:
        sys.exit(f"error: {len(images)} images given, the stages need {n}")
    moz = load_mozafari(args.spyketorch)
    seconds = run_stages(moz, images[:n], labels[:n], counts, args.warmup)
    result = report(args, counts, seconds)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    for stage, value in result["ms_per_image"].items():
        print(f"{stage:>8}: {value:8.3f} ms/image over {counts[stage]} images")


if __name__ == "__main__":
    main()
