"""Helpers shared by the test modules: arrays from seeds, central differences, relative errors,
bad-input checks.

tinyunet.gradcheck is the public gradient check; the layer tests use these
entry-by-entry central differences of their own, so that a bug in gradcheck
cannot hide a bug in a layer.
"""

import os
import re

import numpy
import pytest
from hypothesis import HealthCheck, settings

from tinyunet import backend

# the xp fixture only selects the backend, so sharing it across a test's examples is safe
XP_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
             HealthCheck.filter_too_much]


def xp_settings(**kwargs):
    """settings() for a @given test that takes the xp fixture (the "ci" profile otherwise).

    Under HYPOTHESIS_PROFILE=gpu a test's own max_examples is capped at the profile's, so the
    whole gpu test set fits one short run on a lent GPU."""
    if os.environ.get("HYPOTHESIS_PROFILE") == "gpu" and "max_examples" in kwargs:
        kwargs["max_examples"] = min(kwargs["max_examples"], settings.get_profile("gpu").max_examples)
    return settings(suppress_health_check=XP_HEALTH, **kwargs)


def to_numpy(a):
    """a as a NumPy array, wherever it lives."""
    return backend.asnumpy(a)


def normal_array(seed, shape, dtype="float64"):
    """Standard normal values from a seed, or a numpy Generator's next draws (NumPy; move with backend.to_device)."""
    return numpy.random.default_rng(seed).standard_normal(shape).astype(dtype)


def numerical_gradient(f, a, eps=1e-6):
    """d f() / d a by central differences, entry by entry; a (NumPy or CuPy) is nudged in place and restored."""
    grad = numpy.zeros(a.shape)
    for index in numpy.ndindex(*a.shape):
        old = float(a[index])
        a[index] = old + eps
        plus = float(f())
        a[index] = old - eps
        minus = float(f())
        a[index] = old
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| over the larger of max |a| and max |b| (absolute when both are ~0)."""
    a, b = backend.asnumpy(a).astype(numpy.float64), backend.asnumpy(b).astype(numpy.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    scale = max(numpy.abs(a).max(), numpy.abs(b).max())
    diff = numpy.abs(a - b).max()
    return float(diff / scale) if scale > 1e-8 else float(diff)


def layer_gradient_errors(layer, x, seed):
    """Relative errors of layer.backward against central differences of L = <layer(x), r>.

    r is a random upstream gradient; returns {"x": ..., <param>: ...} and checks that
    grads has exactly the keys of params.
    """
    y = layer.forward(x)
    r = backend.to_device(normal_array(seed, y.shape))
    dx = backend.asnumpy(layer.backward(r)).copy()
    grads = {key: backend.asnumpy(g).copy() for key, g in layer.grads.items()}
    assert set(grads) == set(layer.params), (sorted(grads), sorted(layer.params))

    def loss():
        return (layer.forward(x) * r).sum()

    errors = {"x": relative_error(dx, numerical_gradient(loss, x))}
    for key, p in layer.params.items():
        errors[key] = relative_error(grads[key], numerical_gradient(loss, p))
    return errors


def assert_refuses_bad_arrays(layer, low_rank_shape, non_finite, word):
    """layer.forward refuses, with a ValueError, an array that is not 4-D and the 4-D array non_finite.

    Both messages name the layer and the shape; the second also names word (e.g. "NaN").
    """
    for x, after in ((numpy.zeros(low_rank_shape), ""), (non_finite, ".*" + word)):
        with pytest.raises(ValueError, match=f"{layer.name}.*{re.escape(str(x.shape))}{after}"):
            layer.forward(backend.to_device(x))
