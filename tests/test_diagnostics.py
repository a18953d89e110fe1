"""The numbers behind lesson 7: the threshold sweep, the histogram, near and far errors."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import seeds
from tinyunet import diagnostics, metrics
from tinyunet.diagnostics import (FALSE_NEGATIVE, FALSE_POSITIVE_FAR, FALSE_POSITIVE_NEAR, TRUE_NEGATIVE,
                                  TRUE_POSITIVE)


def blobs(seed, n=3, size=24):
    """Masks with a square each (one slice empty) and probabilities that roughly follow them."""
    rng = numpy.random.default_rng(seed)
    masks = numpy.zeros((n, size, size, 1), numpy.float32)
    for i in range(n - 1):
        y, x = rng.integers(2, size - 10, size=2)
        masks[i, y:y + 8, x:x + 6] = 1
    probabilities = numpy.clip(masks * 0.7 + rng.random(masks.shape) * 0.5, 0, 1).astype(numpy.float32)
    return masks, probabilities


def test_the_sweep_is_the_pooled_dice_at_each_threshold():
    masks, probabilities = blobs(0)
    sweep = diagnostics.threshold_sweep(masks, probabilities)
    assert sweep.thresholds[0] == 0.05 and sweep.thresholds[-1] == 0.95 and len(sweep.thresholds) == 19
    for t, dice in zip(sweep.thresholds, sweep.dice):
        assert dice == pytest.approx(metrics.dice_score(masks, probabilities, threshold=t), abs=1e-12)
    assert sweep.best_dice == sweep.dice.max() and sweep.best_threshold == sweep.thresholds[sweep.best_index]
    assert sweep.dice_at(0.5) == pytest.approx(metrics.dice_score(masks, probabilities, threshold=0.5))
    with pytest.raises(ValueError, match="0.33"):
        sweep.dice_at(0.33)


def test_the_best_threshold_separates_what_0_5_cannot():
    """Probabilities that are all too low: 0.5 finds nothing, a lower threshold finds the mask exactly."""
    masks = numpy.zeros((1, 8, 8, 1))
    masks[0, 2:5, 2:5] = 1
    probabilities = 0.1 + 0.3 * masks             # 0.4 inside, 0.1 outside
    sweep = diagnostics.threshold_sweep(masks, probabilities)
    assert sweep.dice_at(0.5) == 0.0
    assert sweep.best_dice == 1.0 and sweep.best_threshold == 0.1


def test_the_histogram_counts_every_pixel_and_the_near_binary_share():
    probabilities = numpy.array([0.0, 0.01, 0.3, 0.5, 0.96, 1.0, 0.99, 0.7]).reshape(1, 2, 4, 1)
    counts, edges, near_binary = diagnostics.probability_histogram(probabilities)
    assert counts.sum() == 8 and len(edges) == 21 and edges[0] == 0 and edges[-1] == 1
    assert counts[0] == 2 and counts[-1] == 3          # 1.0 falls in the last bin
    assert near_binary == 5 / 8


@given(seed=seeds, radius=st.integers(0, 12))
def test_dilation_is_the_euclidean_distance_to_the_mask(seed, radius):
    mask = numpy.random.default_rng(seed).random((2, 9, 11)) < 0.04
    grown = diagnostics.dilate(mask, radius)
    for n in range(2):
        points = numpy.argwhere(mask[n])
        yy, xx = numpy.mgrid[0:9, 0:11]
        if len(points):
            distance = numpy.sqrt(((yy[..., None] - points[:, 0]) ** 2 + (xx[..., None] - points[:, 1]) ** 2)
                                  .astype(float)).min(axis=-1)
            expected = distance <= radius
        else:
            expected = numpy.zeros((9, 11), bool)
        assert numpy.array_equal(grown[n], expected)


def test_near_and_far_false_positives_and_the_misses_of_a_hand_case():
    truth = numpy.zeros((1, 20, 20), bool)
    truth[0, 5:10, 5:10] = True
    predicted = truth.copy()
    predicted[0, 9, 9] = False                    # one missed pancreas pixel
    predicted[0, 7, 13] = True                    # 4 px right of the mask: near
    predicted[0, 7, 15] = True                    # 6 px right of the mask: far
    predicted[0, 18, 18] = True                   # far
    codes = diagnostics.error_map(truth, predicted, near=5)
    assert codes[0, 9, 9] == FALSE_NEGATIVE and codes[0, 7, 13] == FALSE_POSITIVE_NEAR
    assert codes[0, 7, 15] == FALSE_POSITIVE_FAR and codes[0, 18, 18] == FALSE_POSITIVE_FAR
    assert codes[0, 6, 6] == TRUE_POSITIVE and codes[0, 0, 0] == TRUE_NEGATIVE
    counts = diagnostics.error_counts(truth[..., None].astype(float), predicted[..., None] * 0.9)
    assert counts.totals() == {"tp": 24, "fp_near": 1, "fp_far": 2, "fn": 1}
    assert counts.per_image(["slice"]) == {"slice": {"tp": 24, "fp_near": 1, "fp_far": 2, "fn": 1}}
    assert diagnostics.error_counts(truth[..., None], predicted[..., None] * 0.9, threshold=0.95).tp[0] == 0


def test_the_counts_partition_the_truth_and_the_prediction():
    masks, probabilities = blobs(3)
    counts = diagnostics.error_counts(masks, probabilities, threshold=0.6, near=2)
    truth, predicted = masks[..., 0] > 0.5, probabilities[..., 0] > 0.6
    assert numpy.array_equal(counts.tp + counts.fn, truth.sum(axis=(1, 2)))
    assert numpy.array_equal(counts.tp + counts.fp_near + counts.fp_far, predicted.sum(axis=(1, 2)))
    assert counts.fp_near[-1] == 0 and counts.fp_far[-1] == predicted[-1].sum()   # no pancreas: all far


def test_k_classes_are_foreground_against_background():
    masks = numpy.zeros((1, 4, 4, 3))
    masks[..., 0] = 1
    masks[0, 0, :2] = [0, 1, 0]                  # class 1
    masks[0, 3, 3] = [0, 0, 1]                   # class 2
    probabilities = numpy.full((1, 4, 4, 3), [0.8, 0.1, 0.1])
    probabilities[0, 0, :2] = [0.2, 0.1, 0.7]    # an organ, the wrong one: still foreground
    assert numpy.allclose(diagnostics.foreground(probabilities)[0, 0, :2], 0.8)
    counts = diagnostics.error_counts(masks, probabilities)
    assert counts.totals() == {"tp": 2, "fp_near": 0, "fp_far": 0, "fn": 1}


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="do not match"):
        diagnostics.threshold_sweep(numpy.zeros((1, 4, 4, 1)), numpy.zeros((1, 4, 5, 1)))
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        diagnostics.foreground(numpy.zeros((4, 4)))
    with pytest.raises(ValueError, match="near"):
        diagnostics.error_map(numpy.zeros((1, 4, 4)), numpy.zeros((1, 4, 4)), near=-1)
