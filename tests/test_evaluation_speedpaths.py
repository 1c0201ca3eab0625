"""Batched evaluation: the driven network and the C++ standalone path give the counts of the reference."""
import dataclasses

import numpy as np
import pytest
from brian2 import ms

from bioplastic.devices import DeviceConfig
from bioplastic.evaluation import TestSpikes, evaluate_batched, input_drive
from bioplastic.network.build import build_evaluation_network
from bioplastic.readout import segment_readout as readout
from test_network import N_CLASSES, SIDE, THETA, W, bars, make_spec


def trained_like(spec, seed=0, boost=0.6):
    """Band c of the bars drives segment c (as after supervised training), plus noise; theta random."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0, 0.2, (SIDE * SIDE, spec.readout.size))
    for c in range(N_CLASSES):
        weights.reshape(SIDE, SIDE, -1)[4 * c:4 * c + 3, :, spec.segments() == c] += boost
    return weights, rng.uniform(0, 2e-3, spec.readout.size)


def synaptic_counts(spec, spikes, weights, theta):
    """The reference: input synapses and lateral inhibition as explicit synapses, all images at once."""
    copy, pixel, step = spikes.batch(0, spikes.n_images)
    net = build_evaluation_network(spec, spikes.n_images, copy * spec.n_inputs + pixel, step, {W: weights},
                                   {THETA: theta}, name="ref")
    net.network.run(spikes.duration, namespace={})
    return net.counts()


def test_input_drive_is_the_summed_weight_of_each_steps_input_spikes():
    spec = make_spec()
    rng = np.random.default_rng(1)
    weights = rng.random((spec.n_inputs, spec.readout.size))
    copy, pixel, step = np.array([0, 0, 1, 1, 2]), np.array([3, 7, 3, 5, 0]), np.array([0, 0, 4, 4, 9])
    drive = input_drive(spec, copy, pixel, step, weights, n_copies=3, n_steps=10).reshape(10, 3, spec.readout.size)
    expected = np.zeros((10, 3, spec.readout.size))
    for c, p, s in zip(copy, pixel, step):
        expected[s, c] += weights[p]
    np.testing.assert_allclose(drive, expected, rtol=1e-15)


@pytest.mark.parametrize("lateral", [{}, {"lateral": "radius", "layers.exc.inhibition.radius": 1.5,
                                          "layers.exc.sheet_width": 3},
                                     {"lateral": "none"}])
def test_driven_network_counts_as_the_synaptic_network(lateral):
    """No input synapses, pooled all-but-self inhibition: same spikes, up to float rounding."""
    spec = make_spec(**lateral)
    weights, theta = trained_like(spec)
    spikes = TestSpikes(bars(7, seed=2)[0], spec, 100 * ms, seed=4)
    reference = synaptic_counts(spec, spikes, weights, theta)
    # 7 images in batches of at most 3: three batches of 3 copies, the last one with a silent spare copy
    counts = evaluate_batched(spec, spikes, {W: weights[None]}, {THETA: theta[None]}, batch_size=3)[0]
    assert reference.sum() > 30
    np.testing.assert_array_equal(readout(counts, spec.segments(), N_CLASSES),
                                  readout(reference, spec.segments(), N_CLASSES))
    assert np.abs(counts - reference).sum() <= max(2, 0.02 * reference.sum())


def test_every_weight_set_is_evaluated_on_every_batch():
    spec = make_spec()
    (w1, t1), (w2, t2) = trained_like(spec, 0), trained_like(spec, 1, boost=0.3)
    spikes = TestSpikes(bars(5, seed=3)[0], spec, 100 * ms, seed=6)
    both = evaluate_batched(spec, spikes, {W: np.stack([w1, w2])}, {THETA: np.stack([t1, t2])}, batch_size=2,
                            device=DeviceConfig("runtime", target="numpy"))
    alone = evaluate_batched(spec, spikes, {W: w2[None]}, {THETA: t2[None]}, batch_size=5)
    np.testing.assert_array_equal(both[1], alone[0])
    assert not np.array_equal(both[0], both[1])


@pytest.fixture(scope="module")
def standalone_case(tmp_path_factory):
    """Two weight sets (and thresholds) evaluated by one compiled binary, re-run per batch and set."""
    spec = make_spec()
    (w1, t1), (w2, t2) = trained_like(spec, 0), trained_like(spec, 1, boost=0.3)
    spikes = TestSpikes(bars(7, seed=1)[0], spec, 100 * ms, seed=5)
    weights, thetas = {W: np.stack([w1, w2])}, {THETA: np.stack([t1, t2])}
    timings = {}
    device = DeviceConfig("cpp_standalone", build_dir=str(tmp_path_factory.mktemp("eval_standalone")))
    counts = evaluate_batched(spec, spikes, weights, thetas, batch_size=4, device=device, timings=timings)
    return spec, spikes, weights, thetas, counts, timings


@pytest.mark.standalone
def test_standalone_batched_evaluation_counts_as_runtime(standalone_case):
    spec, spikes, weights, thetas, counts, timings = standalone_case
    runtime = evaluate_batched(spec, spikes, weights, thetas, batch_size=4)
    assert timings["n_runs"] == 4 and timings["n_copies"] == 4     # 2 batches x 2 sets, one binary
    assert counts.sum() > 50
    np.testing.assert_array_equal(counts, runtime)
    np.testing.assert_array_equal(readout(counts[0], spec.segments(), N_CLASSES), bars(7, seed=1)[1])


@pytest.mark.standalone
def test_rerun_binary_with_second_weight_set_equals_a_fresh_build(standalone_case, tmp_path):
    spec, spikes, weights, thetas, counts, _ = standalone_case
    fresh = evaluate_batched(spec, spikes, {W: weights[W][1:]}, {THETA: thetas[THETA][1:]}, batch_size=7,
                             device=DeviceConfig("cpp_standalone", build_dir=str(tmp_path / "fresh")))
    np.testing.assert_array_equal(counts[1], fresh[0])
    assert not np.array_equal(counts[0], counts[1])


def test_batched_evaluation_refuses_devices_it_cannot_rerun():
    from bioplastic.errors import ConfigError
    spec = make_spec()
    spikes = TestSpikes(bars(1)[0], spec, 10 * ms, seed=0)
    with pytest.raises(ConfigError, match="runtime or cpp_standalone"):
        evaluate_batched(spec, spikes, {W: np.zeros((1, spec.n_inputs, spec.readout.size))},
                         device=dataclasses.replace(DeviceConfig(), name="genn"))


def test_the_first_batch_on_cython_is_shown_as_compilation_not_given_an_eta(monkeypatch):
    """The runtime device's first run compiles the Cython code: its bar says so (no ETA from a
    batch that took minutes to compile), and reads as usual once that batch is done."""
    import io

    from tqdm import tqdm

    import bioplastic.evaluation as evaluation
    seen = []
    bar = tqdm(total=4, desc="test: evaluating", disable=False, file=io.StringIO())

    class Net:
        n_copies = 2
    spikes = type("Spikes", (), {"n_images": 4, "batch": lambda self, a, b: None})()

    def run(values):
        seen.append((bar.desc, bar.bar_format))
        return np.zeros((2, 1))
    monkeypatch.setattr(evaluation, "run_values", lambda *args: None)
    evaluation._run_batches(Net(), spikes, {"w": np.zeros((1, 1))}, {}, np.zeros((1, 4, 1)), run, bar,
                            compiles_first=True)
    assert seen[0] == ("test: evaluating (compiling, first batch)", "{desc}: {n_fmt}/{total_fmt} [{elapsed}]")
    assert seen[1] == ("test: evaluating", None)
    assert bar.desc == "test: evaluating" and bar.n == 4
