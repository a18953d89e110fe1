"""Softmax: the layer, and activation="softmax" fused into the convolutions (over the channels)."""

import warnings

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import layer_gradient_errors, normal_array, relative_error, xp_settings
from strategies import nhwc_shapes, seeds
from tinyunet import backend
from tinyunet.kernels import dispatch
from tinyunet.layers import Conv2D, Conv2DTranspose, Softmax


def softmax_reference(x, axis=-1):
    """The textbook formula, in float64 (fine for the moderate inputs it is given)."""
    e = numpy.exp(numpy.asarray(x, dtype=numpy.float64))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_hand_computed(xp):
    # [0, ln 2, ln 5] -> [1, 2, 5] / 8; equal inputs -> 1/2 each
    # backward with dy = [1, 0, 0]: y * (dy - y_0) = [1/8 * 7/8, -2/8 * 1/8, -5/8 * 1/8]
    x = numpy.array([0.0, numpy.log(2.0), numpy.log(5.0)]).reshape(1, 1, 1, 3)
    layer = Softmax()
    y = layer.forward(backend.to_device(x))
    numpy.testing.assert_allclose(backend.asnumpy(y).ravel(), [1 / 8, 2 / 8, 5 / 8], rtol=1e-15)
    dx = layer.backward(backend.to_device(numpy.array([1.0, 0.0, 0.0]).reshape(1, 1, 1, 3)))
    numpy.testing.assert_allclose(backend.asnumpy(dx).ravel(), [7 / 64, -2 / 64, -5 / 64], rtol=1e-14)
    pair = Softmax().forward(backend.to_device(numpy.full((1, 1, 1, 2), 3.0)))
    numpy.testing.assert_array_equal(backend.asnumpy(pair).ravel(), [0.5, 0.5])


@pytest.mark.parametrize("axis", [-1, 3, 1, -3, 0])
def test_softmax_matches_the_float64_reference_and_sums_to_one(xp, axis):
    x = normal_array(0, (2, 3, 4, 5)) * 4
    y = backend.asnumpy(Softmax(axis=axis).forward(backend.to_device(x, "float32")))
    assert y.dtype == numpy.float32
    numpy.testing.assert_allclose(y, softmax_reference(x.astype(numpy.float32), axis), rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-6)
    y64 = backend.asnumpy(Softmax(axis=axis).forward(backend.to_device(x)))
    numpy.testing.assert_allclose(y64, softmax_reference(x, axis), rtol=1e-14, atol=1e-300)


def test_softmax_is_invariant_to_adding_a_constant(xp):
    x = normal_array(1, (2, 3, 3, 4))
    y = backend.asnumpy(Softmax().forward(backend.to_device(x)))
    for shift in (-700.0, 5.0, 900.0):   # exp of the shifted input alone would over- or underflow
        shifted = backend.asnumpy(Softmax().forward(backend.to_device(x + shift)))
        numpy.testing.assert_allclose(shifted, y, rtol=1e-11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_of_plus_minus_1000_has_no_overflow_or_nan(xp, dtype):
    x = backend.to_device(numpy.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, -1000.0]]).reshape(1, 1, 2, 3),
                          dtype)
    with warnings.catch_warnings(), numpy.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        layer = Softmax()
        y = backend.asnumpy(layer.forward(x)).reshape(2, 3)
        dx = backend.asnumpy(layer.backward(backend.to_device(numpy.ones((1, 1, 2, 3)), dtype)))
    assert y.dtype == numpy.dtype(dtype) and numpy.isfinite(y).all() and numpy.isfinite(dx).all()
    numpy.testing.assert_array_equal(y, [[1, 0, 0], [0.5, 0.5, 0]])


@xp_settings()
@given(shape=nhwc_shapes(max_side=3, max_channels=5), axis=st.sampled_from([-1, 1, 2]), seed=seeds)
def test_softmax_gradients(xp, shape, axis, seed):
    x = normal_array(seed, shape) * 3
    errors = layer_gradient_errors(Softmax(axis=axis), backend.to_device(x), seed + 1)
    assert errors["x"] < 1e-6, errors


@pytest.mark.parametrize("cls, kernel_size, strides", [(Conv2D, 3, 1), (Conv2D, 2, 2), (Conv2DTranspose, 2, 2)])
def test_fused_softmax_equals_linear_convolution_then_softmax(xp, cls, kernel_size, strides):
    x = backend.to_device(normal_array(2, (2, 4, 4, 3)))
    fused = cls(4, kernel_size, strides=strides, activation="softmax", seed=7)
    linear = cls(4, kernel_size, strides=strides, seed=7)
    for layer in (fused, linear):
        layer.build(x.shape, dtype="float64")
    softmax = Softmax()
    y = fused.forward(x)
    expected = softmax.forward(linear.forward(x))
    numpy.testing.assert_allclose(backend.asnumpy(y), backend.asnumpy(expected), rtol=1e-13)
    numpy.testing.assert_allclose(backend.asnumpy(y).sum(axis=-1), 1.0, rtol=1e-13)
    dy = backend.to_device(normal_array(3, y.shape))
    dx = fused.backward(dy)
    dx_expected = linear.backward(softmax.backward(dy))
    assert relative_error(dx, dx_expected) < 1e-13
    for key in fused.grads:
        assert relative_error(fused.grads[key], linear.grads[key]) < 1e-13, key


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_fused_softmax_gradients(xp, cls):
    layer = cls(3, 2, strides=2 if cls is Conv2DTranspose else 1, activation="softmax", seed=1)
    x = backend.to_device(normal_array(4, (2, 3, 3, 2)))
    layer.build(x.shape, dtype="float64")
    errors = layer_gradient_errors(layer, x, 5)
    assert max(errors.values()) < 1e-6, errors


def test_the_cuda_epilogue_never_receives_softmax(monkeypatch):
    # even where the twin would take the arrays, softmax goes to the xp form; the rest are unchanged
    monkeypatch.setattr(dispatch, "use_cuda", lambda *arrays: True)
    z, bias = numpy.zeros((1, 2, 2, 3)), numpy.zeros(3)
    assert not dispatch.use_cuda_bias_activation(z, bias, "softmax")
    assert not dispatch.use_cuda_bias_activation(z, None, "softmax")
    assert all(dispatch.use_cuda_bias_activation(z, b, a) for a in ("linear", "relu", "sigmoid") for b in (bias, None))


@pytest.mark.gpu
def test_fused_softmax_on_the_gpu_with_fast_kernels(cupy):
    x = cupy.asarray(normal_array(6, (2, 5, 5, 3), "float32"))
    fused, linear = Conv2D(4, 3, activation="softmax", seed=2), Conv2D(4, 3, seed=2)
    y = fused.forward(x)
    expected = Softmax().forward(linear.forward(x))
    assert relative_error(y, expected) < 1e-6


def test_softmax_bad_arguments_and_input(xp):
    for axis in (4, -5, 1.0, True, "channels"):
        with pytest.raises(ValueError, match=r"soft_bad: axis.*-4 to 3"):
            Softmax(axis=axis, name="soft_bad")
    with pytest.raises(ValueError, match=r"soft_bad.*\(2, 3\)"):
        Softmax(name="soft_bad").forward(backend.to_device(numpy.zeros((2, 3))))
    with pytest.raises(RuntimeError, match="soft_bad: backward called before forward"):
        Softmax(name="soft_bad").backward(backend.to_device(numpy.zeros((1, 2, 2, 3))))
