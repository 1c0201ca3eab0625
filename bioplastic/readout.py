"""Readouts: from spike counts to predicted classes. Pure numpy, no Brian2.

Every readout takes ``counts`` of shape [..., n_neurons] (spikes of each excitatory neuron
per presentation, any leading batch dimensions) and returns the predicted class per
presentation, shape [...], with -1 where the network gave no answer (silence).

* ``segments``: the supervised networks give each class its own segment of neurons; the
  prediction is the class whose segment fired most.
* ``label_assignment`` (Diehl & Cook 2015, Front. Comput. Neurosci. 9:99, "Training and
  classification"): an unsupervised network has no segments, so each neuron is first labelled
  with the class to which it responded most on labelled images (:func:`assign_labels`); the
  prediction is the class whose assigned neurons have the highest *mean* response.

Ties go to the lowest class index (numpy's argmax), in both readouts.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

from bioplastic.errors import ConfigError

UNASSIGNED = -1   # label of a neuron that never fired on the labelling images; also "no answer"


def segment_readout(counts, segments, n_classes: int, among=None) -> np.ndarray:
    """Class with the largest summed spike count per presentation; -1 when silent.

    ``counts``: [..., n_exc]; ``segments``: class of each excitatory neuron. ``among``
    restricts the answer to some classes (e.g. the digits of task 1 after task 2), reading
    only their segments.
    """
    counts, segments = np.asarray(counts), np.asarray(segments)
    classes = np.arange(n_classes) if among is None else np.asarray(among)
    per_class = np.zeros(counts.shape[:-1] + (len(classes),))
    for k, c in enumerate(classes):
        per_class[..., k] = counts[..., segments == c].sum(-1)
    pred = np.asarray(classes[per_class.argmax(-1)])
    pred[per_class.max(-1) == 0] = UNASSIGNED
    return pred


def _class_means(values, classes, n_classes: int) -> np.ndarray:
    """Mean of ``values`` [..., n, m] over the n entries of each class -> [..., n_classes, m].

    A class with no entry has mean -inf, so that it never wins an argmax.
    """
    one_hot = (np.asarray(classes)[:, None] == np.arange(n_classes)).astype(float)   # [n, n_classes]
    n_per_class = one_hot.sum(0)
    sums = np.einsum("...nm,nc->...cm", np.asarray(values, dtype=float), one_hot)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n_per_class[:, None]
    return np.where(n_per_class[:, None] > 0, means, -np.inf)


def assign_labels(counts, labels, n_classes: int) -> np.ndarray:
    """Label each neuron with the class of its highest mean response (Diehl & Cook 2015).

    ``counts``: [..., n_images, n_neurons] spike counts on labelled images; ``labels``:
    [n_images] their classes. Returns [..., n_neurons]: the class, or -1 for a neuron that
    never fired on any of these images (it carries no evidence, and labelling it class 0, as
    an argmax would, would dilute that class's mean). Classes without images are never assigned.
    """
    counts, labels = np.asarray(counts), np.asarray(labels)
    if counts.shape[-2] != len(labels):
        raise ValueError(f"assign_labels: {counts.shape[-2]} images of counts but {len(labels)} labels.")
    means = _class_means(counts, labels, n_classes)                        # [..., n_classes, n_neurons]
    assignments = means.argmax(-2)
    assignments[counts.sum(-2) == 0] = UNASSIGNED
    return assignments


def label_assignment_readout(counts, assignments, n_classes: int, among=None) -> np.ndarray:
    """Class whose assigned neurons have the highest mean spike count; -1 when silent.

    ``counts``: [..., n_neurons]; ``assignments``: [n_neurons] from :func:`assign_labels`
    (-1: unassigned, never read). A class with no assigned neuron never wins. "Silent": no
    assigned neuron fired. ``among`` restricts the answer to some classes.
    """
    if assignments is None:
        raise ConfigError("the label_assignment readout needs neuron assignments (assign_labels on "
                          "labelled images) and was given none: label the neurons first, or use the "
                          "segments readout for a network with class segments.")
    counts, assignments = np.asarray(counts, dtype=float), np.asarray(assignments)
    if counts.shape[-1] != len(assignments):
        raise ValueError(f"label_assignment_readout: counts have {counts.shape[-1]} neurons, "
                         f"assignments {len(assignments)}.")
    classes = np.arange(n_classes) if among is None else np.asarray(among)
    means = _class_means(counts[..., :, None], assignments, n_classes)[..., 0]   # [..., n_classes]
    means = means[..., classes]
    pred = np.asarray(classes[means.argmax(-1)])
    pred[~(means.max(-1) > 0)] = UNASSIGNED
    return pred


@dataclass(frozen=True)
class Readout:
    """A named readout and the inputs it needs besides the counts (checked before a run)."""
    name: str
    predict: Callable
    needs: str           # "segments" or "assignments"
    description: str

    def check(self, available) -> None:
        """Refuse, before any simulation, a readout whose input the network cannot provide."""
        if self.needs not in set(available):
            raise ConfigError(f"readout {self.name!r} needs {self.needs}, which this network does not "
                              f"provide (it has: {', '.join(sorted(available)) or 'nothing'}). "
                              f"{self.description}")

    def __call__(self, counts, n_classes: int, among=None, **inputs) -> np.ndarray:
        if inputs.get(self.needs) is None:
            raise ConfigError(f"readout {self.name!r} needs {self.needs} and was given none. {self.description}")
        return self.predict(counts, inputs[self.needs], n_classes, among=among)


READOUTS = {
    "segments": Readout("segments", segment_readout, "segments",
                        "It reads the class segments of a supervised network."),
    "label_assignment": Readout("label_assignment", label_assignment_readout, "assignments",
                                "It labels each neuron with its best class on labelled images first "
                                "(Diehl & Cook 2015)."),
}


def get_readout(name: str) -> Readout:
    if name not in READOUTS:
        close = difflib.get_close_matches(str(name), list(READOUTS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown readout {name!r}.{hint} Readouts: {', '.join(sorted(READOUTS))}.")
    return READOUTS[name]
