"""ReLU and Sigmoid, as layers and as the activations fused into Conv2D.

    ReLU     forward  y = max(x, 0)
             backward dL/dx = dL/dy * [x > 0]          ([y > 0] is the same set)
    Sigmoid  forward  y = 1 / (1 + exp(-x)), computed as
                      e = exp(-|x|);  y = 1 / (1 + e) for x >= 0,  e / (1 + e) for x < 0
                      so that no exp overflows (x = +-1000 gives exactly 1 and 0)
             backward dL/dx = dL/dy * y * (1 - y)

Both backward rules need only the output y, so a fused layer keeps y alone.

Shapes: x (N, H, W, C) -> y (N, H, W, C), element by element.
Keras:  ``layers.ReLU()``, ``layers.Activation("sigmoid")`` or ``activation="relu"``.

Example:
    >>> relu = ReLU()
    >>> y = relu.forward(x)        # (16, 256, 256, 8) -> same shape, negatives set to 0
    >>> dx = relu.backward(dy)     # dy where x > 0, else 0
"""

from .. import backend
from .base import Layer

ACTIVATIONS = ("linear", "relu", "sigmoid")


def check_activation(activation, layer="layer"):
    """The activation's name ('linear' for None), or a ValueError naming the layer."""
    name = "linear" if activation is None else str(activation).lower()
    if name not in ACTIVATIONS:
        raise ValueError(f"{layer}: activation must be None, 'linear', 'relu' or 'sigmoid', not {activation!r}")
    return name


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow for any finite x."""
    xp = backend.get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def activate(name, z):
    """y = act(z) for 'linear', 'relu' or 'sigmoid'."""
    if name == "relu":
        return backend.get_array_module(z).maximum(z, 0)
    if name == "sigmoid":
        return sigmoid(z)
    return z


def activation_backward(name, y, dy):
    """dL/dz from dL/dy and the activation's output y."""
    if name == "relu":
        return dy * (y > 0)
    if name == "sigmoid":
        return dy * y * (1 - y)
    return dy


class ReLU(Layer):
    """Rectified linear unit: y = max(x, 0); dL/dx = dL/dy * [x > 0].

    Shapes: any NHWC input; the output has the same shape.
    """

    def __init__(self, name=None):
        super().__init__(name=name)
        self.y = None

    def forward(self, x):
        x = self.prepare_input(x)
        self.y = activate("relu", x)
        return self.y

    def backward(self, dy):
        dy = self.check_backward_ready(dy, None if self.y is None else self.y.shape)
        return activation_backward("relu", self.y, dy)


class Sigmoid(Layer):
    """Logistic sigmoid: y = 1 / (1 + exp(-x)); dL/dx = dL/dy * y * (1 - y).

    Maps each value to a probability in [0, 1]; the U-Net's last layer uses it.
    Shapes: any NHWC input; the output has the same shape.
    """

    def __init__(self, name=None):
        super().__init__(name=name)
        self.y = None

    def forward(self, x):
        x = self.prepare_input(x)
        self.y = activate("sigmoid", x)
        return self.y

    def backward(self, dy):
        dy = self.check_backward_ready(dy, None if self.y is None else self.y.shape)
        return activation_backward("sigmoid", self.y, dy)
