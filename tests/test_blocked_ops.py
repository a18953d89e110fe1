"""The element-wise and per-sample ops on NumPy, block by block on every core, against their xp forms.

Max pooling, LayerNormalization, the activations and the convolution's epilogue, and the big
copies (concatenate, split, pad) run their readable xp form on blocks of rows (or on each
sample) on the cpu_threads pool.  They only cut the work up, so each must give the xp form's
numbers exactly, on 1-3 threads, with tiny blocks so that every shape has many of them, and
whatever is left at the edges (odd sizes, the rows a 'valid' pooling does not reach,
overlapping windows).
"""

import numpy
import pytest

from tinyunet import kernels
from tinyunet.kernels import activation, copies, cpu_threads, dispatch, normalization, pooling

from helpers import normal_array

pytestmark = pytest.mark.skipif(not cpu_threads.available(),
                                reason="no OpenBLAS found: the ops keep their xp forms, nothing to compare")


POOLS = [  # (shape, pool_size, strides)
    ((3, 8, 8, 4), (2, 2), (2, 2)), ((2, 9, 7, 3), (2, 2), (2, 2)), ((2, 11, 10, 2), (3, 3), (2, 2)),
    ((1, 12, 12, 5), (3, 2), (3, 2)), ((3, 7, 9, 1), (2, 3), (3, 4)), ((4, 5, 5, 2), (5, 5), (1, 1)),
]


def _with_ties(shape, seed):
    """Normal values rounded to quarters, so that windows hold ties (the first maximum must win)."""
    return numpy.round(normal_array(seed, shape) * 4) / 4


@pytest.mark.parametrize("shape,pool_size,strides", POOLS)
def test_blocked_max_pool_is_the_xp_form(shape, pool_size, strides, small_blocks):
    x = _with_ties(shape, 0)
    y, argmax = pooling.max_pool_blocked(x, pool_size, strides)
    y_ref, argmax_ref = pooling.max_pool_xp(x, pool_size, strides)
    numpy.testing.assert_array_equal(y, y_ref)
    numpy.testing.assert_array_equal(argmax, argmax_ref)
    assert argmax.dtype == argmax_ref.dtype
    dy = normal_array(1, y.shape)
    dx = pooling.max_pool_backward_blocked(dy, argmax, x.shape, pool_size, strides)
    numpy.testing.assert_array_equal(dx, pooling.max_pool_backward_xp(dy, argmax_ref, x.shape, pool_size, strides))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 6, 5, 4), (2, 1, 7, 3), (5, 4, 4, 1)])
def test_blocked_layer_norm_is_the_xp_form(shape, dtype, small_blocks):
    x = (normal_array(2, shape) * 3 + 1).astype(dtype)
    x[-1] = 0.5                                  # a constant sample: sigma 0, no path through it
    got, want = normalization.layer_norm_blocked(x, 1e-3), normalization.layer_norm_xp(x, 1e-3)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        numpy.testing.assert_array_equal(a, b)
    g = normal_array(3, shape).astype(dtype)
    dx = normalization.layer_norm_backward_blocked(g, *want)
    reference = normalization.layer_norm_backward_xp(g, *want)
    assert dx.dtype == reference.dtype
    numpy.testing.assert_array_equal(dx, reference)


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "softmax"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_blocked_epilogue_and_activation_backward_are_the_xp_forms(name, with_bias, small_blocks):
    z = normal_array(4, (3, 5, 7, 4)) * 3
    bias = normal_array(5, (4,)) if with_bias else None
    want = activation.bias_activation_xp(z.copy(), bias, name)
    got = activation.bias_activation_blocked(z.copy(), bias, name)
    numpy.testing.assert_array_equal(got, want)
    dy = normal_array(6, z.shape)
    numpy.testing.assert_array_equal(activation.activation_backward_blocked(name, want, dy),
                                     activation.activation_backward_xp(name, want, dy))


@pytest.mark.parametrize("axis", [-1, 2])
def test_blocked_concatenate_and_split_are_the_xp_calls(axis, small_blocks):
    parts = [normal_array(7, (3, 5, 4, 2)), normal_array(8, (3, 5, 4, 3))]
    if axis == 2:
        parts = [p.transpose(0, 1, 3, 2).copy() for p in parts]
    y = copies.concatenate(parts, axis=axis)
    numpy.testing.assert_array_equal(y, numpy.concatenate(parts, axis=axis))
    back = copies.split(y, [p.shape[axis] for p in parts], axis=axis)
    for got, want in zip(back, parts):
        assert got.flags.c_contiguous and not numpy.shares_memory(got, y)
        numpy.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((0, 2), (3, 0)), ((2, 1), (0, 0)), ((0, 0), (0, 0))])
def test_blocked_pad_is_numpy_pad(pads, small_blocks):
    x = normal_array(9, (2, 5, 4, 3))
    numpy.testing.assert_array_equal(copies.pad(x, pads), numpy.pad(x, ((0, 0), pads[0], pads[1], (0, 0))))


def test_the_routines_the_layers_call_take_the_blocked_forms_on_numpy_only(monkeypatch):
    calls = []
    for module, name in [(pooling, "max_pool_blocked"), (pooling, "max_pool_backward_blocked"),
                         (normalization, "layer_norm_blocked"), (normalization, "layer_norm_backward_blocked"),
                         (activation, "bias_activation_blocked"), (activation, "activation_backward_blocked")]:
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    x = normal_array(10, (2, 4, 4, 3))
    y, argmax = kernels.max_pool(x, (2, 2), (2, 2))
    kernels.max_pool_backward(y, argmax, x.shape, (2, 2), (2, 2))
    xhat, sigma, d = kernels.layer_norm(x, 1e-3)
    kernels.layer_norm_backward(x, xhat, sigma, d)
    kernels.bias_activation(x.copy(), numpy.ones(3), "relu")
    activation.activation_backward("relu", x, x)
    assert len(calls) == 6, calls
    calls.clear()
    previous = dispatch.set_fast(False)
    try:
        kernels.max_pool(x, (2, 2), (2, 2))
        kernels.layer_norm(x, 1e-3)
        activation.activation_backward("relu", x, x)
    finally:
        dispatch.set_fast(previous)
    assert calls == []
    kernels.layer_norm(x[:1], 1e-3)                  # one sample: nothing to share
    activation.activation_backward("linear", x, x)   # no work
    kernels.layer_norm(x.astype(numpy.float16), 1e-3)
    assert calls == []
