"""The intensity-window baseline: how far a single window [lo, hi] of gray levels gets.

If an organ could be found by its gray level alone, a U-Net would be
overkill.  ``threshold_baseline`` picks the window of 8-bit levels that gives
the best global Dice on the training split (an exhaustive search over all
lo <= hi, from two histograms) and reports its Dice on the test split, with the
same ``tinyunet.metrics.dice_score`` as the model.  The lessons write it to
metrics.json as ``threshold_baseline_dice``; on the phantom's pancreas it stays
below 0.3.

    train:  Dice(lo, hi) = 2 * sum_{lo..hi} hist_organ / (n_organ + sum_{lo..hi} hist_all)
    test:   dice_score(masks, lo <= level <= hi)

One-hot masks of K >= 2 classes get one window per foreground class, each
chosen for that class against everything else (windows may overlap: each is
the best a window does for its class alone); ``per_class`` holds them by name
and ``train_dice`` / ``test_dice`` are their means, as ``dice_score``'s "mean".

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
    """The best window [lo, hi] (8-bit levels, inclusive) and its Dice on train and test.

    For K >= 2 classes ``lo`` and ``hi`` are None, the Dice values are the means
    over the foreground classes and ``per_class`` maps each class name to its own
    ``ThresholdBaseline``.
    """

    lo: int | None
    hi: int | None
    train_dice: float
    test_dice: float
    per_class: dict | None = None


def threshold_baseline(splits):
    """Choose the intensity window on ``splits.train``; return it with its test Dice."""
    if splits.train.masks.shape[-1] == 1:
        return _window(splits.train.images, splits.train.masks, splits.test.images, splits.test.masks)
    per_class = {name: _window(splits.train.images, splits.train.masks[..., k:k + 1],
                               splits.test.images, splits.test.masks[..., k:k + 1])
                 for k, name in enumerate(splits.class_names) if k > 0}
    return ThresholdBaseline(None, None, float(numpy.mean([b.train_dice for b in per_class.values()])),
                             float(numpy.mean([b.test_dice for b in per_class.values()])), per_class)


def _window(train_images, train_masks, test_images, test_masks):
    """The best window for one-channel ``train_masks``, with its Dice on the test arrays."""
    levels = to_levels(train_images)
    truth = train_masks > 0.5
    hist_all = numpy.bincount(levels.ravel(), minlength=256).astype(numpy.float64)
    hist_pan = numpy.bincount(levels[truth], minlength=256).astype(numpy.float64)
    cum_all = numpy.r_[0, numpy.cumsum(hist_all)]
    cum_pan = numpy.r_[0, numpy.cumsum(hist_pan)]
    lo, hi = numpy.meshgrid(numpy.arange(256), numpy.arange(256), indexing="ij")
    predicted = cum_all[hi + 1] - cum_all[lo]
    hits = cum_pan[hi + 1] - cum_pan[lo]
    dice = numpy.where(hi >= lo, 2 * hits / numpy.maximum(hist_pan.sum() + predicted, 1), -1)
    best_lo, best_hi = numpy.unravel_index(numpy.argmax(dice), dice.shape)

    test_levels = to_levels(test_images)
    prediction = ((test_levels >= best_lo) & (test_levels <= best_hi)).astype(numpy.float32)
    return ThresholdBaseline(int(best_lo), int(best_hi), float(dice[best_lo, best_hi]),
                             dice_score(test_masks, prediction))
