"""ReLU, Sigmoid and Softmax, as layers and as the activations fused into Conv2D.

    ReLU     forward  y = max(x, 0)
             backward dL/dx = dL/dy * [x > 0]          ([y > 0] is the same set)
    Sigmoid  forward  y = 1 / (1 + exp(-x)), computed as
                      e = exp(-|x|);  y = 1 / (1 + e) for x >= 0,  e / (1 + e) for x < 0
                      so that no exp overflows (x = +-1000 gives exactly 1 and 0)
             backward dL/dx = dL/dy * y * (1 - y)
    Softmax  forward  y_k = exp(x_k - m) / sum_j exp(x_j - m) along one axis (the channels),
                      m = max_j x_j, so that no exp overflows (x = +-1000 gives no inf or NaN)
             backward dL/dx = y * (dL/dy - sum(dL/dy * y, axis))

Every backward rule needs only the output y, so a fused layer keeps y alone.
Sigmoid gives one probability per pixel (one class against the rest); Softmax
gives K that sum to 1, one per class: "softmax is the equivalent function when
we have a multiclass problem", as the article says.
The maths (and the bias + activation epilogue of the convolutions, with its
CUDA twin) is in tinyunet/kernels/activation.py.

Shapes: x (N, H, W, C) -> y (N, H, W, C), element by element (Softmax: along its axis).
Keras:  ``layers.ReLU()``, ``layers.Activation("sigmoid")``, ``layers.Softmax(axis=-1)``
        or ``activation="relu"`` (``"softmax"``: over the channels).

Example:
    >>> relu = ReLU()
    >>> y = relu.forward(x)        # (16, 256, 256, 8) -> same shape, negatives set to 0
    >>> dx = relu.backward(dy)     # dy where x > 0, else 0
"""

from ..kernels.activation import (ACTIVATIONS, activate, activation_backward, check_activation, sigmoid, softmax,
                                  softmax_backward)
from .base import Layer

__all__ = ["ReLU", "Sigmoid", "Softmax", "ACTIVATIONS", "activate", "activation_backward", "check_activation",
           "sigmoid", "softmax"]


class _Activation(Layer):
    """An element-wise activation layer: y = act(x), dL/dx from dL/dy and y alone."""

    activation = None   # the name kernels.activation knows it by

    def __init__(self, name=None):
        super().__init__(name=name)
        self.y = None

    def forward(self, x):
        x = self.prepare_input(x)
        self.y = activate(self.activation, x)
        return self.y

    def backward(self, dy):
        dy = self.check_backward_ready(dy, None if self.y is None else self.y.shape)
        return activation_backward(self.activation, self.y, dy)


class ReLU(_Activation):
    """Rectified linear unit: y = max(x, 0); dL/dx = dL/dy * [x > 0].

    Shapes: any NHWC input; the output has the same shape.
    """

    activation = "relu"


class Sigmoid(_Activation):
    """Logistic sigmoid: y = 1 / (1 + exp(-x)); dL/dx = dL/dy * y * (1 - y).

    Maps each value to a probability in [0, 1]; the U-Net's last layer uses it.
    Shapes: any NHWC input; the output has the same shape.
    """

    activation = "sigmoid"


class Softmax(Layer):
    """Softmax along ``axis``: y = exp(x - max) / sum(exp(x - max)); dL/dx = y * (dL/dy - sum(dL/dy * y)).

    Args:
        axis: the axis whose values become probabilities summing to 1 (-1: the channels).
    Shapes: any NHWC input; the output has the same shape.
    """

    def __init__(self, axis=-1, name=None):
        super().__init__(name=name)
        if isinstance(axis, bool) or not isinstance(axis, int) or not -4 <= axis <= 3:
            raise ValueError(f"{self.name}: axis must be an int from -4 to 3 (NHWC), not {axis!r}")
        self.axis = axis
        self.y = None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def forward(self, x):
        x = self.prepare_input(x)
        self.y = softmax(x, self.axis)
        return self.y

    def backward(self, dy):
        dy = self.check_backward_ready(dy, None if self.y is None else self.y.shape)
        return softmax_backward(self.y, dy, self.axis)
