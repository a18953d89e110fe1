"""The evaluation Dice score (the notebook's Cell 6): thresholded masks, no smoothing.

    dice = 2 |T and P| / (|T| + |P|)      T = y_true > threshold, P = y_pred > threshold

reduce="global" pools every pixel of the set into one T and one P (the notebook's
number); reduce="per_image" computes one Dice per image and averages them (the
article's text).  Where T and P are both empty the Dice is 1: nothing to find,
nothing found.  Returns a Python float (this reads the result back to the host).

Example:
    >>> dice_score(masks, model.predict(images))                       # global
    >>> dice_score(masks, model.predict(images), reduce="per_image")
"""

import numpy

from . import backend


def dice_per_image(y_true, y_pred, threshold=0.5):
    """One Dice per image (axis 0), as a NumPy float64 array; 1 where both masks are empty."""
    y_true, y_pred = _check(y_true, y_pred)
    xp = backend.get_array_module(y_true)
    t = (y_true > threshold).reshape(y_true.shape[0], -1)
    p = (y_pred > threshold).reshape(y_pred.shape[0], -1)
    intersection = backend.asnumpy(xp.count_nonzero(t & p, axis=1)).astype(numpy.float64)
    total = backend.asnumpy(xp.count_nonzero(t, axis=1) + xp.count_nonzero(p, axis=1)).astype(numpy.float64)
    dice = numpy.ones_like(total)
    nonempty = total > 0
    dice[nonempty] = 2 * intersection[nonempty] / total[nonempty]
    return dice


def dice_score(y_true, y_pred, threshold=0.5, reduce="global"):
    """Dice of binarised masks, pooled over the set ("global") or averaged per image ("per_image")."""
    if reduce == "per_image":
        return float(dice_per_image(y_true, y_pred, threshold).mean())
    if reduce != "global":
        raise ValueError(f"dice_score: reduce must be 'global' or 'per_image', not {reduce!r}")
    y_true, y_pred = _check(y_true, y_pred)
    xp = backend.get_array_module(y_true)
    t, p = y_true > threshold, y_pred > threshold
    total = int(xp.count_nonzero(t)) + int(xp.count_nonzero(p))
    if total == 0:
        return 1.0
    return 2.0 * int(xp.count_nonzero(t & p)) / total


def _check(y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"dice_score: y_true has shape {tuple(y_true.shape)} but y_pred has "
                         f"{tuple(y_pred.shape)}")
    if len(y_true.shape) < 1 or y_true.shape[0] == 0:
        raise ValueError(f"dice_score: needs at least one image, got shape {tuple(y_true.shape)}")
    xp = backend.get_array_module(y_true, y_pred)
    return xp.asarray(y_true), xp.asarray(y_pred)
