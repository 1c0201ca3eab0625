"""Protocols: what is presented when, to which network copy, and whether plasticity is on.

A protocol is a set of time-indexed schedules on a grid of *slots* (the greatest common
divisor of the image and rest durations). The network reads them through Brian2
``TimedArray``s, so a whole protocol ("train 100 images, test 1000, repeat") is ONE
``run()`` call, and therefore compiles once in C++ standalone.

Schedules (``n_slots`` rows):
  * ``image``   [slot, copy]  row of the stimulus table shown (0 = blank: rest)
  * ``label``   [slot, copy]  class of the image being learned (-1: none)
  * ``learning`` [slot]       1 while plasticity is on, 0 otherwise
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from brian2 import Hz, Quantity, TimedArray, ms

from bioplastic.errors import ConfigError


@dataclass
class Presentation:
    """One block of presentations: ``n`` consecutive images on every copy."""
    kind: str            # "train" or "test"
    first_slot: int
    n: int
    slots_per_image: int
    images: np.ndarray   # [copy, n] index into the image pool
    labels: np.ndarray   # [copy, n]


@dataclass
class Protocol:
    slot: Quantity
    image_duration: Quantity
    rest_duration: Quantity
    pool: np.ndarray                    # [n_images, n_pixels] uint8, the stimulus table minus the blank row
    image: np.ndarray                   # [n_slots, n_copies] int32, 0 = blank, k+1 = pool[k]
    label: np.ndarray                   # [n_slots, n_copies] int32
    learning: np.ndarray                # [n_slots] float
    blocks: list = field(default_factory=list)
    snapshot_slots: list = field(default_factory=list)
    #: Instead of a rest, the network's neurons and traces are put back in their resting state
    #: at the start of every image (what a long rest does, without simulating it).
    reset_state: bool = False
    #: Repeat mode (Diehl & Cook 2015): the images of ``order`` [n, copy] (pool indices, with
    #: ``order_labels``) are shown one per presentation period, and an image that evoked fewer
    #: than ``repeat.min_spikes`` spikes is shown again with more input (see RepeatRule).
    order: np.ndarray | None = None
    order_labels: np.ndarray | None = None
    repeat: RepeatRule | None = None

    @property
    def period(self) -> Quantity:
        """One presentation: image plus rest."""
        return self.image_duration + self.rest_duration

    @property
    def n_copies(self) -> int:
        return self.image.shape[1]

    @property
    def duration(self) -> Quantity:
        return self.image.shape[0] * self.slot

    def timed_arrays(self, name_prefix: str = "") -> dict:
        """The Brian2 functions the network calls; names are those used in its equations."""
        stimulus = np.vstack([np.zeros((1, self.pool.shape[1])), self.pool / 255.0])
        tables = {}
        if self.order is not None:
            # Indexed by the presenter's pointer through a 1 ms grid (row k = k-th image to show).
            tables["order_table"] = TimedArray((self.order + 1).astype(float), dt=1 * ms,
                                               name=f"{name_prefix}order_table")
            tables["label_table"] = TimedArray(self.order_labels.astype(float), dt=1 * ms,
                                               name=f"{name_prefix}label_table")
        return tables | {
            # Indexed by *row* through a 1 ms grid: stimulus(row*ms, pixel) is pool[row-1, pixel].
            "stimulus": TimedArray(stimulus, dt=1 * ms, name=f"{name_prefix}stimulus"),
            "image_schedule": TimedArray(self.image.astype(float), dt=self.slot, name=f"{name_prefix}image_schedule"),
            "label_schedule": TimedArray(self.label.astype(float), dt=self.slot, name=f"{name_prefix}label_schedule"),
            "learning_schedule": TimedArray(self.learning.astype(float), dt=self.slot,
                                            name=f"{name_prefix}learning_schedule"),
        }


@dataclass(frozen=True)
class RepeatRule:
    """Diehl & Cook (2015): "if the excitatory neurons in the second layer fire less than five
    spikes within 350 ms, the maximum input firing rate is increased by 32 Hz and the example is
    presented again for 350 ms". ``max_repeats`` bounds it (then the next image comes), and
    the run has room for ``extra_fraction`` more presentations than images."""
    min_spikes: int = 5
    rate_increase: Quantity = field(default_factory=lambda: 32 * Hz)
    max_repeats: int = 10
    extra_fraction: float = 0.1

    def validate(self) -> RepeatRule:
        if self.min_spikes < 1 or self.max_repeats < 1 or self.extra_fraction < 0:
            raise ConfigError("protocol.repeat: min_spikes and max_repeats must be >= 1 and extra_fraction >= 0, "
                              f"got {self}.")
        return self


class ProtocolBuilder:
    """Builds a :class:`Protocol` block by block.

    >>> builder = ProtocolBuilder(pool, image_duration=350*ms, rest_duration=150*ms, n_copies=5)
    >>> builder.present(train_idx, train_labels, learning=True)   # train_idx: [copies, n]
    >>> builder.snapshot()                                       # record weights here
    >>> protocol = builder.build()
    """

    def __init__(self, pool: np.ndarray, image_duration: Quantity, rest_duration: Quantity, n_copies: int = 1,
                 reset_state: bool = False):
        if reset_state and float(rest_duration) != 0:
            raise ConfigError("protocol.reset_state replaces the rest between images by a reset of the network's "
                              f"state: set protocol.rest_duration to 0 ms (it is {rest_duration!r}), or switch "
                              "reset_state off.")
        self.reset_state = bool(reset_state)
        for name, value in (("image_duration", image_duration), ("rest_duration", rest_duration)):
            if float(value) < 0 or (name == "image_duration" and float(value) <= 0):
                raise ConfigError(f"protocol: {name} must be positive, got {value!r}.")
        self.pool = np.asarray(pool).reshape(len(pool), -1)
        self.image_duration, self.rest_duration = image_duration, rest_duration
        # Slot = gcd of the durations on a 0.1 ms grid, so both are whole numbers of slots.
        grid = 0.1 * ms
        a, b = int(round(float(image_duration / grid))), int(round(float(rest_duration / grid)))
        self.slot = math.gcd(a, b) * grid if b else a * grid
        self.image_slots = int(round(float(image_duration / self.slot)))
        self.rest_slots = int(round(float(rest_duration / self.slot)))
        self.n_copies = n_copies
        self._image, self._label, self._learning = [], [], []
        self.blocks: list[Presentation] = []
        self.snapshot_slots: list[int] = []
        self._n_slots = 0

    def present(self, images: np.ndarray, labels: np.ndarray, *, learning: bool, kind: str | None = None):
        """Show ``images[c, k]`` (pool indices) to copy ``c``, k = 0..n-1, each followed by a rest."""
        images = np.broadcast_to(np.asarray(images), (self.n_copies, np.shape(images)[-1]))
        labels = np.broadcast_to(np.asarray(labels), images.shape)
        if images.size and (images.min() < 0 or images.max() >= len(self.pool)):
            raise ConfigError("protocol: image index outside the image pool.")
        n = images.shape[1]
        per_image = self.image_slots + self.rest_slots
        shown = np.zeros((n, per_image, self.n_copies), dtype=np.int32)
        shown[:, :self.image_slots, :] = (images.T + 1)[:, None, :]
        lab = np.full((n, per_image, self.n_copies), -1, dtype=np.int32)
        if learning:
            lab[:, :self.image_slots, :] = labels.T[:, None, :]
        self._image.append(shown.reshape(-1, self.n_copies))
        self._label.append(lab.reshape(-1, self.n_copies))
        flag = np.zeros((n, per_image))
        flag[:, :self.image_slots] = float(learning)
        self._learning.append(flag.ravel())
        self.blocks.append(Presentation(kind or ("train" if learning else "test"), self._n_slots, n, per_image,
                                        np.array(images), np.array(labels)))
        self._n_slots += n * per_image
        return self

    def snapshot(self):
        """Mark the current time: the network records weights (and thresholds) here."""
        self.snapshot_slots.append(self._n_slots)
        return self

    def build(self) -> Protocol:
        if not self._image:
            raise ConfigError("protocol: nothing is presented.")
        # One trailing blank slot, so that a snapshot at the very end is inside the run.
        image = np.vstack(self._image + [np.zeros((1, self.n_copies), np.int32)])
        label = np.vstack(self._label + [np.full((1, self.n_copies), -1, np.int32)])
        learning = np.concatenate(self._learning + [np.zeros(1)])
        return Protocol(self.slot, self.image_duration, self.rest_duration, self.pool, image, label, learning,
                        list(self.blocks), list(self.snapshot_slots), self.reset_state)


def repeat_protocol(pool: np.ndarray, orders: np.ndarray, labels: np.ndarray, image_duration, rest_duration,
                    rule: RepeatRule, snapshot_every: int, reset_state: bool = False) -> Protocol:
    """A training protocol in repeat mode: ``orders`` [copy, n] shown in order, each image until
    it evokes ``rule.min_spikes`` spikes; room for ``n * (1 + extra_fraction)`` presentations,
    snapshots every ``snapshot_every`` presentations."""
    n_copies, n = orders.shape
    n_periods = int(np.ceil(n * (1 + rule.extra_fraction)))
    snapshot_every = min(snapshot_every, n_periods)
    n_periods = -(-n_periods // snapshot_every) * snapshot_every      # whole snapshot intervals
    builder = ProtocolBuilder(pool, image_duration, rest_duration, n_copies=n_copies, reset_state=reset_state)
    builder.snapshot()
    for start in range(0, n_periods, snapshot_every):
        stop = min(start + snapshot_every, n_periods)
        # Placeholder rows (pool row 0): the schedule only marks *when* an image is on; which
        # image is on is the presenter's pointer into ``order``.
        builder.present(np.zeros((n_copies, stop - start), int), np.zeros((n_copies, stop - start), int),
                        learning=True)
        builder.snapshot()
    protocol = builder.build()
    protocol.order, protocol.order_labels, protocol.repeat = orders.T.copy(), labels.T.copy(), rule.validate()
    return protocol

