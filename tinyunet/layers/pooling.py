"""MaxPooling2D: the largest value of each window, and the gradient routed back to it.

Forward:   y[n, oh, ow, c] = max_{i < ph, j < pw} x[n, oh*sh + i, ow*sw + j, c]
           argmax[n, oh, ow, c] = the window position (i * pw + j) of the FIRST
           maximum in row-major order, kept for backward (as PyTorch does)
Backward:  dL/dx[n, oh*sh + i, ow*sw + j, c] += dL/dy[n, oh, ow, c]  where i * pw + j == argmax
           (each window's gradient goes to exactly one element, even when it has ties;
           with overlapping windows, contributions add up)
Shapes:    x (N, H, W, C) -> y (N, Ho, Wo, C), Ho = (H - ph) / sh + 1 ("valid" padding);
           the windows must tile the input exactly: (H - ph) % sh == 0 (H % 2 == 0 for
           the default 2 x 2 pool), otherwise a ValueError names the sizes (Keras
           would silently drop the last rows or columns).
Keras:     keras.layers.MaxPooling2D(pool_size=2, strides=None, padding="valid")

Example:
    >>> pool = MaxPooling2D(2)
    >>> y = pool.forward(x)        # (16, 256, 256, 8) -> (16, 128, 128, 8)
    >>> dx = pool.backward(dy)     # dy: (16, 128, 128, 8) -> (16, 256, 256, 8)
"""

from .. import kernels
from ..shapes import as_pair, check_padding, pool_output_size
from .base import Layer


class MaxPooling2D(Layer):
    """Max pooling over pool_size windows, strides defaulting to pool_size, 'valid' padding."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name)
        self.pool_size = as_pair(pool_size, "pool_size", self.name)
        self.strides = self.pool_size if strides is None else as_pair(strides, "strides", self.name)
        if check_padding(padding, self.name) != "valid":
            raise ValueError(f"{self.name}: only padding='valid' is supported for max pooling")
        self.padding = "valid"
        self.argmax = None

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}

    def output_shape(self, input_shape):
        """(N, Ho, Wo, C); a ValueError (naming the nearest size that fits) when the windows do not
        tile the input exactly, as forward would raise."""
        n, h, w, c = input_shape
        self._check_tiling(tuple(input_shape))
        return (n, *pool_output_size((h, w), self.pool_size, self.strides), c)

    def _check_tiling(self, shape):
        h, w = shape[1:3]
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        if h < ph or w < pw or (h - ph) % sh or (w - pw) % sw:
            fit_h = ph if h < ph else h - (h - ph) % sh   # the nearest size that tiles, not above h
            fit_w = pw if w < pw else w - (w - pw) % sw
            raise ValueError(
                f"{self.name}: input {shape} is not tiled exactly by {ph}x{pw} windows "
                f"with strides {sh}x{sw}: height - {ph} and width - {pw} must be multiples of the "
                f"strides (a multiple of the pool size when strides = pool size; e.g. {fit_h}x{fit_w})")

    def forward(self, x):
        x = self.prepare_input(x)
        self._check_tiling(tuple(x.shape))
        self.in_shape = x.shape
        # the window maths (one pass per window position, the first maximum kept) is kernels.pooling.max_pool_xp
        y, self.argmax = kernels.max_pool(x, self.pool_size, self.strides)
        return y

    def backward(self, dy):
        expected = None if self.argmax is None else self.argmax.shape
        dy = self.check_backward_ready(dy, expected)
        # dx[window position argmax] += dy: kernels.pooling.max_pool_backward_xp
        return kernels.max_pool_backward(dy, self.argmax, self.in_shape, self.pool_size, self.strides)
