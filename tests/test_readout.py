"""Specification of the readouts: hand-made spike counts and the class each should give."""
import subprocess
import sys

import numpy as np
import pytest

from bioplastic.errors import ConfigError
from bioplastic.readout import (READOUTS, assign_labels, get_readout, label_assignment_readout,
                                segment_readout)

SEGMENTS = np.array([0, 0, 1, 1, 2, 2])


def test_readout_module_does_not_import_brian2():
    code = "import sys, bioplastic.readout; assert 'brian2' not in sys.modules, 'brian2 imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- segments ------------------------------------------------------------------------------

def test_segment_readout_picks_the_segment_that_fired_most():
    counts = np.array([[0, 1, 3, 0, 0, 1],     # class 1: 3 spikes
                       [2, 2, 3, 0, 0, 0],     # class 0: 4 spikes
                       [0, 0, 0, 0, 0, 0],     # silent
                       [1, 0, 0, 1, 0, 0]])    # tie 0/1: lowest class
    assert segment_readout(counts, SEGMENTS, 3).tolist() == [1, 0, -1, 0]


def test_segment_readout_among_reads_only_those_segments():
    counts = np.array([[5, 0, 1, 0, 0, 2], [5, 0, 0, 0, 0, 0]])
    assert segment_readout(counts, SEGMENTS, 3, among=[1, 2]).tolist() == [2, -1]


def test_segment_readout_keeps_leading_batch_dimensions():
    counts = np.zeros((2, 3, 6))
    counts[1, 2, 4] = 1
    pred = segment_readout(counts, SEGMENTS, 3)
    assert pred.shape == (2, 3) and pred[1, 2] == 2 and (pred[0] == -1).all()


def test_segment_readout_behaves_as_the_former_evaluation_readout():
    """The rule of the former ``evaluation.readout``, written as a one-hot product: per-class sums,
    the first largest wins, silence (over the classes read) is -1."""
    counts = np.random.default_rng(0).poisson(0.4, size=(4, 50, 6))
    for among in (None, [0, 2]):
        classes = np.arange(3) if among is None else np.asarray(among)
        per_class = counts @ (SEGMENTS[:, None] == classes[None, :])          # [..., classes]
        expected = np.where(per_class.max(-1) == 0, -1, classes[per_class.argmax(-1)])
        np.testing.assert_array_equal(segment_readout(counts, SEGMENTS, 3, among), expected)


# --- label assignment (Diehl & Cook 2015) ---------------------------------------------------

def test_neurons_are_labelled_with_their_highest_mean_response():
    labels = np.array([0, 0, 1, 2])
    counts = np.array([[4, 0, 1, 0],    # image of class 0
                       [2, 0, 1, 0],    # image of class 0
                       [0, 2, 1, 0],    # class 1
                       [3, 0, 1, 0]])   # class 2
    # neuron 0: means (3, 0, 3) -> tie, lowest class 0; neuron 1: class 1 (its only response);
    # neuron 2: (1, 1, 1) -> tie -> 0; neuron 3: never fired -> -1.
    assert assign_labels(counts, labels, 3).tolist() == [0, 1, 0, -1]


def test_labelling_uses_the_mean_not_the_sum():
    labels = np.array([0, 0, 0, 1])
    counts = np.array([[1], [1], [1], [2]])   # class 0 sums to 3 but averages 1; class 1 averages 2
    assert assign_labels(counts, labels, 2).tolist() == [1]


def test_classes_without_labelling_images_are_never_assigned():
    counts = np.array([[0, 1], [0, 1]])
    assert assign_labels(counts, np.array([2, 2]), 3).tolist() == [-1, 2]


def test_labelling_keeps_leading_batch_dimensions():
    counts = np.zeros((2, 3, 4))               # [seed, image, neuron]
    counts[1, 2, 3] = 5
    assignments = assign_labels(counts, np.array([0, 1, 2]), 3)
    assert assignments.shape == (2, 4) and assignments[1].tolist() == [-1, -1, -1, 2]


def test_prediction_is_the_class_with_the_highest_mean_response():
    assignments = np.array([0, 0, 0, 1, -1])
    # class 0: mean (3+0+0)/3 = 1; class 1: 2/1 = 2 -> 1, although class 0 sums more spikes.
    # The unassigned neuron's 9 spikes are not read.
    assert label_assignment_readout(np.array([3, 0, 0, 2, 9]), assignments, 3).tolist() == 1


@pytest.mark.parametrize("counts, expected", [
    ([2, 0, 1, 0, 0], 0),      # means (2+0)/2 = 1 and 1/1 = 1: tie, lowest class
    ([0, 0, 0, 0, 0], -1),     # silent
    ([0, 0, 0, 0, 7], -1),     # only an unassigned neuron fired: no answer
])
def test_ties_and_silence(counts, expected):
    assert label_assignment_readout(np.array(counts), np.array([0, 0, 1, -1, -1]), 3) == expected


def test_a_class_with_no_assigned_neuron_never_wins():
    # class 2 has no neuron: its mean is undefined, not 0 and not nan; classes 0 and 1 are silent
    # apart from neuron 2, so the answer is 1 (and never 2).
    assert label_assignment_readout(np.array([0, 0, 1]), np.array([0, 0, 1]), 3) == 1


def test_label_assignment_readout_keeps_leading_batch_dimensions_and_among():
    assignments = np.array([0, 1, 2])
    counts = np.array([[[1, 2, 3], [0, 0, 0]], [[5, 0, 0], [0, 4, 4]]])
    assert label_assignment_readout(counts, assignments, 3).tolist() == [[2, -1], [0, 1]]
    assert label_assignment_readout(counts, assignments, 3, among=[0, 1]).tolist() == [[1, -1], [0, 1]]


def test_label_assignment_round_trip():
    # Two neurons per class that respond to their class only: assignment then readout is exact.
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=30)
    preferred = np.repeat(np.arange(3), 2)
    counts = rng.poisson(5, size=(30, 6)) * (labels[:, None] == preferred)
    assignments = assign_labels(counts[:20], labels[:20], 3)
    assert assignments.tolist() == preferred.tolist()
    predicted = label_assignment_readout(counts[20:], assignments, 3)
    silent = counts[20:].sum(-1) == 0
    assert (predicted[~silent] == labels[20:][~silent]).all() and (predicted[silent] == -1).all()


# --- registry ----------------------------------------------------------------------------------

def test_readouts_are_named():
    assert set(READOUTS) == {"segments", "label_assignment"}
    counts = np.array([0, 0, 3, 0, 0, 0])
    assert get_readout("segments")(counts, 3, segments=SEGMENTS) == 1
    assert get_readout("label_assignment")(counts, 3, assignments=SEGMENTS) == 1


def test_unknown_readout_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'label_assignment'"):
        get_readout("label_asignment")


def test_a_readout_that_needs_labels_it_does_not_have_is_refused():
    with pytest.raises(ConfigError, match="needs assignments"):
        get_readout("label_assignment")(np.zeros(6), 3, segments=SEGMENTS)
    with pytest.raises(ConfigError, match="needs neuron assignments"):
        label_assignment_readout(np.zeros(6), None, 3)
    # ... and before any simulation, from what the network provides:
    with pytest.raises(ConfigError, match="needs assignments, which this network does not provide"):
        get_readout("label_assignment").check({"segments"})
    get_readout("label_assignment").check({"assignments"})
    get_readout("segments").check({"segments"})
