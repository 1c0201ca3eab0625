"""The decision layer of a convolutional STDP network, trained with R-STDP on cached inputs.

In Mozafari et al. (2019) the decision layer has no threshold: its neurons integrate the
pooled S2 spikes of the whole presentation, and the neuron with the largest final potential
decides (ties: lowest (map, row, col)); no positive potential is silence, counted wrong.
Its potentials therefore depend only on *which* inputs fired, not when, and every input
that fired counts as "pre before post" for R-STDP. Once S1 and S2 are frozen, that binary
input map is fixed per image, so the many decision-layer epochs run on it directly: the
potentials are one matrix product per image (the Brian2 simulation of the same layer gives
the same potentials and winners: ``tests/test_conv_stdp.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bioplastic.network.convnet import ConvNetSpec
from bioplastic.network.kernel_rules import RewardSTDP, SupervisedKernel, apply_update

SILENCE = -1


@dataclass
class EpochStats:
    correct: float
    wrong: float
    silence: float


class DecisionLayer:
    """Kernels (maps, in maps, kh, kw) of the last layer and their rule (R-STDP or supervised), on binary maps."""

    def __init__(self, spec: ConvNetSpec, weights: np.ndarray, rule: RewardSTDP | SupervisedKernel):
        name = spec.decision_layer
        self.proj, self.shape = spec.projections[name], spec.layers[name].shape
        self.in_shape = spec.shape(self.proj.source)
        self.maps_per_class = spec.maps_per_class()
        self.weights = np.array(weights, dtype=np.float64).reshape(self.shape[0], -1)   # (maps, features)
        # Potentials are computed in float32 (a decision is an argmax; 2x faster products), from a
        # copy kept in step with the float64 weights, which learn.
        self.weights32 = self.weights.astype(np.float32)
        self.base_rule = self.rule = rule
        self.clamped = False
        # Forgetting protections (bioplastic.protections): a 0/1 mask of the weights that may
        # learn, and per-weight bounds each weight stays in; both (maps, features) or None.
        self.plastic: np.ndarray | None = None
        self.bounds: tuple[np.ndarray, np.ndarray] | None = None

    def restore(self, weights: np.ndarray, rule: dict, clamped: bool) -> None:
        """Back to a checkpointed state: weights, the (adapted) rates, whether the first clamp happened."""
        self.weights = np.array(weights, dtype=np.float64).reshape(self.weights.shape)
        self.weights32 = self.weights.astype(np.float32)
        self.rule = replace(self.base_rule, **rule)
        self.clamped = bool(clamped)

    def patches(self, fired: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(n, positions, features) float32: the input window of every output position, 1 where it
        fired; written into the first n rows of ``out`` (float32, at least n rows) where given."""
        p, k, s = self.proj.padding, self.proj.kernel_size, self.proj.stride
        maps = np.asarray(fired, dtype=bool).reshape((-1,) + tuple(self.in_shape))
        padded = np.pad(maps, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = sliding_window_view(padded, (k, k), axis=(2, 3))[:, :, ::s, ::s]   # n, c, rows, cols, k, k
        n, c, rows, cols = windows.shape[:4]
        windows = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n, rows * cols, c * k * k)   # a bool copy
        if out is None:
            return windows.astype(np.float32)
        np.copyto(out[:n], windows)
        return out[:n]

    def potentials(self, patches: np.ndarray) -> np.ndarray:
        """(n, maps, positions) final potentials."""
        return np.einsum("npf,mf->nmp", patches, self.weights32, optimize=True)

    @staticmethod
    def winners(potentials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(map, position) of each image's largest positive potential; map -1 for silence."""
        flat = potentials.reshape(len(potentials), -1)
        best = np.argmax(flat, axis=1)
        silent = flat[np.arange(len(flat)), best] <= 0
        maps, positions = np.divmod(best, potentials.shape[2])
        return np.where(silent, SILENCE, maps), positions

    def predict(self, fired: np.ndarray, batch: int = 256) -> np.ndarray:
        """Class of every image (-1: silence).

        The batch is one matrix product of (batch x positions) rows; another batch rounds the
        float32 potentials differently (by ~1e-4 at the reference's size), so it stays 256 for
        results that repeat earlier runs'. Its windows (100 MB at the reference's size) are cut
        into the first batch's array, kept for the whole call, not a fresh array mapped page by
        page each batch: the same products on the same shapes, so the same classes."""
        out = []
        buffer = None                      # the first batch's windows: no later batch is larger
        for start in range(0, len(fired), batch):
            patches = self.patches(fired[start:start + batch], out=buffer)
            buffer = patches if buffer is None else buffer
            maps, _ = self.winners(self.potentials(patches))
            out.append(np.where(maps >= 0, maps // self.maps_per_class, SILENCE))
        return np.concatenate(out) if out else np.zeros(0, int)

    def learn(self, patch: np.ndarray, label: int) -> int:
        """One image (patch: positions x features): decide, then update by the rule. Returns the class."""
        potential = (self.weights32 @ patch.T)[None]                   # 1, maps, positions
        maps, positions = self.winners(potential)
        winner = int(maps[0])
        decided = winner // self.maps_per_class if winner != SILENCE else SILENCE
        fired = patch > 0
        rule = self.rule
        if isinstance(rule, SupervisedKernel):
            own = slice(label * self.maps_per_class, (label + 1) * self.maps_per_class)
            best = np.unravel_index(np.argmax(potential[0, own]), potential[0, own].shape)
            if potential[0, own][best] > 0:
                self._update(own.start + best[0], np.where(fired[best[1]], rule.a_plus, rule.a_minus))
            if decided not in (SILENCE, label):
                self._update(winner, np.where(fired[positions[0]], -rule.a_plus, rule.a_minus))
        elif decided != SILENCE:
            rate = (np.where(fired[positions[0]], rule.a_plus_reward, rule.a_minus_reward) if decided == label
                    else np.where(fired[positions[0]], rule.a_minus_punish, rule.a_plus_punish))
            self._update(winner, rate)
        return decided

    def protect(self, plastic: np.ndarray | None = None,
                bounds: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Freeze the weights where ``plastic`` is 0 and/or keep each weight within its own
        ``bounds`` (low, high); the weights are moved into their bounds now."""
        shape = self.weights.shape
        if plastic is not None:
            self.plastic = np.asarray(plastic, dtype=np.float64).reshape(shape)
        if bounds is not None:
            low, high = (np.asarray(b, dtype=np.float64).reshape(shape) for b in bounds)
            if np.any(low > high):
                raise ValueError("per-weight bounds: some low bound exceeds its high bound.")
            self.bounds = (low, high)
            np.clip(self.weights, low, high, out=self.weights)
            self.weights32[:] = self.weights

    def _update(self, kernel: int, rate: np.ndarray) -> None:
        rule = self.rule
        if not self.clamped:                  # the reference clamps the whole tensor at each update
            np.clip(self.weights, rule.w_min, rule.w_max, out=self.weights)
            self.weights32[:] = self.weights
            self.clamped = True
        if self.plastic is not None:
            rate = rate * self.plastic[kernel]
        apply_update(self.weights, np.array([kernel]), rate[None], w_min=rule.w_min, w_max=rule.w_max,
                     stabilizer=rule.stabilizer)
        if self.bounds is not None:
            np.clip(self.weights[kernel], self.bounds[0][kernel], self.bounds[1][kernel], out=self.weights[kernel])
        self.weights32[kernel] = self.weights[kernel]

    def add_noise(self, noise: np.ndarray, low: float, high: float) -> None:
        """Add ``noise`` (the weights' shape) to every weight, then clamp all to [low, high]; in
        place, keeping the float32 copy in step (Langevin: 1.25 M weights after every update)."""
        self.weights += noise
        np.clip(self.weights, low, high, out=self.weights)
        self.weights32[:] = self.weights

    def train_epoch(self, fired: np.ndarray, labels: np.ndarray, order: np.ndarray, batch: int = 32,
                    after_image=None) -> EpochStats:
        """One pass over ``order``; rates adapt after every ``rule.adapt_every`` images (MozafariDeep).
        ``after_image(decided)`` is called after each image's update (e.g. Langevin noise).

        The images learn one at a time; ``batch`` only sets how many images' input windows are
        cut at once (the same weights for any batch). Small: at the reference's size 32 images'
        windows are 13 MB, which the allocator reuses; 256 images' (100 MB) were mapped afresh
        every batch (17,700 page faults per 4,000 images in a benchmark thread; 570 with 32)."""
        counts = np.zeros(3)                              # correct, wrong, silence in the current batch
        totals = np.zeros(3)
        every = self.base_rule.adapt_every
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            patches = self.patches(fired[idx])
            for patch, label in zip(patches, labels[idx]):
                decided = self.learn(patch, int(label))
                if after_image is not None:
                    after_image(decided)
                outcome = 2 if decided == SILENCE else (0 if decided == label else 1)
                counts[outcome] += 1
                if every and counts.sum() == every:
                    self._adapt(counts)
                    totals += counts
                    counts[:] = 0
        if every and counts.sum():
            self._adapt(counts)
        totals += counts
        return EpochStats(*(totals / max(totals.sum(), 1)))

    def _adapt(self, counts: np.ndarray) -> None:
        correct, wrong, _ = counts / counts.sum()
        self.rule = self.base_rule.adapted(correct, wrong)
