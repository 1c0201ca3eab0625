"""Turning images into spikes.

- :mod:`~bioplastic.encoding.rate`: Poisson rate coding (Diehl & Cook 2015).
- :mod:`~bioplastic.encoding.latency`: difference-of-Gaussians maps coded as first-spike
  latencies in a few time steps (Mozafari et al. 2018, 2019), cached on disk.
"""
from bioplastic.encoding.latency import (
    MOZAFARI_DOG_SCALES,
    SILENT,
    LatencyCoding,
    dog_filter_bank,
    dog_kernel,
    encode_latency,
    encode_latency_cached,
    filter_images,
    intensity_to_latency,
    local_contrast_normalization,
    spike_wave,
)
from bioplastic.encoding.rate import poisson_spike_trains, spike_probability

__all__ = ["MOZAFARI_DOG_SCALES", "SILENT", "LatencyCoding", "dog_filter_bank", "dog_kernel", "encode_latency",
           "encode_latency_cached", "filter_images", "intensity_to_latency", "local_contrast_normalization",
           "poisson_spike_trains", "spike_probability", "spike_wave"]
