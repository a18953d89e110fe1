"""UpSampling2D: nearest-neighbour upsampling, each pixel repeated into a block.

Forward:   y[n, h, w, c] = x[n, h // sh, w // sw, c]
Backward:  dL/dx[n, i, j, c] = sum over the sh x sw block of dL/dy that copied x[n, i, j, c]
Shapes:    x (N, H, W, C) -> y (N, H * sh, W * sw, C)
Keras:     keras.layers.UpSampling2D(size=2)   (interpolation="nearest")

The notebook's preset uses it, followed by a 2 x 2 convolution, where the
article's preset has a transposed convolution.

Example:
    >>> up = UpSampling2D(2)
    >>> y = up.forward(x)        # (16, 16, 16, 64) -> (16, 32, 32, 64)
    >>> dx = up.backward(dy)     # dy: (16, 32, 32, 64) -> (16, 16, 16, 64)
"""

from ..shapes import as_pair
from .base import Layer


class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times (nearest-neighbour upsampling)."""

    def __init__(self, size=2, name=None):
        super().__init__(name=name)
        self.size = as_pair(size, "size", self.name)
        self.in_shape = None

    def output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, h * self.size[0], w * self.size[1], c)

    def forward(self, x):
        x = self.prepare_input(x)
        self.in_shape = x.shape
        sh, sw = self.size
        return self.xp.repeat(self.xp.repeat(x, sh, axis=1), sw, axis=2)

    def backward(self, dy):
        expected = None if self.in_shape is None else self.output_shape(self.in_shape)
        dy = self.check_backward_ready(dy, expected)
        n, h, w, c = self.in_shape
        sh, sw = self.size
        return dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))
