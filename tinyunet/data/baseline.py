"""The intensity-window baseline: how far a single window [lo, hi] of gray levels gets.

If the pancreas could be found by its gray level alone, a U-Net would be
overkill.  ``threshold_baseline`` picks the window of 8-bit levels that gives
the best global Dice on the training split (an exhaustive search over all
lo <= hi, from two histograms) and reports its Dice on the test split, with the
same ``tinyunet.metrics.dice_score`` as the model.  The lessons write it to
metrics.json as ``threshold_baseline_dice``; on the phantom it stays below 0.3.

    train:  Dice(lo, hi) = 2 * sum_{lo..hi} hist_pancreas / (n_pancreas + sum_{lo..hi} hist_all)
    test:   dice_score(masks, lo <= level <= hi)

Example:
    >>> result = threshold_baseline(make_phantom(n_subjects=12, size=64))
    >>> result.lo, result.hi, round(result.test_dice, 3)
"""

from dataclasses import dataclass

import numpy

from ..metrics import dice_score
from .intensity import to_levels


@dataclass
class ThresholdBaseline:
    """The best window [lo, hi] (8-bit levels, inclusive) and its Dice on train and test."""

    lo: int
    hi: int
    train_dice: float
    test_dice: float


def threshold_baseline(splits):
    """Choose the intensity window on ``splits.train``; return it with its test Dice."""
    train = splits.train
    levels = to_levels(train.images)
    truth = train.masks > 0.5
    hist_all = numpy.bincount(levels.ravel(), minlength=256).astype(numpy.float64)
    hist_pan = numpy.bincount(levels[truth], minlength=256).astype(numpy.float64)
    cum_all = numpy.r_[0, numpy.cumsum(hist_all)]
    cum_pan = numpy.r_[0, numpy.cumsum(hist_pan)]
    lo, hi = numpy.meshgrid(numpy.arange(256), numpy.arange(256), indexing="ij")
    predicted = cum_all[hi + 1] - cum_all[lo]
    hits = cum_pan[hi + 1] - cum_pan[lo]
    dice = numpy.where(hi >= lo, 2 * hits / numpy.maximum(hist_pan.sum() + predicted, 1), -1)
    best_lo, best_hi = numpy.unravel_index(numpy.argmax(dice), dice.shape)

    test_levels = to_levels(splits.test.images)
    prediction = ((test_levels >= best_lo) & (test_levels <= best_hi)).astype(numpy.float32)
    return ThresholdBaseline(int(best_lo), int(best_hi), float(dice[best_lo, best_hi]),
                             dice_score(splits.test.masks, prediction))
