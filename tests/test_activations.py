"""ReLU and Sigmoid layers (and the activations fused into the convolutions); Softmax: test_softmax.py."""

import warnings

import numpy
import pytest
from hypothesis import assume, given

from helpers import layer_gradient_errors, normal_array, relative_error, xp_settings
from strategies import nhwc_shapes, seeds
from tinyunet import backend
from tinyunet.layers import ReLU, Sigmoid
from tinyunet.layers.activations import activate, check_activation, sigmoid


def test_relu_hand_computed(xp):
    # max(x, 0) = [0, 0, 0, 2.5]; its gradient passes where x > 0 only (0 counts as off)
    relu = ReLU()
    y = relu.forward(backend.to_device(numpy.array([-1.0, 0.0, -0.0, 2.5]).reshape(1, 1, 4, 1)))
    numpy.testing.assert_array_equal(backend.asnumpy(y).ravel(), [0, 0, 0, 2.5])
    dx = relu.backward(backend.to_device(numpy.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1)))
    numpy.testing.assert_array_equal(backend.asnumpy(dx).ravel(), [0, 0, 0, 4])


def test_sigmoid_hand_computed(xp):
    # sigmoid(0) = 1/2; sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4; sigmoid(-ln 3) = 1/4
    # derivative y (1 - y): 1/4, 3/16, 3/16
    x = numpy.array([0.0, numpy.log(3.0), -numpy.log(3.0)]).reshape(1, 1, 3, 1)
    sig = Sigmoid()
    y = sig.forward(backend.to_device(x))
    numpy.testing.assert_allclose(backend.asnumpy(y).ravel(), [0.5, 0.75, 0.25], rtol=1e-15)
    dx = sig.backward(backend.to_device(numpy.ones((1, 1, 3, 1))))
    numpy.testing.assert_allclose(backend.asnumpy(dx).ravel(), [0.25, 3 / 16, 3 / 16], rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_saturates_without_warnings_or_nan(xp, dtype):
    x = backend.to_device(numpy.array([-1000.0, -100.0, 100.0, 1000.0]).reshape(1, 1, 4, 1), dtype)
    with warnings.catch_warnings(), numpy.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        sig = Sigmoid()
        y = backend.asnumpy(sig.forward(x)).ravel()
        dx = backend.asnumpy(sig.backward(backend.to_device(numpy.ones((1, 1, 4, 1)), dtype))).ravel()
        fused = backend.asnumpy(activate("sigmoid", x)).ravel()
    assert y.dtype == numpy.dtype(dtype)
    assert y[0] == 0.0 and y[-1] == 1.0
    assert not numpy.isnan(y).any() and not numpy.isnan(dx).any()
    assert dx[0] == 0.0 and dx[-1] == 0.0
    numpy.testing.assert_array_equal(fused, y)


@xp_settings()
@given(shape=nhwc_shapes(max_side=5), seed=seeds)
def test_sigmoid_matches_the_formula(xp, shape, seed):
    x = normal_array(seed, shape) * 8
    y = backend.asnumpy(sigmoid(backend.to_device(x)))
    numpy.testing.assert_allclose(y, 1 / (1 + numpy.exp(-x)), rtol=1e-14, atol=0)


@xp_settings()
@given(shape=nhwc_shapes(max_side=4), seed=seeds)
def test_relu_gradients(xp, shape, seed):
    x = normal_array(seed, shape)
    assume(numpy.abs(x).min() > 1e-3)  # away from the kink at 0
    errors = layer_gradient_errors(ReLU(), backend.to_device(x), seed + 1)
    assert errors["x"] < 1e-6, errors


@xp_settings()
@given(shape=nhwc_shapes(max_side=4), seed=seeds)
def test_sigmoid_gradients(xp, shape, seed):
    x = normal_array(seed, shape) * 3
    errors = layer_gradient_errors(Sigmoid(), backend.to_device(x), seed + 1)
    assert errors["x"] < 1e-6, errors


@pytest.mark.parametrize("cls", [ReLU, Sigmoid])
def test_float32_agrees_with_float64(xp, cls):
    x = normal_array(0, (2, 4, 4, 3)) * 4
    dy = normal_array(1, x.shape)
    ref, single = cls(), cls()
    y64, y32 = ref.forward(backend.to_device(x)), single.forward(backend.to_device(x, "float32"))
    assert y32.dtype == numpy.float32 and relative_error(y32, y64) < 1e-4
    dx64, dx32 = ref.backward(backend.to_device(dy)), single.backward(backend.to_device(dy, "float32"))
    assert dx32.dtype == numpy.float32 and relative_error(dx32, dx64) < 1e-4


@pytest.mark.parametrize("cls", [ReLU, Sigmoid])
def test_bad_input(xp, cls):
    layer = cls(name="act_bad")
    with pytest.raises(ValueError, match=r"act_bad.*\(1, 2, 3\)"):
        layer.forward(backend.to_device(numpy.zeros((1, 2, 3))))
    x = numpy.zeros((1, 2, 2, 1))
    x[0, 0, 1, 0] = numpy.nan
    with pytest.raises(ValueError, match=r"act_bad.*\(1, 2, 2, 1\).*NaN"):
        layer.forward(backend.to_device(x))
    with pytest.raises(RuntimeError, match="act_bad"):
        cls(name="act_bad").backward(backend.to_device(numpy.zeros((1, 2, 2, 1))))


def test_check_activation_names():
    assert [check_activation(a) for a in (None, "linear", "ReLU", "sigmoid", "Softmax")] == \
        ["linear", "linear", "relu", "sigmoid", "softmax"]
    with pytest.raises(ValueError, match="my_conv.*'linear', 'relu', 'sigmoid', 'softmax'.*'tanh'"):
        check_activation("tanh", "my_conv")
