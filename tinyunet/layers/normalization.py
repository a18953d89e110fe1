"""LayerNormalization as the article's notebook defines it (Cell 3).

Per sample n, over all of H, W and C (m = H * W * C values):

Forward:   mu = mean(x),  sigma = sqrt(mean((x - mu)^2))     (population std)
           xhat = (x - mu) / (sigma + eps)                   eps = 1e-7
           y = xhat                       (center=False, scale=False: the notebook's)
           y = gamma[c] * xhat + beta[c]  (scale / center: optional per-channel weights)
Backward:  with d = sigma + eps, g = dL/dxhat (= dL/dy * gamma when scaled):
           dL/dx = (g - mean(g)) / d  -  xhat * mean(g * xhat) / sigma
           dL/dgamma[c] = sum_{n, h, w} dL/dy * xhat     dL/dbeta[c] = sum_{n, h, w} dL/dy
           (the first term is the mean's path, the second the std's: d sigma / dx_i = (x_i - mu) / (m sigma))
Shapes:    x (N, H, W, C) -> y, same shape; gamma, beta (C,) when present
Keras:     the notebook's own function; keras.layers.LayerNormalization(axis=(1, 2, 3),
           epsilon=..., center=False, scale=False) is close, but adds eps to the variance.

The notebook divides by the std first and subtracts the mean of the result;
that is the same function, since mean(x / s) = mean(x) / s.

Example:
    >>> norm = LayerNormalization()
    >>> y = norm.forward(x)      # each sample: mean 0, std sigma / (sigma + eps) ~ 1
    >>> dx = norm.backward(dy)   # same shape as x
"""

from .. import initializers, kernels
from .base import Layer


class LayerNormalization(Layer):
    """Normalise each sample over H, W and C to mean 0 and standard deviation ~1."""

    def __init__(self, epsilon=1e-7, center=False, scale=False, name=None):
        super().__init__(name=name)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.weighted = self.center or self.scale
        self.xhat = None

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale}

    def make_params(self, input_shape):
        params = {}
        if self.scale:
            params["gamma"] = initializers.ones((input_shape[-1],), dtype=self.dtype)
        if self.center:
            params["beta"] = initializers.zeros((input_shape[-1],), dtype=self.dtype)
        return params

    def input_channels(self):
        return self.input_shape[-1] if self.params else None

    def forward(self, x):
        x = self.prepare_input(x)
        # xhat = (x - mean) / (std + eps) per sample: kernels.normalization.layer_norm_xp
        self.xhat, self.sigma, self.denominator = kernels.layer_norm(x, self.epsilon)
        y = self.xhat
        if self.scale:
            y = y * self.params["gamma"]
        if self.center:
            y = y + self.params["beta"]
        return y

    def backward(self, dy):
        dy = self.check_backward_ready(dy, None if self.xhat is None else self.xhat.shape)
        xhat = self.xhat
        c = xhat.shape[-1]
        if self.scale:
            self.grads["gamma"] = (dy * xhat).reshape(-1, c).sum(axis=0)
            g = dy * self.params["gamma"]
        else:
            g = dy
        if self.center:
            self.grads["beta"] = dy.reshape(-1, c).sum(axis=0)
        # dL/dx = (g - mean(g)) / d - xhat * mean(g * xhat) / sigma: kernels.normalization.layer_norm_backward_xp
        return kernels.layer_norm_backward(g, xhat, self.sigma, self.denominator)
