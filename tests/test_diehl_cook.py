"""Diehl & Cook (2015) pieces: the repeat rule of the protocol and the unsupervised study."""
import numpy as np
import pytest
from brian2 import ms

from bioplastic.config import COMMON_DEFAULTS, deep_merge, load_config
from bioplastic.devices import DeviceConfig
from bioplastic.errors import ConfigError
from bioplastic.protocol import RepeatRule
from bioplastic.studies.common import spec_from_config, train_with_snapshots

UNSUPERVISED = {"network": {
    "layers": {"exc": {"size": 6}},
    "projections": {"input_to_exc": {"source": "input", "target": "exc", "plasticity": {"rule": "diehl_cook"},
                                     "weight_normalization": 20.0}},
    "readout": {"kind": "label_assignment"}}}


def test_an_image_evoking_too_few_spikes_is_shown_again_until_max_repeats():
    """With an unreachable spike count every image is shown 1 + max_repeats times, then the next."""
    spec = spec_from_config(deep_merge(COMMON_DEFAULTS, UNSUPERVISED), 0)
    rng = np.random.default_rng(0)
    pool = (rng.random((4, 784)) < 0.1) * 255
    orders = np.array([[0, 1, 2, 3]])
    trained = train_with_snapshots(spec, DeviceConfig(name="runtime", target="numpy"), pool, orders,
                                   np.zeros_like(orders), 3, 20 * ms, 10 * ms, spec.seeded_initial_weights([0]),
                                   repeat=RepeatRule(min_spikes=10 ** 6, max_repeats=2, extra_fraction=2.0))
    # 12 presentations (4 images x (1 + 2 extra)), snapshots every 3: one more image per snapshot.
    assert trained.n_images.tolist() == [0, 3, 6, 9, 12]
    assert trained.images_completed[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_an_image_that_evokes_enough_spikes_is_not_repeated():
    spec = spec_from_config(deep_merge(COMMON_DEFAULTS, UNSUPERVISED), 0)
    pool = np.full((4, 784), 255)                        # every pixel at 63.75 Hz: many spikes
    orders = np.array([[0, 1, 2, 3]])
    trained = train_with_snapshots(spec, DeviceConfig(name="runtime", target="numpy"), pool, orders,
                                   np.zeros_like(orders), 2, 50 * ms, 10 * ms, spec.seeded_initial_weights([0]),
                                   repeat=RepeatRule(min_spikes=1, max_repeats=5, extra_fraction=0.0))
    # Snapshots every 2 presentations: 2 more images each time (no image was shown twice).
    assert trained.n_images.tolist() == [0, 2, 4]
    assert trained.images_completed[:, 0].tolist() == [0, 2, 4]


def test_repeat_rule_rejects_nonsense():
    with pytest.raises(ConfigError, match="min_spikes"):
        RepeatRule(min_spikes=0).validate()


def test_unsupervised_study_refuses_a_supervised_rule_or_a_segment_readout(real_data):
    from bioplastic.studies.unsupervised import prepare
    base = load_config("experiments/diehl_cook_2015.yaml", ["data.n_train=100", "data.n_test=100"])
    with pytest.raises(ConfigError, match="label_assignment"):
        prepare(deep_merge(base, {"network": {"readout": {"kind": "segments"}}}))
    bad = deep_merge(base, {"network": {"layers": {"exc": {"size": None, "n_per_class": 4}},
                                        "projections": {"input_to_exc": {"plasticity": {"rule": "supervised"}}},
                                        "readout": {"kind": "label_assignment"}}})
    with pytest.raises(ConfigError, match="supervised"):
        prepare(bad)


@pytest.mark.slow   # minutes on 2 cores: `make test-slow` (CI runs it)
@pytest.mark.standalone
def test_diehl_cook_quick_learns_digits_without_labels(real_data, tmp_path):
    """100 neurons, 600 training images: label assignment reads far above chance (10 %)."""
    from bioplastic.studies import unsupervised
    config = load_config("experiments/diehl_cook_2015.yaml",
                         ["data.n_train=600", "data.n_test=300", "unsupervised.n_label=600",
                          "network.layers.exc.size=100"])
    metrics = unsupervised.run(config, tmp_path)
    v = metrics["variants"]["default"]
    assert v["final_accuracy_mean"] > 40
    assert (tmp_path / "weights_default.png").exists()
    assert v["images_completed_per_seed"][0] <= 600
