"""The evaluation Dice score (the notebook's Cell 6): thresholded masks, no smoothing.

    dice = 2 |T and P| / (|T| + |P|)      T = y_true > threshold, P = y_pred > threshold

reduce="global" pools every pixel of the set into one T and one P (the notebook's
number); reduce="per_image" computes one Dice per image and averages them (the
article's text).  Where T and P are both empty the Dice is 1: nothing to find,
nothing found.  Returns a Python float (this reads the result back to the host).

K classes: masks and predictions (N, H, W, K), K >= 2, one-hot with the background
in channel 0 (a softmax output).  Each pixel's predicted class is the channel of
the largest probability (argmax, so ``threshold`` plays no part) and its true class
the channel of the one-hot 1; class k's T and P are the pixels of class k.  The
score is then a dict: each foreground class's Dice by name, and their "mean".

Example:
    >>> dice_score(masks, model.predict(images))                       # global
    >>> dice_score(masks, model.predict(images), reduce="per_image")
    >>> dice_score(masks3, model3.predict(images), class_names=("background", "liver", "spleen"))
    {'liver': 0.91, 'spleen': 0.84, 'mean': 0.875}
"""

import numpy

from . import backend


def dice_per_image(y_true, y_pred, threshold=0.5):
    """One Dice per image (axis 0), as a NumPy float64 array; 1 where both masks are empty."""
    y_true, y_pred = _check(y_true, y_pred)
    return _dice_per_image(y_true > threshold, y_pred > threshold)


def dice_score(y_true, y_pred, threshold=0.5, reduce="global", class_names=None):
    """Dice of binarised masks, pooled over the set ("global") or averaged per image ("per_image").

    One channel: a float.  K >= 2 channels: {name: Dice of each foreground class, "mean": their
    mean}, with ``class_names`` the K channels' names (background first; default "class_1", ...).
    """
    if reduce not in ("global", "per_image"):
        raise ValueError(f"dice_score: reduce must be 'global' or 'per_image', not {reduce!r}")
    y_true, y_pred = _check(y_true, y_pred)
    if y_true.ndim == 4 and y_true.shape[-1] >= 2:
        return per_class_dice(y_true, y_pred, reduce, class_names)
    return _dice(y_true > threshold, y_pred > threshold, reduce)


def per_class_dice(y_true, y_pred, reduce="global", class_names=None):
    """{foreground class name: Dice, "mean": their mean} of one-hot (N, H, W, K) masks, by argmax."""
    y_true, y_pred = _check(y_true, y_pred)
    classes = y_true.shape[-1]
    names = _class_names(class_names, classes)
    xp = backend.get_array_module(y_true)
    truth, guess = xp.argmax(y_true, axis=-1), xp.argmax(y_pred, axis=-1)
    scores = {names[k]: _dice(truth == k, guess == k, reduce) for k in range(1, classes)}
    scores["mean"] = float(numpy.mean(list(scores.values())))
    return scores


def _dice(t, p, reduce):
    """The Dice of boolean masks t and p: pooled, or the mean of one per image."""
    if reduce == "per_image":
        return float(_dice_per_image(t, p).mean())
    xp = backend.get_array_module(t)
    total = int(xp.count_nonzero(t)) + int(xp.count_nonzero(p))
    if total == 0:
        return 1.0
    return 2.0 * int(xp.count_nonzero(t & p)) / total


def _dice_per_image(t, p):
    xp = backend.get_array_module(t)
    t, p = t.reshape(t.shape[0], -1), p.reshape(p.shape[0], -1)
    intersection = backend.asnumpy(xp.count_nonzero(t & p, axis=1)).astype(numpy.float64)
    total = backend.asnumpy(xp.count_nonzero(t, axis=1) + xp.count_nonzero(p, axis=1)).astype(numpy.float64)
    dice = numpy.ones_like(total)
    nonempty = total > 0
    dice[nonempty] = 2 * intersection[nonempty] / total[nonempty]
    return dice


def _class_names(class_names, classes):
    if class_names is None:
        return ("background",) + tuple(f"class_{k}" for k in range(1, classes))
    names = tuple(class_names)
    if len(names) != classes or len(set(names)) != classes or "mean" in names:
        raise ValueError(f"dice_score: class_names must be {classes} distinct names (the background's "
                         f"first, none called 'mean') for masks of {classes} channels, got {names}")
    return names


def _check(y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"dice_score: y_true has shape {tuple(y_true.shape)} but y_pred has "
                         f"{tuple(y_pred.shape)}")
    if len(y_true.shape) < 1 or y_true.shape[0] == 0:
        raise ValueError(f"dice_score: needs at least one image, got shape {tuple(y_true.shape)}")
    xp = backend.get_array_module(y_true, y_pred)
    return xp.asarray(y_true), xp.asarray(y_pred)
