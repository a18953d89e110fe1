"""The training losses: Dice (the article's) and binary cross-entropy, each with its backward.

A loss is one class: ``forward(y_true, y_pred)`` returns the loss as a 0-d
array on the device of ``y_pred`` (no host synchronisation: ``float()`` it to
print) and keeps what ``backward`` needs; ``backward()`` returns dL/dy_pred,
shaped like ``y_pred``.  Nothing flows back to ``y_true``: it is the target.

    dice_coefficient   D = (2 * sum(y * p) + s) / (sum(y) + sum(p) + s)    s = smooth = 1e-7
    DiceLoss           L = 1 - D                                  (the notebook's Cell 3)
                       K >= 2 classes: L = 1 - mean over k = 1..K-1 of D_k   (channel 0: background)
    BinaryCrossentropy L = -mean(y * log(q) + (1 - y) * log(1 - q)),  q = clip(p, eps, 1 - eps)

The sums run over the whole batch tensor at once (batch-global, as the
notebook's Keras function does), not one Dice per image.

One training step, written by hand:
    >>> loss = DiceLoss()
    >>> p = model.forward(x); value = loss.forward(y, p)
    >>> model.backward(loss.backward()); opt.step(model.params, model.grads)
"""

import numpy

from . import backend

EPSILON = 1e-7  # Keras's backend.epsilon(), the clipping margin of binary cross-entropy


def _as_pair(caller, y_true, y_pred):
    """y_true and y_pred on one device, in one float dtype (y_pred's, at least float32)."""
    true_shape, pred_shape = tuple(getattr(y_true, "shape", ())), tuple(getattr(y_pred, "shape", ()))
    if true_shape != pred_shape:
        raise ValueError(f"{caller}: y_true has shape {true_shape} but y_pred has shape {pred_shape}")
    xp = backend.get_array_module(y_true, y_pred)
    dtype = numpy.result_type(y_pred.dtype, numpy.float32)
    return xp, xp.asarray(y_true, dtype=dtype), xp.asarray(y_pred, dtype=dtype)


def dice_coefficient(y_true, y_pred, smooth=1e-7):
    """Soft Dice of the whole batch: (2 * sum(y * p) + smooth) / (sum(y) + sum(p) + smooth).

    y_true is the mask (0 / 1), y_pred the predicted probabilities, any equal
    shapes.  Returns a 0-d array in [0, 1] on their device: 1 for identical
    masks, ~0 for disjoint ones.

    Example:
        >>> dice_coefficient(masks, model.forward(images))     # array(0.83, dtype=float32)
    """
    xp, y_true, y_pred = _as_pair("dice_coefficient", y_true, y_pred)
    intersection = (y_true * y_pred).sum()
    # xp.asarray: NumPy's sum gives a scalar, and the contract is a 0-d array on both devices
    return xp.asarray((2 * intersection + smooth) / (y_true.sum() + y_pred.sum() + smooth))


class DiceLoss:
    """One minus the batch-global soft Dice coefficient (the article's training loss).

    Forward:   I = sum(y * p),  U = sum(y) + sum(p),  D = (2 I + s) / (U + s)
               L = 1 - D                                           (s = smooth = 1e-7)
    Backward:  dD/dp_i = (2 y_i (U + s) - (2 I + s)) / (U + s)^2 = (2 y_i - D) / (U + s)
               dL/dp_i = (D - 2 y_i) / (U + s)
    Shapes:    y_true, y_pred any equal shape (N, H, W, 1 for the U-Net) -> L a 0-d array
    Keras:     the notebook's ``dice_coef_loss`` (``1 - dice_coef``)

    K classes: for one-hot masks (N, H, W, K), K >= 2, with the background in channel 0
    (a softmax output), each foreground channel k = 1..K-1 has its own batch-global
    D_k (the sums above over that channel only), and

               L = 1 - (1 / (K - 1)) sum_{k>=1} D_k
               dL/dp_ik = (D_k - 2 y_ik) / ((K - 1) (U_k + s))   for k >= 1,   0 for k = 0

    The background is left out because it covers most of every slice: its Dice
    is near 1 whatever the network does, and averaging it in would hide the
    organs' errors.  Its probability learns only through the softmax, which ties
    it to the other channels, and that can fail for a rare class: a batch without
    any of class k has D_k ~ 0 whatever the network does (dL/dp_ik ~ 0), so
    nothing pushes that channel down on background pixels.  On the phantom with
    liver, spleen and pancreas (96 x 96, 12 epochs) the spleen channel won 98.7 %
    of the background pixels.  Any input of rank 4 with two or more channels is read this way.

    Example:
        >>> loss = DiceLoss()
        >>> value = loss.forward(masks, probabilities)    # 0-d array; float(value) to print
        >>> dp = loss.backward()                           # shaped like probabilities
    """

    def __init__(self, smooth=1e-7):
        self.smooth = float(smooth)
        self.y_true = None

    def forward(self, y_true, y_pred):
        xp, y_true, y_pred = _as_pair("DiceLoss", y_true, y_pred)
        self.y_true = y_true
        self.classes = y_pred.shape[-1] if y_pred.ndim == 4 and y_pred.shape[-1] >= 2 else 1
        if self.classes == 1:
            self.denominator = y_true.sum() + y_pred.sum() + self.smooth
            self.dice = (2 * (y_true * y_pred).sum() + self.smooth) / self.denominator
            return xp.asarray(1 - self.dice)
        # one D_k per channel: sums over N, H and W, channel by channel
        self.denominator = y_true.sum(axis=(0, 1, 2)) + y_pred.sum(axis=(0, 1, 2)) + self.smooth
        self.dice = (2 * (y_true * y_pred).sum(axis=(0, 1, 2)) + self.smooth) / self.denominator
        return xp.asarray(1 - self.dice[1:].mean())

    def backward(self):
        if self.y_true is None:
            raise RuntimeError("DiceLoss: backward called before forward")
        if self.classes == 1:
            return (self.dice - 2 * self.y_true) / self.denominator
        weight = 1 / ((self.classes - 1) * self.denominator)
        weight[0] = 0                               # the background is not in the loss
        return (self.dice - 2 * self.y_true) * weight


class BinaryCrossentropy:
    """Mean binary cross-entropy of probabilities, clipped as Keras clips them.

    Forward:   q_i = clip(p_i, eps, 1 - eps)                        (eps = 1e-7)
               L = -(1 / n) sum_i [ y_i log(q_i) + (1 - y_i) log(1 - q_i) ]   (n elements)
    Backward:  dL/dp_i = (q_i - y_i) / (n q_i (1 - q_i))   where eps <= p_i <= 1 - eps
               dL/dp_i = 0                                 where the clip is active
    Shapes:    y_true, y_pred any equal shape -> L a 0-d array (the mean over every element)
    Keras:     keras.losses.BinaryCrossentropy(from_logits=False)

    The clip keeps both logarithms finite: a prediction of exactly 0 or 1 costs
    at most -log(1e-7) ~ 16.1 per pixel instead of inf.  Its gradient is zero
    outside the clip range, as the gradient of a clip is.

    Example:
        >>> bce = BinaryCrossentropy()
        >>> value = bce.forward(masks, probabilities); dp = bce.backward()
    """

    def __init__(self, epsilon=EPSILON):
        self.epsilon = float(epsilon)
        self.y_true = None

    def forward(self, y_true, y_pred):
        xp, y_true, y_pred = _as_pair("BinaryCrossentropy", y_true, y_pred)
        self.y_true = y_true
        self.q = xp.clip(y_pred, self.epsilon, 1 - self.epsilon)
        self.inside = (y_pred >= self.epsilon) & (y_pred <= 1 - self.epsilon)
        log_likelihood = y_true * xp.log(self.q) + (1 - y_true) * xp.log(1 - self.q)
        return xp.asarray(-log_likelihood.mean())

    def backward(self):
        if self.y_true is None:
            raise RuntimeError("BinaryCrossentropy: backward called before forward")
        q = self.q
        return (q - self.y_true) / (q * (1 - q) * q.size) * self.inside
