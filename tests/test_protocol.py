"""Schedules switch inputs, labels and plasticity at the right times, in one run."""
import numpy as np
import pytest
from brian2 import ms, NeuronGroup, StateMonitor, Network

from bioplastic.errors import ConfigError
from bioplastic.protocol import ProtocolBuilder

POOL = np.arange(4 * 9, dtype=np.uint8).reshape(4, 9) * 7 + 1


def test_slots_are_the_gcd_of_image_and_rest_durations():
    b = ProtocolBuilder(POOL, 350 * ms, 150 * ms)
    assert float(b.slot / ms) == pytest.approx(50)
    assert (b.image_slots, b.rest_slots) == (7, 3)


def test_schedule_lists_images_labels_and_learning_per_slot():
    b = ProtocolBuilder(POOL, 20 * ms, 10 * ms, n_copies=2)
    b.present([[1, 2], [3, 0]], [[5, 6], [7, 4]], learning=True)
    b.snapshot()
    b.present([2], [1], learning=False)
    p = b.build()
    # two training images (2 slots image + 1 rest), then one test image, then a trailing blank
    np.testing.assert_array_equal(p.image[:, 0], [2, 2, 0, 3, 3, 0, 3, 3, 0, 0])
    np.testing.assert_array_equal(p.image[:, 1], [4, 4, 0, 1, 1, 0, 3, 3, 0, 0])
    np.testing.assert_array_equal(p.label[:, 1], [7, 7, -1, 4, 4, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(p.learning, [1, 1, 0, 1, 1, 0, 0, 0, 0, 0])
    assert p.snapshot_slots == [6]
    assert float(p.duration / ms) == pytest.approx(100)


def test_timed_arrays_switch_the_stimulus_at_the_scheduled_times():
    """A neuron reading the schedule sees pool[k] exactly while image k is scheduled."""
    b = ProtocolBuilder(POOL, 20 * ms, 10 * ms)
    b.present([[2, 0]], [[1, 1]], learning=True)
    p = b.build()
    g = NeuronGroup(9, "x = stimulus(image_schedule(t, 0)*ms, i) : 1\nl = learning_schedule(t) : 1",
                    namespace=p.timed_arrays(), dt=0.5 * ms)
    mon = StateMonitor(g, ["x", "l"], record=True, dt=0.5 * ms)
    Network(g, mon).run(p.duration)
    t = np.asarray(mon.t / ms)
    for t0, t1, expected in [(0, 20, POOL[2] / 255), (20, 30, 0 * POOL[0]), (30, 50, POOL[0] / 255), (50, 60, 0)]:
        window = (t >= t0) & (t < t1)
        np.testing.assert_allclose(mon.x[:, window].T, np.broadcast_to(expected, (window.sum(), 9)))
    np.testing.assert_array_equal(mon.l[0], ((t < 20) | ((t >= 30) & (t < 50))).astype(float))


def test_bad_protocol_inputs_are_rejected():
    with pytest.raises(ConfigError, match="image_duration must be positive"):
        ProtocolBuilder(POOL, 0 * ms, 10 * ms)
    with pytest.raises(ConfigError, match="outside the image pool"):
        ProtocolBuilder(POOL, 10 * ms, 10 * ms).present([[9]], [[0]], learning=True)
    with pytest.raises(ConfigError, match="nothing is presented"):
        ProtocolBuilder(POOL, 10 * ms, 10 * ms).build()
