"""Weight initialisers, as Keras defines them.

    he_normal       truncated normal, mean 0, stddev sqrt(2 / fan_in) / 0.8796...,
                    redrawn outside two standard deviations (He et al. 2015; the
                    0.8796 corrects the variance lost to the truncation)
    glorot_uniform  uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out))
    zeros           all zeros (biases, beta);  ones (gamma)

Fans of a kernel of shape (kh, kw, a, b) are fan_in = kh * kw * a and
fan_out = kh * kw * b (Keras reads the last two axes the same way for
Conv2DTranspose, whose kernel is (kh, kw, filters, in_channels)).

Draws are made with NumPy from the given seed or numpy Generator and then
moved to the active device, so a seed gives the same weights on CPU and GPU.

Example:
    >>> rng = numpy.random.default_rng(0)
    >>> kernel = he_normal((3, 3, 8, 16), rng)
"""

import math

import numpy

from . import backend

# stddev of a unit normal truncated to [-2, 2]
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, as Keras computes them."""
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _generator(seed):
    if isinstance(seed, numpy.random.Generator):
        return seed
    return numpy.random.default_rng(seed)


def he_normal(shape, seed=None, dtype="float32"):
    """Keras's he_normal: truncated normal with stddev sqrt(2 / fan_in) / 0.8796."""
    rng = _generator(seed)
    fan_in, _ = compute_fans(shape)
    stddev = math.sqrt(2.0 / max(fan_in, 1)) / _TRUNCATED_STDDEV
    values = rng.standard_normal(shape)
    outside = numpy.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = numpy.abs(values) > 2.0
    return backend.to_device(values * stddev, dtype=dtype)


def glorot_uniform(shape, seed=None, dtype="float32"):
    """Keras's glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""
    rng = _generator(seed)
    fan_in, fan_out = compute_fans(shape)
    limit = math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return backend.to_device(rng.uniform(-limit, limit, size=shape), dtype=dtype)


def zeros(shape, seed=None, dtype="float32"):
    """All zeros (the seed is accepted so every initialiser has one signature)."""
    return backend.xp.zeros(shape, dtype=dtype)


def ones(shape, seed=None, dtype="float32"):
    """All ones."""
    return backend.xp.ones(shape, dtype=dtype)


_BY_NAME = {"he_normal": he_normal, "glorot_uniform": glorot_uniform, "zeros": zeros, "ones": ones}


def get(initializer):
    """An initialiser from its Keras name, or a callable (shape, seed, dtype) as it is."""
    if callable(initializer):
        return initializer
    try:
        return _BY_NAME[initializer]
    except KeyError:
        raise ValueError(f"unknown initializer {initializer!r}; choose one of {sorted(_BY_NAME)}") from None
