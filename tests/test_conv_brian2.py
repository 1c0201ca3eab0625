"""Shared kernels in Brian2: synapses whose weight is a kernel entry linked through an index.

Brian2 (>= 2.9) links a synaptic variable to a variable of another group through an index
variable: ``S.w = linked_var(K.w, index='kidx')`` with ``kidx : integer`` per synapse. With
the connectivity of :func:`bioplastic.network.topology.conv2d`, one time step of input
spikes must then deliver exactly the numpy convolution of the input, and a change written
to the kernel group must reach every synapse that shares the entry.
"""
import brian2 as b2
import numpy as np
import pytest
from brian2 import mV
from scipy.signal import correlate

from bioplastic.devices import DeviceConfig, activated, run_network
from bioplastic.network import topology

IN_SHAPE, N_MAPS, KERNEL, PADDING = (2, 7, 6), 3, 3, 1


def numpy_conv(x, kernels):
    xp = np.pad(x, ((0, 0), (PADDING, PADDING), (PADDING, PADDING)))
    return np.stack([sum(correlate(xp[c], k[c], mode="valid") for c in range(x.shape[0])) for k in kernels])


def run_conv(config: DeviceConfig, x, kernels, dw):
    """Input spikes at steps 0 and 1; between them the kernel group adds ``dw`` to its weights."""
    conn = topology.conv2d(IN_SHAPE, N_MAPS, KERNEL, padding=PADDING)
    with activated(config, label="conv") as build_dir:
        dt = b2.defaultclock.dt
        kernels_group = b2.NeuronGroup(kernels.size, "w : volt\ndw : volt", name="kernels")
        kernels_group.w = kernels.ravel() * mV
        kernels_group.dw = dw.ravel() * mV
        # A plasticity step, written once to the kernel group, at the start of step 1.
        kernels_group.run_regularly("w += dw * int(t > 0.5*dt and t < 1.5*dt)", when="start")
        active = np.flatnonzero(x.ravel())
        source = b2.SpikeGeneratorGroup(conn.n_pre, np.tile(active, 2),
                                        np.repeat([0, 1], len(active)) * dt)
        target = b2.NeuronGroup(conn.n_post, "v : volt")
        target.run_regularly("v = 0*mV", when="start")        # each step measured on its own
        synapses = b2.Synapses(source, target, "w : volt (linked)\nkidx : integer (constant)",
                               on_pre="v_post += w")
        synapses.connect(i=conn.pre, j=conn.post)
        synapses.w = b2.linked_var(kernels_group.w, index="kidx")
        synapses.kidx = conn.weight_index
        monitor = b2.StateMonitor(target, "v", record=True, when="end")
        net = b2.Network(kernels_group, source, target, synapses, monitor)
        run_network(net, 2 * dt, config, build_dir=build_dir)
        v = np.asarray(monitor.v / mV)
    return v[:, 0].reshape(conn.out_shape), v[:, 1].reshape(conn.out_shape)


def check(config):
    rng = np.random.default_rng(4)
    x = (rng.random(IN_SHAPE) < 0.4).astype(float)
    kernels = rng.random((N_MAPS, IN_SHAPE[0], KERNEL, KERNEL))
    dw = np.zeros_like(kernels)
    dw[1, 0, 1, 1] = 5.0                          # one shared entry changes
    dw[2] = 0.25 * rng.random(dw[2].shape)        # and a whole kernel
    first, second = run_conv(config, x, kernels, dw)
    np.testing.assert_allclose(first, numpy_conv(x, kernels), rtol=1e-9)
    np.testing.assert_allclose(second, numpy_conv(x, kernels + dw), rtol=1e-9)
    # The change reached every position of the maps that use those entries, and no other map.
    assert (second[0] == first[0]).all() and (second[1] != first[1]).any()


def test_linked_kernel_weights_propagate_the_convolution_in_runtime():
    check(DeviceConfig("runtime", target="numpy"))


@pytest.mark.standalone
def test_linked_kernel_weights_propagate_the_convolution_in_cpp_standalone(tmp_path):
    check(DeviceConfig("cpp_standalone", build_dir=str(tmp_path / "conv")))
