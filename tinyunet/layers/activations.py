"""ReLU and Sigmoid, as layers and as the activations fused into Conv2D.

    ReLU     forward  y = max(x, 0)
             backward dL/dx = dL/dy * [x > 0]          ([y > 0] is the same set)
    Sigmoid  forward  y = 1 / (1 + exp(-x)), computed as
                      e = exp(-|x|);  y = 1 / (1 + e) for x >= 0,  e / (1 + e) for x < 0
                      so that no exp overflows (x = +-1000 gives exactly 1 and 0)
             backward dL/dx = dL/dy * y * (1 - y)

Both backward rules need only the output y, so a fused layer keeps y alone.
The maths (and the bias + activation epilogue of the convolutions, with its
CUDA twin) is in tinyunet/kernels/activation.py.

Shapes: x (N, H, W, C) -> y (N, H, W, C), element by element.
Keras:  ``layers.ReLU()``, ``layers.Activation("sigmoid")`` or ``activation="relu"``.

Example:
    >>> relu = ReLU()
    >>> y = relu.forward(x)        # (16, 256, 256, 8) -> same shape, negatives set to 0
    >>> dx = relu.backward(dy)     # dy where x > 0, else 0
"""

from ..kernels.activation import ACTIVATIONS, activate, activation_backward, check_activation, sigmoid
from .base import Layer

__all__ = ["ReLU", "Sigmoid", "ACTIVATIONS", "activate", "activation_backward", "check_activation", "sigmoid"]


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
