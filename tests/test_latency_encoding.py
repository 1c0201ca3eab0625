"""Latency coding: DoG maps, normalisation and first-spike ranks as Mozafari et al. 2019 define them."""
import numpy as np
import pytest
from scipy.signal import correlate2d

from bioplastic import encoding, plotting
from bioplastic.encoding import latency as lat
from bioplastic.errors import ConfigError
from bioplastic.network.competition import first_spike_from_wave


def test_dog_kernels_are_zero_mean_peak_one_and_on_off_centred():
    bank = encoding.dog_filter_bank()
    assert bank.shape == (6, 13, 13)                           # 3 scales x (on, off), padded to 13 x 13
    for m in range(6):
        size, sigma_a, sigma_b = encoding.MOZAFARI_DOG_SCALES[m // 2]
        centre, surround = (sigma_a, sigma_b) if m % 2 == 0 else (sigma_b, sigma_a)
        half = size // 2
        inner = bank[m][6 - half:7 + half, 6 - half:7 + half]
        np.testing.assert_allclose(inner, encoding.dog_kernel(size, centre, surround))
        assert np.abs(bank[m]).sum() == pytest.approx(np.abs(inner).sum())   # zero outside its window
        assert abs(inner.sum()) < 1e-9 and np.isclose(inner.max(), 1.0)
        assert (bank[m][6, 6] > 0) == (m % 2 == 0)             # on-centre: positive centre
        np.testing.assert_allclose(bank[m], bank[m].T)          # radial


def test_filtering_is_a_zero_padded_correlation_thresholded_below():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 20, 17)).astype(np.uint8)
    bank = encoding.dog_filter_bank()
    out = encoding.filter_images(images, bank, threshold=50)
    for n in range(3):
        for m in range(6):
            direct = correlate2d(images[n].astype(float), bank[m], mode="same", boundary="fill")
            expected = np.where(direct < 50, 0, direct)
            np.testing.assert_allclose(out[n, m], expected, atol=1e-3)


def test_local_normalisation_divides_by_the_zero_padded_local_mean():
    rng = np.random.default_rng(1)
    maps = rng.random((1, 2, 9, 8)).astype(np.float32)
    r = 2
    out = encoding.local_contrast_normalization(maps, r)
    padded = np.pad(maps, ((0, 0), (0, 0), (r, r), (r, r)))
    for m in range(2):
        for y in range(9):
            for x in range(8):
                mean = padded[0, m, y:y + 2 * r + 1, x:x + 2 * r + 1].mean()
                assert np.isclose(out[0, m, y, x], maps[0, m, y, x] / mean, rtol=1e-5)


def test_strongest_fires_first_bins_are_equal_and_the_remainder_stays_silent():
    rng = np.random.default_rng(2)
    values = rng.random((2, 3, 5, 5)) * (rng.random((2, 3, 5, 5)) < 0.7)
    steps = encoding.intensity_to_latency(values, n_steps=4)
    for n in range(2):
        v, s = values[n].ravel(), steps[n].ravel()
        nnz = int((v > 0).sum())
        bin_size = nnz // 4
        assert (s[v == 0] == encoding.SILENT).all()
        counts = np.bincount(s[s >= 0], minlength=4)
        assert counts.tolist() == [bin_size] * 4               # equal bins
        assert (s == encoding.SILENT).sum() == v.size - 4 * bin_size
        fired = s >= 0
        assert s[np.argmax(v)] == 0
        # monotone: a stronger value never fires later than a weaker one
        order = np.argsort(-v[fired], kind="stable")
        assert (np.diff(s[fired][order]) >= 0).all()
        assert v[fired].min() >= v[~fired & (v > 0)].max(initial=0)


def test_equal_values_fire_in_flat_order_and_few_values_fire_at_their_rank():
    values = np.array([[[[3.0, 3.0, 3.0, 3.0, 1.0, 0.0]]]])
    assert encoding.intensity_to_latency(values, 2)[0, 0, 0].tolist() == [0, 0, 1, 1, -1, -1]
    assert encoding.intensity_to_latency(values, 8)[0, 0, 0].tolist() == [0, 1, 2, 3, 4, -1]


def test_spike_wave_is_cumulative_from_the_first_spike():
    latency = np.array([[[[0, 3, -1]]]], dtype=np.int8)
    wave = encoding.spike_wave(latency, 4)
    assert wave.shape == (1, 4, 1, 1, 3)
    assert wave[0, :, 0, 0].astype(int).T.tolist() == [[1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    first = first_spike_from_wave(wave[0])
    assert first[0, 0].tolist() == [0.0, 3.0, np.inf]


def test_a_digit_is_coded_in_six_maps_with_spikes_in_every_step():
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255                                    # a bar, like a "1"
    code = encoding.encode_latency(image[None])
    assert code.shape == (1, 6, 28, 28) and code.dtype == np.int8
    fired = code[code >= 0]
    assert set(np.unique(fired)) == set(range(15))
    assert (code[0, :, :, :5] == encoding.SILENT).all()         # beyond the 13 x 13 window: nothing


def test_cache_returns_the_stored_code_and_changes_with_parameters(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(4, 28, 28)).astype(np.uint8)
    first = encoding.encode_latency_cached(images, name="toy", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("toy-*.npy"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")
    monkeypatch.setattr(lat, "encode_latency", fail)
    again = encoding.encode_latency_cached(images, name="toy", cache_dir=tmp_path)
    np.testing.assert_array_equal(first, again)
    monkeypatch.undo()
    encoding.encode_latency_cached(images, encoding.LatencyCoding(n_steps=10), name="toy", cache_dir=tmp_path)
    encoding.encode_latency_cached(images[:3], name="toy", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("toy-*.npy"))) == 3


@pytest.mark.parametrize("kwargs", [{"n_steps": 0}, {"n_steps": 200}, {"normalization_radius": -1},
                                    {"scales": ((4, 1.0, 2.0),)}, {"scales": ((3, 1.0, 1.0),)}])
def test_bad_coding_parameters_are_refused(kwargs):
    with pytest.raises(ConfigError):
        encoding.LatencyCoding(**kwargs)


def test_rate_coding_api_is_still_importable():
    from bioplastic.encoding import poisson_spike_trains, spike_probability  # noqa: F401


def test_latency_plot_is_written(tmp_path):
    image = np.zeros((2, 28, 28), np.uint8)
    image[:, 8:20, 10:18] = 200
    code = encoding.encode_latency(image)
    path = tmp_path / "latency.png"
    plotting.latency_encoding(image, code, path, n_steps=15,
                              map_names=["on 3", "off 3", "on 7", "off 7", "on 13", "off 13"])
    assert path.stat().st_size > 5000


def ref_intensity_to_latency(values, n_steps):
    """SpykeTorch ``utils.Intensity2Latency.intensity_to_latency``, ported: sort descending, cut
    into bins of nnz // T, scatter bin s into a running map at step s; return its sign."""
    flat = values.ravel()
    bin_size = int((flat != 0).sum()) // n_steps
    order = np.argsort(-flat, kind="stable")
    bins = [order[i:i + bin_size] for i in range(0, len(order), bin_size)]
    running = np.zeros_like(flat)
    waves = []
    for s in range(n_steps):
        running[bins[s]] = flat[bins[s]]
        waves.append(np.sign(running.reshape(values.shape)).copy())
    return np.stack(waves)


@pytest.mark.parametrize("seed", range(4))
def test_latency_waves_equal_spyketorch_intensity_to_latency(seed):
    rng = np.random.default_rng(seed)
    values = rng.random((6, 12, 12)) * (rng.random((6, 12, 12)) < 0.4)     # distinct values: no tie order
    expected = ref_intensity_to_latency(values, 15)
    code = encoding.intensity_to_latency(values[None], 15)
    np.testing.assert_array_equal(encoding.spike_wave(code, 15)[0], expected.astype(bool))
