"""Hypothesis strategies shared by the test modules (minitorch's habit)."""

import numpy
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**32 - 1)
paddings = st.sampled_from(["same", "valid"])
activations = st.sampled_from([None, "linear", "relu", "sigmoid"])


@st.composite
def nhwc_shapes(draw, min_side=1, max_side=8, max_batch=3, max_channels=4):
    """A small NHWC shape."""
    return (draw(st.integers(1, max_batch)), draw(st.integers(min_side, max_side)),
            draw(st.integers(min_side, max_side)), draw(st.integers(1, max_channels)))


def normal_array(seed, shape, dtype="float64"):
    """Standard normal values from a seed (NumPy; move with backend.to_device)."""
    return numpy.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --- layer test helpers: settings for @given tests that take the xp fixture, and central
# differences (the layer tests' own; tinyunet.gradcheck is the public utility) ---

from hypothesis import HealthCheck, settings  # noqa: E402

from tinyunet import backend  # noqa: E402

# the xp fixture only selects the backend, so sharing it across a test's examples is safe
XP_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
             HealthCheck.filter_too_much]


def xp_settings(**kwargs):
    """settings() for a @given test that takes the xp fixture (the "ci" profile otherwise)."""
    return settings(suppress_health_check=XP_HEALTH, **kwargs)


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
