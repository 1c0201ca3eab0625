"""Brian2 behaviour bioplastic relies on beyond its public API (``bioplastic/brian_compat.py``):
each test fails loudly if a Brian2 release stops honouring it."""
import numpy as np
import pytest
import brian2
from brian2 import ms

from bioplastic.brian_compat import run_summed_variables_every
from bioplastic.devices import DeviceConfig, activated


def _summed_every_10ms(device_name, tmp_path):
    """A summed variable refreshed every 10 ms while the summed weights grow every 1 ms."""
    with activated(DeviceConfig(name=device_name, target="numpy",
                                build_dir=str(tmp_path / "build") if device_name != "runtime" else None)):
        pre = brian2.NeuronGroup(3, "", name="compat_pre", dt=1 * ms)
        post = brian2.NeuronGroup(1, "total : 1", name="compat_post", dt=1 * ms)
        syn = brian2.Synapses(pre, post, "w : 1\ntotal_post = w : 1 (summed)", name="compat_syn", dt=1 * ms)
        syn.connect()
        syn.w = 0.0
        run_summed_variables_every(syn, 10 * ms, "compat")
        syn.run_regularly("w += 1", dt=1 * ms, when="end", name="compat_grow")
        monitor = brian2.StateMonitor(post, "total", record=0, when="end", order=10, name="compat_monitor")
        net = brian2.Network(pre, post, syn, monitor)
        net.run(30 * ms, namespace={})
        if device_name != "runtime":
            brian2.device.build(directory=str(tmp_path / "build"), compile=True, run=True, with_output=False)
        return np.array(monitor.total[0])


def _expected():
    # At step k (t = k ms) the sum is refreshed only when k is a multiple of 10, at the start of
    # the step, from the weights grown in the k steps before: 3 synapses * k.
    return np.array([3.0 * (k - k % 10) for k in range(30)])


def test_summed_variables_update_only_on_their_own_clock_runtime(tmp_path):
    np.testing.assert_array_equal(_summed_every_10ms("runtime", tmp_path), _expected())


@pytest.mark.standalone
def test_summed_variables_update_only_on_their_own_clock_cpp_standalone(tmp_path):
    np.testing.assert_array_equal(_summed_every_10ms("cpp_standalone", tmp_path), _expected())


@pytest.mark.parametrize("target", ["numpy", "cython"])
def test_a_timed_array_written_in_place_is_what_the_next_runtime_run_reads(target):
    from bioplastic.brian_compat import write_timed_array
    with activated(DeviceConfig(name="runtime", target=target)):
        table = brian2.TimedArray(np.array([1.0, 2.0, 3.0, 4.0]), dt=1 * ms, name="compat_table")
        group = brian2.NeuronGroup(1, "x : 1", name="compat_reader", dt=1 * ms)
        group.run_regularly("x = compat_table(t)", dt=1 * ms, name="compat_read")
        net = brian2.Network(group)
        net.run(2 * ms, namespace={"compat_table": table})
        assert group.x[0] == 2.0
        write_timed_array(table, np.array([10.0, 20.0, 30.0, 40.0]))
        net.run(2 * ms, namespace={"compat_table": table})
        assert group.x[0] == 40.0


def test_set_from_expression_reads_the_groups_namespace_not_the_callers_locals():
    from bioplastic.brian_compat import set_from_expression
    E_rest = 0 * brian2.mV   # noqa: F841 (the local that Brian2's public setter would find first)
    group = brian2.NeuronGroup(2, "v : volt", namespace={"E_rest": -65 * brian2.mV}, name="compat_ns")
    set_from_expression(group, "v", "E_rest")
    np.testing.assert_allclose(group.v[:] / brian2.mV, [-65.0, -65.0])


def test_check_units_raises_on_an_unbalanced_equation_before_any_run():
    from bioplastic.brian_compat import check_units
    group = brian2.NeuronGroup(1, "dv/dt = -v : volt", name="compat_units")   # -v is volt, not volt/second
    with pytest.raises(brian2.DimensionMismatchError):
        check_units(group)


def test_the_unresolved_name_is_read_from_brians_error():
    from bioplastic.brian_compat import innermost_error, unresolved_identifier
    with activated(DeviceConfig(name="runtime", target="numpy")):
        group = brian2.NeuronGroup(1, "v : 1", threshold="v > 1", reset="v = w_ad", name="compat_unknown")
        with pytest.raises(Exception) as caught:
            brian2.Network(group).run(1 * ms, namespace={})
    assert unresolved_identifier(str(innermost_error(caught.value))) == "w_ad"


def test_a_cython_block_brian_dropped_is_reported_and_a_compiled_one_is_not():
    """Brian2's Cython code objects keep each compiled block in ``compiled_code`` (None when the
    Cython compiler failed and the block was skipped); the check reads exactly that."""
    from bioplastic.brian_compat import check_cython_compiled
    from bioplastic.devices import cython_available
    from bioplastic.errors import ModelError
    if not cython_available():
        pytest.skip("Cython or a C compiler is not installed")
    with activated(DeviceConfig(name="runtime", target="cython")):
        group = brian2.NeuronGroup(2, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0",
                                   name="compat_cython")
        group.v = 2
        net = brian2.Network(group)
        net.run(1 * ms, namespace={})
        check_cython_compiled(net)                          # everything compiled: silent
        updater = group.state_updater.codeobj
        assert updater.compiled_code["run"] is not None
        updater.compiled_code["run"] = None                 # what Brian2 leaves when Cython fails
        with pytest.raises(ModelError, match="failed to compile compat_cython_stateupdater"):
            check_cython_compiled(net)


def test_groups_with_their_own_clock_of_the_default_dt_move_onto_the_default_clock():
    """GeNN and brian2cuda run every group on ``defaultclock``: the group's clock, its ``t`` and
    ``dt`` variables must be the default clock's afterwards, and the group must still run."""
    from bioplastic.brian_compat import share_default_clock
    from bioplastic.errors import ConfigError
    previous = brian2.defaultclock.dt
    try:
        with activated(DeviceConfig(name="runtime", target="numpy")):
            group = brian2.NeuronGroup(1, "dv/dt = 1 / (10*ms) : 1\nseen_t : second", dt=0.25 * ms,
                                       name="compat_clocked")
            group.run_regularly("seen_t = t", dt=1 * ms, name="compat_slow")
            net = brian2.Network(group)
            share_default_clock(net, "genn")
            assert group.clock is brian2.defaultclock and float(brian2.defaultclock.dt) == 0.25e-3
            assert group.variables["t"] is brian2.defaultclock.variables["t"]
            assert group.variables["dt"] is brian2.defaultclock.variables["dt"]
            slow = [obj for obj in group.contained_objects if obj.name == "compat_slow"][0]
            assert slow.clock is not brian2.defaultclock        # a slower clock is kept
            net.run(5 * ms, namespace={})
            assert float(group.v[0]) == pytest.approx(0.5)
            assert float(group.seen_t[0]) == pytest.approx(4e-3)
            first = brian2.NeuronGroup(1, "", dt=0.25 * ms, name="compat_first")
            other = brian2.NeuronGroup(1, "", dt=0.1 * ms, name="compat_other")
            with pytest.raises(ConfigError, match="one time step"):
                share_default_clock(brian2.Network(first, other), "genn")
    finally:
        brian2.defaultclock.dt = previous
