"""Weight initialisers, as Keras defines them (the article: "There are other initialization
functions available ... the user is encouraged to experiment with them").

Variance scaling (He, Glorot, LeCun): a spread chosen from the fans so that the variance of
the activations stays about the same from layer to layer.

    name             distribution                          spread
    he_normal        truncated normal, mean 0              stddev sqrt(2 / fan_in) / 0.8796...
    he_uniform       uniform on [-limit, limit]            limit sqrt(6 / fan_in)
    glorot_normal    truncated normal, mean 0              stddev sqrt(2 / (fan_in + fan_out)) / 0.8796...
    glorot_uniform   uniform on [-limit, limit]            limit sqrt(6 / (fan_in + fan_out))
    lecun_normal     truncated normal, mean 0              stddev sqrt(1 / fan_in) / 0.8796...
    lecun_uniform    uniform on [-limit, limit]            limit sqrt(3 / fan_in)
    random_normal    normal, mean 0 (not truncated)        stddev 0.05
    random_uniform   uniform on [-0.05, 0.05]
    zeros, ones      constants (biases and beta; gamma)

"Truncated" draws are redrawn while outside two standard deviations; 0.8796... is the standard
deviation of a unit normal cut to [-2, 2], so dividing by it gives the truncated draw exactly the
variance named (sqrt(2 / fan_in) for He: He et al. 2015). Every *_uniform limit is the one
whose uniform distribution has that same variance (limit = sqrt(3) * stddev).

Fans of a kernel of shape (kh, kw, a, b) are fan_in = kh * kw * a and fan_out = kh * kw * b
(Keras reads the last two axes the same way for Conv2DTranspose, whose kernel is
(kh, kw, filters, in_channels)).

Draws are made with NumPy from the given seed or numpy Generator and then moved to the active
device, so a seed gives the same weights on CPU and GPU. Every initialiser has the signature
``(shape, seed=None, dtype="float32")``; ``get(name)`` finds one by its Keras name.

Example:
    >>> rng = numpy.random.default_rng(0)
    >>> kernel = he_normal((3, 3, 8, 16), rng)
    >>> Conv2D(8, 3, kernel_initializer="lecun_uniform")
"""

import math

import numpy

from . import backend

# stddev of a unit normal truncated to [-2, 2]
_TRUNCATED_STDDEV = 0.87962566103423978
# Keras's RandomNormal / RandomUniform defaults
RANDOM_STDDEV = 0.05
RANDOM_LIMIT = 0.05


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


def _truncated_normal(rng, shape, stddev):
    """N(0, stddev^2 / 0.8796^2) redrawn outside two of its standard deviations: variance stddev^2."""
    values = rng.standard_normal(shape)
    outside = numpy.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = numpy.abs(values) > 2.0
    return values * (stddev / _TRUNCATED_STDDEV)


# the fan a variance-scaling mode divides by, as its formula reads
FAN_FORMULA = {"fan_in": "fan_in", "fan_avg": "(fan_in + fan_out) / 2"}


def _scale(shape, scale, mode):
    """The variance-scaling spread sqrt(scale / n), n the fan named by ``mode``."""
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return math.sqrt(scale / max(n, 1))


def _variance_scaling(scale, mode, distribution, name):
    """A Keras VarianceScaling initialiser: truncated normal or uniform with variance scale / n."""

    def initializer(shape, seed=None, dtype="float32"):
        rng, stddev = _generator(seed), _scale(shape, scale, mode)
        if distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, stddev)
        else:
            limit = math.sqrt(3.0) * stddev
            values = rng.uniform(-limit, limit, size=shape)
        return backend.to_device(values, dtype=dtype)

    initializer.__name__ = initializer.__qualname__ = name
    initializer.variance_scaling = (scale, mode)
    initializer.__doc__ = (f"Keras's {name}: {distribution.replace('_', ' ')} with variance "
                           f"{scale:g} / {FAN_FORMULA[mode]}.")
    return initializer


he_normal = _variance_scaling(2.0, "fan_in", "truncated_normal", "he_normal")
he_uniform = _variance_scaling(2.0, "fan_in", "uniform", "he_uniform")
glorot_normal = _variance_scaling(1.0, "fan_avg", "truncated_normal", "glorot_normal")
glorot_uniform = _variance_scaling(1.0, "fan_avg", "uniform", "glorot_uniform")
lecun_normal = _variance_scaling(1.0, "fan_in", "truncated_normal", "lecun_normal")
lecun_uniform = _variance_scaling(1.0, "fan_in", "uniform", "lecun_uniform")


def random_normal(shape, seed=None, dtype="float32"):
    """Keras's RandomNormal(): N(0, 0.05^2), not truncated."""
    return backend.to_device(_generator(seed).normal(0.0, RANDOM_STDDEV, size=shape), dtype=dtype)


def random_uniform(shape, seed=None, dtype="float32"):
    """Keras's RandomUniform(): U(-0.05, 0.05)."""
    return backend.to_device(_generator(seed).uniform(-RANDOM_LIMIT, RANDOM_LIMIT, size=shape), dtype=dtype)


def zeros(shape, seed=None, dtype="float32"):
    """All zeros (the seed is accepted so every initialiser has one signature)."""
    return backend.xp.zeros(shape, dtype=dtype)


def ones(shape, seed=None, dtype="float32"):
    """All ones."""
    return backend.xp.ones(shape, dtype=dtype)


INITIALIZERS = {f.__name__: f for f in (he_normal, he_uniform, glorot_normal, glorot_uniform, lecun_normal,
                                        lecun_uniform, random_normal, random_uniform, zeros, ones)}


def target_stddev(initializer, shape):
    """(formula, value): the standard deviation the named Keras initialiser gives weights of
    this shape, e.g. ("sqrt(2 / fan_in)", 0.118) for he_normal and a 3 x 3 x 16 kernel; None for
    an initialiser that is not one of Keras's (a callable of one's own)."""
    function = INITIALIZERS.get(initializer) if isinstance(initializer, str) else initializer
    if function is None or function not in INITIALIZERS.values():
        return None
    if hasattr(function, "variance_scaling"):
        scale, mode = function.variance_scaling
        fan = FAN_FORMULA[mode] if mode == "fan_in" else f"({FAN_FORMULA[mode]})"
        return f"sqrt({scale:g} / {fan})", _scale(shape, scale, mode)
    return {random_normal: ("0.05", RANDOM_STDDEV), random_uniform: ("0.05 / sqrt(3)", RANDOM_LIMIT / math.sqrt(3.0)),
            zeros: ("0 (a constant)", 0.0), ones: ("0 (a constant)", 0.0)}[function]


def get(initializer):
    """An initialiser from its Keras name, or a callable (shape, seed, dtype) as it is."""
    if callable(initializer):
        return initializer
    try:
        return INITIALIZERS[initializer]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initializer {initializer!r}; choose one of {sorted(INITIALIZERS)}") from None
