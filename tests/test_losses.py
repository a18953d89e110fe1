"""Losses: dice_coefficient, DiceLoss, BinaryCrossentropy (values, gradients, properties)."""

import warnings

import numpy
import pytest
from hypothesis import given

from helpers import to_numpy, xp_settings
from strategies import nhwc_shapes, seeds
from tinyunet import backend
from tinyunet.gradcheck import gradcheck
from tinyunet.losses import BinaryCrossentropy, DiceLoss, dice_coefficient


def mask_and_probabilities(seed, shape, low=0.01, high=0.99):
    rng = numpy.random.default_rng(seed)
    return (rng.random(shape) > 0.5).astype(numpy.float64), rng.uniform(low, high, shape)


def test_dice_coefficient_hand_computed(xp):
    y = backend.to_device(numpy.array([1.0, 1.0, 0.0, 0.0]).reshape(1, 2, 2, 1))
    p = backend.to_device(numpy.array([1.0, 0.5, 0.5, 0.0]).reshape(1, 2, 2, 1))
    d = dice_coefficient(y, p)
    # 2 * 1.5 / (2 + 2), plus a smooth of 1e-7 on both sides
    assert isinstance(d, xp.ndarray) and d.ndim == 0
    assert float(d) == pytest.approx((3 + 1e-7) / (4 + 1e-7), rel=1e-12)


def test_dice_is_batch_global_not_per_image(xp):
    y = backend.to_device(numpy.array([[1.0, 1.0], [1.0, 0.0]]).reshape(2, 1, 2, 1))
    p = backend.to_device(numpy.array([[1.0, 1.0], [0.0, 1.0]]).reshape(2, 1, 2, 1))
    # pooled: 2 * 2 / (3 + 3); the mean of the per-image Dice would be (1 + 0) / 2
    assert float(dice_coefficient(y, p)) == pytest.approx(4 / 6, rel=1e-6)


@xp_settings()
@given(seed=seeds, shape=nhwc_shapes(max_side=6))
def test_dice_properties(xp, seed, shape):
    y, p = (backend.to_device(a) for a in mask_and_probabilities(seed, shape, 0.0, 1.0))
    d = float(dice_coefficient(y, p))
    assert 0.0 <= d <= 1.0
    assert d == pytest.approx(float(dice_coefficient(p, y)), rel=1e-12)
    assert float(dice_coefficient(y, y)) == pytest.approx(1.0, rel=1e-12)
    assert float(dice_coefficient(y, 1 - y)) == pytest.approx(0.0, abs=1e-6)


def test_dice_of_two_empty_masks_is_one(xp):
    zeros = xp.zeros((2, 4, 4, 1), dtype=xp.float32)
    assert float(dice_coefficient(zeros, zeros)) == 1.0
    assert float(DiceLoss().forward(zeros, zeros)) == 0.0


def test_dice_loss_is_one_minus_dice(xp):
    y, p = (backend.to_device(a) for a in mask_and_probabilities(0, (2, 5, 5, 1)))
    loss = DiceLoss().forward(y, p)
    assert isinstance(loss, xp.ndarray) and loss.ndim == 0
    assert float(loss) == pytest.approx(1 - float(dice_coefficient(y, p)), rel=1e-12)


def keras_binary_crossentropy(y, p, epsilon=1e-7):
    q = numpy.clip(p, epsilon, 1 - epsilon)
    return -numpy.mean(y * numpy.log(q) + (1 - y) * numpy.log(1 - q))


def test_binary_crossentropy_matches_the_keras_formula(xp):
    y, p = mask_and_probabilities(3, (2, 4, 4, 1))
    loss = BinaryCrossentropy().forward(backend.to_device(y), backend.to_device(p))
    assert isinstance(loss, xp.ndarray) and loss.ndim == 0
    assert float(loss) == pytest.approx(keras_binary_crossentropy(y, p), rel=1e-12)


def test_binary_crossentropy_hand_computed(xp):
    y = backend.to_device(numpy.array([1.0, 0.0]))
    p = backend.to_device(numpy.array([0.8, 0.4]))
    assert float(BinaryCrossentropy().forward(y, p)) == pytest.approx(
        -(numpy.log(0.8) + numpy.log(0.6)) / 2, rel=1e-12)


def test_binary_crossentropy_is_stable_at_zero_and_one(xp):
    y = backend.to_device(numpy.array([1.0, 0.0, 1.0, 0.0], dtype=numpy.float32))
    p = backend.to_device(numpy.array([0.0, 1.0, 1.0, 0.0], dtype=numpy.float32))
    bce = BinaryCrossentropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = float(bce.forward(y, p))
        grad = to_numpy(bce.backward())
    # two pixels wrong at full confidence: -log(1e-7) for the one clipped up to 1e-7, and
    # -log(1 - q) for the one clipped down to q = 1 - 1e-7, which float32 rounds to 1 - 2^-23
    expected = (-numpy.log(1e-7) - numpy.log(2.0 ** -23)) / 4
    assert loss == pytest.approx(expected, rel=1e-5)
    assert numpy.all(numpy.isfinite(grad)) and numpy.all(grad == 0)  # the clip is active everywhere


@xp_settings()
@given(seed=seeds, shape=nhwc_shapes(max_side=5, max_channels=1))   # K >= 2: test_multiclass.py
def test_dice_loss_gradient(xp, seed, shape):
    y, p = mask_and_probabilities(seed, shape)
    # an empty mask leaves only the smooth term: L = 1 - 1e-7 / (sum(p) + 1e-7), whose
    # gradient (~1e-7) is below what differences of L ~ 1 resolve (test_dice_loss_of_empty_mask)
    y.flat[0] = 1.0
    result = gradcheck(DiceLoss(), p, y_true=y, directions=2, seed=seed % 1000)
    assert result.max_error < 1e-6, str(result)


def test_dice_loss_gradient_of_an_empty_mask(xp):
    p = backend.to_device(numpy.random.default_rng(0).uniform(0.1, 0.9, (2, 3, 3, 1)))
    loss = DiceLoss()
    loss.forward(xp.zeros(p.shape), p)
    union = float(p.sum()) + 1e-7
    # dL/dp_i = (D - 2 y_i) / (U + s) with y = 0 and D = s / (U + s)
    numpy.testing.assert_allclose(to_numpy(loss.backward()), 1e-7 / union ** 2, rtol=1e-12)


@xp_settings()
@given(seed=seeds, shape=nhwc_shapes(max_side=5))
def test_binary_crossentropy_gradient(xp, seed, shape):
    y, p = mask_and_probabilities(seed, shape)
    result = gradcheck(BinaryCrossentropy(), p, y_true=y, directions=2, seed=seed % 1000)
    assert result.max_error < 1e-6, str(result)


@pytest.mark.parametrize("loss_class", [DiceLoss, BinaryCrossentropy])
def test_full_jacobian_of_losses(xp, loss_class):
    y, p = mask_and_probabilities(7, (2, 3, 3, 1))
    assert gradcheck(loss_class(), p, y_true=y, jacobian=True).ok


@pytest.mark.parametrize("loss_class", [DiceLoss, BinaryCrossentropy])
@xp_settings()
@given(seed=seeds, shape=nhwc_shapes(max_side=8))
def test_float32_agrees_with_float64(xp, loss_class, seed, shape):
    y, p = mask_and_probabilities(seed, shape)
    results = {}
    for dtype in ("float32", "float64"):
        loss = loss_class()
        value = loss.forward(backend.to_device(y, dtype), backend.to_device(p, dtype))
        assert value.dtype == numpy.dtype(dtype)
        results[dtype] = float(value), to_numpy(loss.backward())
        assert results[dtype][1].dtype == numpy.dtype(dtype)
    (v32, g32), (v64, g64) = results["float32"], results["float64"]
    assert abs(v32 - v64) <= 1e-4 * max(abs(v64), 1e-3)
    assert numpy.max(numpy.abs(g32 - g64)) <= 1e-4 * numpy.max(numpy.abs(g64))


@pytest.mark.parametrize("loss_class", [DiceLoss, BinaryCrossentropy])
def test_shape_mismatch_names_both_shapes(xp, loss_class):
    with pytest.raises(ValueError, match=r"\(2, 4, 4, 1\).*\(2, 4, 4, 2\)"):
        loss_class().forward(xp.zeros((2, 4, 4, 1)), xp.zeros((2, 4, 4, 2)))


def test_dice_coefficient_shape_mismatch(xp):
    with pytest.raises(ValueError, match="dice_coefficient"):
        dice_coefficient(xp.zeros((1, 2, 2, 1)), xp.zeros((1, 2, 3, 1)))


@pytest.mark.parametrize("loss_class", [DiceLoss, BinaryCrossentropy])
def test_backward_before_forward_is_an_error(loss_class):
    with pytest.raises(RuntimeError, match="before forward"):
        loss_class().backward()


@pytest.mark.parametrize("loss_class", [DiceLoss, BinaryCrossentropy])
def test_backward_is_shaped_like_the_prediction(xp, loss_class):
    y = xp.ones((3, 4, 4, 1), dtype=xp.float32)
    p = xp.full((3, 4, 4, 1), 0.3, dtype=xp.float32)
    loss = loss_class()
    loss.forward(y, p)
    grad = loss.backward()
    assert isinstance(grad, xp.ndarray) and grad.shape == p.shape and grad.dtype == p.dtype
    assert float(grad.max()) < 0  # raising any prediction towards its target lowers the loss
