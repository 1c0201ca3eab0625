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
