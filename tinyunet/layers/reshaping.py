"""UpSampling2D: nearest-neighbour or bilinear upsampling by an integer factor per axis.

interpolation="nearest" (the default, Keras's):
    Forward:   y[n, h, w, c] = x[n, h // sh, w // sw, c]
    Backward:  dL/dx[n, i, j, c] = sum over the sh x sw block of dL/dy that copied x[n, i, j, c]
interpolation="bilinear" (Keras's; torch's interpolate(mode="bilinear", align_corners=False)):
    Forward:   Y = A_h X A_w^T per image and channel; row o of the (H * sh, H) matrix A_h
               weighs pixels i and i + 1 by (1 - f, f), where t = max((o + 0.5) / sh - 0.5, 0),
               i = floor(t), f = t - i (half-pixel centres; the last pixel repeats past the edge)
    Backward:  dL/dX = A_h^T dL/dY A_w            (the adjoint of the interpolation)
Shapes:    x (N, H, W, C) -> y (N, H * sh, W * sw, C)
Keras:     keras.layers.UpSampling2D(size=2, interpolation="nearest")

The notebook's preset uses it, followed by a 2 x 2 convolution, where the
article's preset has a transposed convolution.  The maths (and why bilinear
needs no CUDA twin: its products are cuBLAS GEMMs) is in tinyunet/kernels/upsampling.py.

Example:
    >>> up = UpSampling2D(2, interpolation="bilinear")
    >>> y = up.forward(x)        # (16, 16, 16, 64) -> (16, 32, 32, 64)
    >>> dx = up.backward(dy)     # dy: (16, 32, 32, 64) -> (16, 16, 16, 64)
"""

from ..kernels import upsampling
from ..shapes import as_pair
from .base import Layer

INTERPOLATIONS = ("nearest", "bilinear")


class UpSampling2D(Layer):
    """Upsample rows and columns ``size`` times by nearest-neighbour or bilinear interpolation.

    Args:
        size: an int or a pair (sh, sw) of positive ints.
        interpolation: "nearest" or "bilinear".
    """

    def __init__(self, size=2, interpolation="nearest", name=None):
        super().__init__(name=name)
        self.size = as_pair(size, "size", self.name)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{self.name}: interpolation must be one of {', '.join(map(repr, INTERPOLATIONS))}, "
                             f"not {interpolation!r}")
        self.interpolation = interpolation
        self.in_shape = None
        self.matrices = None   # (A_h, A_w) on the layer's device and dtype, for inputs of matrices_size
        self.matrices_size = None

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}

    def output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, h * self.size[0], w * self.size[1], c)

    def interpolation_matrices(self, h, w):
        """(A_h, A_w) for an H x W input, built once per input size."""
        if self.matrices_size != (h, w):
            self.matrices = (self.as_layer_array(upsampling.interpolation_matrix(h, self.size[0])),
                             self.as_layer_array(upsampling.interpolation_matrix(w, self.size[1])))
            self.matrices_size = (h, w)
        return self.matrices

    def forward(self, x):
        x = self.prepare_input(x)
        self.in_shape = x.shape
        if self.interpolation == "nearest":
            return upsampling.upsample_nearest(x, self.size)
        return upsampling.upsample_bilinear(x, *self.interpolation_matrices(*x.shape[1:3]))

    def backward(self, dy):
        expected = None if self.in_shape is None else self.output_shape(self.in_shape)
        dy = self.check_backward_ready(dy, expected)
        if self.interpolation == "nearest":
            return upsampling.upsample_nearest_backward(dy, self.size)
        return upsampling.upsample_bilinear_backward(dy, *self.interpolation_matrices(*self.in_shape[1:3]))
