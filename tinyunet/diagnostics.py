"""The numbers behind lesson 7's figures: thresholds, how binary the probabilities are, where the errors are.

    threshold_sweep(masks, probabilities)   the Dice (all pixels pooled) at thresholds 0.05, 0.10, ... 0.95,
                                            the best of them and the Dice at the article's 0.5
    probability_histogram(probabilities)    counts of the probabilities in 20 bins of [0, 1], and the
                                            share below 0.05 or above 0.95 ("near-binary")
    error_map(mask, predicted, near)        one code per pixel: TRUE_NEGATIVE, TRUE_POSITIVE,
                                            FALSE_POSITIVE_NEAR, FALSE_POSITIVE_FAR, FALSE_NEGATIVE
    error_counts(masks, probabilities)      per image: tp, fp_near, fp_far, fn (ErrorCounts)

The article's closing paragraph: the network "both selects pixels far from the expected
location of the pancreas, as well as not identifying pixels that are pancreas".  A false
positive is *near* when it lies within ``near`` pixels (default NEAR_PIXELS = 5, Euclidean)
of a true pancreas pixel of the same slice (a boundary that is a little too generous) and
*far* otherwise (the article's "far from the expected location"); on a slice without
pancreas every false positive is far.  The distance is a dilation of the true mask by a
disc of that radius, computed with NumPy shifts.

K classes (softmax outputs (N, H, W, K), one-hot masks with the background first): these
functions look at foreground against background, an organ of any kind against none.  The
probability is 1 - p(background), the truth is "some organ"; which organ was confused
with which is the Dice per class's business (tinyunet.metrics).

Everything is NumPy on the host (masks and probabilities are read back first).

Example:
    >>> sweep = threshold_sweep(validation.masks, model.predict(validation.images))
    >>> sweep.best_threshold, sweep.best_dice, sweep.dice_at(0.5)
    >>> counts = error_counts(test.masks, model.predict(test.images), threshold=0.5)
    >>> counts.fp_far          # one count per test image
"""

from dataclasses import dataclass

import numpy

from . import backend
from .metrics import dice_score

NEAR_PIXELS = 5
THRESHOLDS = numpy.round(numpy.arange(0.05, 0.951, 0.05), 2)
TRUE_NEGATIVE, TRUE_POSITIVE, FALSE_POSITIVE_NEAR, FALSE_POSITIVE_FAR, FALSE_NEGATIVE = range(5)
ERROR_KINDS = ("true positive", "false positive near", "false positive far", "false negative")


def foreground(array):
    """(N, H, W) foreground probability: channel 0 of one channel, 1 - the background's of K >= 2."""
    array = numpy.asarray(backend.asnumpy(array), dtype=numpy.float64)
    if array.ndim == 3:
        return array
    if array.ndim != 4:
        raise ValueError(f"foreground: expects (N, H, W) or (N, H, W, K) masks or probabilities, "
                         f"got shape {array.shape}")
    return array[..., 0] if array.shape[-1] == 1 else 1.0 - array[..., 0]


def _pair(masks, probabilities, where):
    truth, probability = foreground(masks) > 0.5, foreground(probabilities)
    if truth.shape != probability.shape:
        raise ValueError(f"{where}: masks {numpy.shape(masks)} and probabilities {numpy.shape(probabilities)} "
                         "do not match")
    return truth, probability


@dataclass
class ThresholdSweep:
    """The pooled Dice at each threshold; ``best_threshold`` is the first of the highest Dice."""

    thresholds: numpy.ndarray
    dice: numpy.ndarray

    @property
    def best_index(self):
        return int(numpy.argmax(self.dice))

    @property
    def best_threshold(self):
        return float(self.thresholds[self.best_index])

    @property
    def best_dice(self):
        return float(self.dice[self.best_index])

    def dice_at(self, threshold):
        """The Dice at one of the swept thresholds (e.g. 0.5)."""
        matches = numpy.flatnonzero(numpy.isclose(self.thresholds, threshold))
        if not matches.size:
            raise ValueError(f"ThresholdSweep: {threshold} is not one of the thresholds {self.thresholds.tolist()}")
        return float(self.dice[matches[0]])


def threshold_sweep(masks, probabilities, thresholds=THRESHOLDS):
    """Dice = 2 |T and (p > t)| / (|T| + |p > t|) over every pixel pooled, for each threshold t.

    metrics.dice_score at each threshold, so both masks empty gives 1 (nothing to find,
    nothing found).  The model is run once, by the caller.
    """
    truth, probability = _pair(masks, probabilities, "threshold_sweep")
    thresholds = numpy.asarray(thresholds, dtype=numpy.float64)
    truth = truth.astype(numpy.float64)         # 0 / 1: above every threshold in (0, 1) where true
    dice = [dice_score(truth, probability, threshold=t) for t in thresholds]
    return ThresholdSweep(thresholds, numpy.array(dice))


def probability_histogram(probabilities, bins=20):
    """(counts, edges, near_binary): counts of the foreground probabilities in ``bins`` equal bins of
    [0, 1], and the share of pixels below 0.05 or above 0.95."""
    probability = foreground(probabilities).ravel()
    counts, edges = numpy.histogram(probability, bins=bins, range=(0.0, 1.0))
    near_binary = float(numpy.mean((probability < 0.05) | (probability > 0.95))) if probability.size else 0.0
    return counts, edges, near_binary


def dilate(mask, radius):
    """(N, H, W) bool: True within ``radius`` pixels (Euclidean) of a True pixel of the same image."""
    mask = numpy.asarray(mask, dtype=bool)
    _, h, w = mask.shape
    grown = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            # a shift as large as the image moves every pixel out of it
            if (dy or dx) and dy * dy + dx * dx <= radius * radius and abs(dy) < h and abs(dx) < w:
                # out[y, x] |= mask[y - dy, x - dx]: the mask shifted by (dy, dx), cut at the border
                grown[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] |= \
                    mask[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return grown


def error_map(masks, predicted, near=NEAR_PIXELS):
    """(N, H, W) uint8 codes: TRUE_NEGATIVE, TRUE_POSITIVE, FALSE_POSITIVE_NEAR (within ``near``
    pixels of the true mask), FALSE_POSITIVE_FAR, FALSE_NEGATIVE.  ``masks`` and ``predicted``
    are (N, H, W) booleans (or anything ``foreground`` takes, compared with 0.5)."""
    truth, prediction = (foreground(a) > 0.5 for a in (masks, predicted))
    if truth.shape != prediction.shape:
        raise ValueError(f"error_map: masks {truth.shape} and predictions {prediction.shape} do not match")
    if not isinstance(near, (int, numpy.integer)) or near < 0:
        raise ValueError(f"error_map: near must be a number of pixels >= 0, not {near!r}")
    codes = numpy.full(truth.shape, TRUE_NEGATIVE, dtype=numpy.uint8)
    codes[truth & prediction] = TRUE_POSITIVE
    false_positive = prediction & ~truth
    close = dilate(truth, int(near))
    codes[false_positive & close] = FALSE_POSITIVE_NEAR
    codes[false_positive & ~close] = FALSE_POSITIVE_FAR
    codes[truth & ~prediction] = FALSE_NEGATIVE
    return codes


@dataclass
class ErrorCounts:
    """Per image pixel counts (NumPy int arrays of length N), and the threshold and distance used."""

    tp: numpy.ndarray
    fp_near: numpy.ndarray
    fp_far: numpy.ndarray
    fn: numpy.ndarray
    threshold: float
    near: int

    def totals(self):
        """{"tp": ..., "fp_near": ..., "fp_far": ..., "fn": ...} summed over the images, as ints."""
        return {key: int(getattr(self, key).sum()) for key in ("tp", "fp_near", "fp_far", "fn")}

    def per_image(self, names):
        """{name: {"tp": ..., "fp_near": ..., "fp_far": ..., "fn": ...}} (what metrics.json records)."""
        return {name: {key: int(getattr(self, key)[i]) for key in ("tp", "fp_near", "fp_far", "fn")}
                for i, name in enumerate(names)}


def error_counts(masks, probabilities, threshold=0.5, near=NEAR_PIXELS):
    """TP, FP near, FP far and FN of each image, the probabilities binarised at ``threshold``."""
    truth, probability = _pair(masks, probabilities, "error_counts")
    codes = error_map(truth, probability > threshold, near)
    count = [(codes == code).sum(axis=(1, 2)) for code in
             (TRUE_POSITIVE, FALSE_POSITIVE_NEAR, FALSE_POSITIVE_FAR, FALSE_NEGATIVE)]
    return ErrorCounts(*count, threshold=float(threshold), near=int(near))
