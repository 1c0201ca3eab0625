"""Devices: clear errors for missing backends and unsupported features; GeNN's CPU backend
agrees with C++ standalone; CUDA code compiles (and, where a GPU exists, learns like the runtime).

The ``genn`` tests run in the GeNN environment (``make test-genn``), the ``cuda`` tests where
nvcc is (``make test-cuda``); both are deselected from ``make test``.
"""
import importlib.util
import os
import shutil

import numpy as np
import pytest
from brian2 import Function, Network, NeuronGroup, ms
from netspec import with_bounds
from test_network import N_CLASSES, SIDE, W, assert_devices_learn_alike, initial_weights, make_spec, train

from bioplastic.devices import DeviceConfig, activated, cython_available, run_network
from bioplastic.devices.support import check_supported, features_used
from bioplastic.errors import ConfigError, ModelError
from bioplastic.network.build import build_training_network
from bioplastic.protocol import ProtocolBuilder

needs_genn = pytest.mark.skipif(importlib.util.find_spec("brian2genn") is None,
                                reason="needs brian2genn: run in the GeNN environment (`make test-genn`)")
needs_nvcc = pytest.mark.skipif(importlib.util.find_spec("brian2cuda") is None or shutil.which("nvcc") is None,
                                reason="needs brian2cuda and nvcc (`make test-cuda`)")
needs_gpu = pytest.mark.skipif(shutil.which("nvidia-smi") is None or importlib.util.find_spec("brian2cuda") is None,
                               reason="needs an NVIDIA GPU (nvidia-smi) and brian2cuda")


def test_unknown_device_is_named():
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        DeviceConfig("gpu").validate()


@pytest.mark.parametrize("name, package, how", [("genn", "brian2genn", "make genn"),
                                                 ("cuda_standalone", "brian2cuda", "pip install")])
def test_gpu_device_without_its_package_says_what_to_install(name, package, how):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    with pytest.raises(ConfigError, match=rf"needs the package '{package}'.*{how}"):
        DeviceConfig(name).validate()


def test_runtime_target_is_checked():
    with pytest.raises(ConfigError, match="target must be 'cython' or 'numpy'"):
        DeviceConfig("runtime", target="fortran").validate()


def _training_network(spec, n_images=6, n_copies=2, pool=None, labels=None, **options):
    """The training network of ``train`` (test_network), built but not run."""
    if pool is None:
        pool, labels = deterministic_bars(12)
    orders = np.stack([np.random.default_rng([0, c]).permutation(len(pool))[:n_images] for c in range(n_copies)])
    builder = ProtocolBuilder(pool, 100 * ms, 50 * ms, n_copies=n_copies)
    builder.snapshot()
    builder.present(orders, labels[orders], learning=True)
    builder.snapshot()
    return build_training_network(spec, builder.build(), initial_weights(spec, n_copies), **options)


def test_the_features_a_network_uses_are_found():
    used = features_used(_training_network(
        make_spec(**{"projections.input_to_exc.weight_normalization": 20.0})).network)
    assert {"timed_array", "run_regularly", "summed_normalization"} <= used
    assert "run_regularly_slot" not in used
    bounded = with_bounds(make_spec())
    langevin = features_used(_training_network(bounded, langevin_sigma=0.01).network)
    assert "run_regularly_slot" in langevin and "summed_normalization" not in langevin


@pytest.mark.parametrize("feature, words", [("linked_variables", "linked variables"),
                                            ("multiple_runs", "single run"),
                                            ("run_args", "run_args")])
def test_genn_refuses_what_it_cannot_run_by_name(feature, words):
    with pytest.raises(ConfigError, match=rf"'genn' does not support .*{words}"):
        check_supported("genn", {"timed_array", feature})
    check_supported("cpp_standalone", {feature})       # no error


@pytest.mark.skipif(not cython_available(), reason="needs Cython and a C compiler")
def test_code_cython_cannot_compile_is_an_error_not_a_silent_no_op():
    """Brian2 runs the network without a block that Cython failed to compile; run_network says so."""
    broken = Function(lambda v: v, arg_units=[1], return_unit=1)
    broken.implementations.add_implementation("cython", code="cdef double broken(double v):\n    return v +\n")
    config = DeviceConfig("runtime", target="cython")
    with activated(config):
        group = NeuronGroup(1, "v : 1", namespace={"broken": broken})
        group.run_regularly("v = broken(v) + 1", name="broken_update")
        with pytest.raises(ModelError, match="failed to compile broken_update"):
            run_network(Network(group), 1 * ms, config)


def deterministic_bars(n):
    """Bars of 3 pixels at full intensity: with max_rate = 1/dt each fires in every time step,
    so the input does not depend on any random number generator."""
    labels = np.arange(n) % N_CLASSES
    images = np.zeros((n, SIDE, SIDE), np.uint8)
    for k, c in enumerate(labels):
        images[k, 4 * c + 1, (k % 4)::4] = 255
    return images.reshape(n, -1), labels


def _run_deterministic(device_name, trace_location, tmp_path):
    spec = make_spec(trace_location, **{"input.max_rate": "2000 Hz"})   # 1/dt: p_spike is 0 or 1
    config = DeviceConfig(device_name, build_dir=str(tmp_path / device_name))
    with activated(config) as build_dir:
        trained = _training_network(spec, n_images=12, record_spikes=True)
        run_network(trained.network, trained.protocol.duration, config, build_dir=build_dir)
        spikes = sorted(zip(np.asarray(trained.spike_monitor.t / ms).round(3), trained.spike_monitor.i))
        return spikes, trained.weight_snapshots(W)


@pytest.mark.genn
@needs_genn
@pytest.mark.parametrize("trace_location", ["neuron", "synapse"])
def test_genn_cpu_backend_spikes_exactly_as_cpp_standalone_on_deterministic_input(trace_location, tmp_path):
    """Same spikes, step for step. Weights are equal except on synapses whose input spiked in the
    last step of an image: brian2genn processes a spike one step later (its schedule runs synapses
    first), when the learning switch already reads the rest that follows."""
    cpp_spikes, cpp_w = _run_deterministic("cpp_standalone", trace_location, tmp_path)
    genn_spikes, genn_w = _run_deterministic("genn", trace_location, tmp_path)
    assert len(cpp_spikes) > 100
    assert genn_spikes == cpp_spikes
    differ = np.abs(genn_w - cpp_w) > 1e-6
    active_inputs = 3 / SIDE ** 2                   # the only synapses that see boundary spikes
    assert differ.mean() <= active_inputs * 2.5
    np.testing.assert_allclose(genn_w, cpp_w, atol=0.02)


@pytest.mark.genn
@needs_genn
def test_genn_cpu_backend_learns_like_cpp_standalone_with_poisson_input(tmp_path):
    assert_devices_learn_alike(("cpp_standalone", "genn"), tmp_path)


@pytest.mark.genn
@needs_genn
def test_genn_same_seed_same_run_other_seed_other_run(tmp_path):
    """brian2genn refuses brian2.seed(); the device layer writes the seed into GeNN's main()."""
    spec = make_spec()
    runs = []
    for k, seed in enumerate((4, 4, 5)):
        device = DeviceConfig("genn", build_dir=str(tmp_path / str(k)))
        runs.append(train(spec, device, n_images=6, brian_seed=seed).weights[W][-1])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert np.abs(runs[0] - runs[2]).max() > 1e-3


@pytest.mark.cuda
@needs_nvcc
def test_cuda_standalone_compiles_the_supervised_network(tmp_path):
    """No GPU needed: brian2cuda generates and nvcc compiles the network (it is not run)."""
    build_dir = tmp_path / "cuda"
    config = DeviceConfig("cuda_standalone", build_dir=str(build_dir), compile_only=True)
    spec = make_spec()                  # models are validated on the runtime device, before activation
    with activated(config) as folder:
        trained = _training_network(spec)
        run_network(trained.network, trained.protocol.duration, config, build_dir=folder)
    binary = build_dir / "main"
    assert binary.is_file() and os.access(binary, os.X_OK)


@pytest.mark.gpu
@needs_gpu
def test_cuda_standalone_learns_like_the_runtime(tmp_path):
    assert_devices_learn_alike(("runtime", "cuda_standalone"), tmp_path)


def test_standalone_flushes_subnormals_to_zero(tmp_path):
    """A variable that decays below 2.2e-308 is exactly 0 in the cpp_standalone binary.

    Without flushing, x86 CPUs compute on subnormal numbers ~100x slower: a trace that decays
    for seconds without a spike slowed the supervised study with a simulated rest six-fold.
    e^-720 = 2.4e-313 would be subnormal; flushed, it is 0 (and e^-600, still normal, is not).
    """
    import brian2
    config = DeviceConfig("cpp_standalone", build_dir=str(tmp_path / "build"))
    with activated(config) as build_dir:
        group = brian2.NeuronGroup(2, "dx/dt = -x/tau : 1\ntau : second", method="exact",
                                   dt=0.1 * ms, name="decay")
        group.x = 1.0
        group.tau = [720 / 600, 1.0] * ms
        network = brian2.Network(group)
        run_network(network, 720 * ms, config, build_dir=build_dir)
        x = np.asarray(group.x[:])
    assert x[0] == pytest.approx(np.exp(-600), rel=1e-6)
    assert x[1] == 0.0, f"e^-720 came out as {x[1]!r}: the binary computes with subnormal numbers"
    assert brian2.prefs.codegen.cpp.extra_link_args == [], "activated() must restore the link flags"


def _lif_trace(tmp_path, vectorized: bool):
    """100 ms of 64 conductance-based LIF neurons (the Diehl & Cook model, exponential Euler),
    each with its own constant excitation: the membrane traces, and the binary's vector exp calls."""
    import subprocess

    import brian2

    from bioplastic.models import NEURON_MODELS
    model = NEURON_MODELS["adaptive_lif"].with_overrides(method="exponential_euler")
    config = DeviceConfig("cpp_standalone", build_dir=str(tmp_path / f"build_{vectorized}"),
                          vectorized_math=vectorized)
    with activated(config) as build_dir:
        group = model.make_group(64, namespace={"learning": 1.0}, name="vec_lif", dt=0.5 * ms)
        group.run_regularly("ge = 0.02 * (1 + i % 8)", dt=0.5 * ms, when="before_groups", name="vec_drive")
        monitor = brian2.StateMonitor(group, "v", record=True, name="vec_v")
        run_network(brian2.Network(group, monitor), 100 * ms, config, build_dir=build_dir)
        trace = np.asarray(monitor.v[:])
        symbols = subprocess.run(["nm", "-u", f"{build_dir}/main"], capture_output=True, text=True).stdout
    return trace, "_ZGV" in symbols


@pytest.mark.standalone
def test_vectorized_math_vectorises_the_state_update_and_stays_within_rounding_of_the_scalar_build(tmp_path):
    """device.vectorized_math: the state updater calls glibc's SIMD exp (libmvec) instead of
    the scalar one, and the membrane traces agree with the default build to ~1e-12."""
    import shutil

    from bioplastic.devices import vectorized_math_available
    if not vectorized_math_available() or shutil.which("nm") is None:
        pytest.skip("needs x86-64 Linux with glibc (libmvec) and binutils' nm")
    import brian2
    flags = list(brian2.prefs.codegen.cpp.extra_compile_args_gcc)
    scalar, scalar_simd = _lif_trace(tmp_path, vectorized=False)
    vector, vector_simd = _lif_trace(tmp_path, vectorized=True)
    assert brian2.prefs.codegen.cpp.extra_compile_args_gcc == flags, "activated() must restore the compile flags"
    assert not scalar_simd, "the default build already calls SIMD math functions"
    assert vector_simd, "vectorized_math did not vectorise the state update (no _ZGV* exp in the binary)"
    assert np.ptp(scalar[:, -1]) > 1e-3                     # the neurons are driven differently
    np.testing.assert_allclose(vector, scalar, rtol=1e-12, atol=0)


def test_scratch_folders_of_dead_processes_on_this_host_are_removed_and_no_others(tmp_path):
    from bioplastic.devices import _host, scratch_dir
    dead = 2**22 + 12345                         # above the default pid_max: no such process
    host = _host()
    mine_dead = tmp_path / f"bioplastic_train_{host}_pid{dead}_abc"
    mine_alive = tmp_path / f"bioplastic_train_{host}_pid{os.getpid()}_def"
    other_host = tmp_path / f"bioplastic_train_otherhost{host}_pid{dead}_ghi"
    not_ours = tmp_path / f"something_{host}_pid{dead}_jkl"
    for folder in (mine_dead, mine_alive, other_host, not_ours):
        folder.mkdir()
    new = scratch_dir("bioplastic_eval_", tmp_path)
    assert not mine_dead.exists()
    assert mine_alive.exists() and other_host.exists() and not_ours.exists()
    assert os.path.basename(new).startswith(f"bioplastic_eval_{host}_pid{os.getpid()}_")
