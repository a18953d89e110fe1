"""LayerNormalization (the notebook's Cell 3): hand case, reference, gradients, properties."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_refuses_bad_arrays, layer_gradient_errors, normal_array, relative_error, xp_settings
from strategies import nhwc_shapes, seeds
from tinyunet import backend
from tinyunet.layers import LayerNormalization


def layernorm_reference(x, eps=1e-7):
    """The notebook's order: divide by the population std first, then subtract the mean of the result."""
    out = numpy.empty_like(x)
    for n in range(x.shape[0]):
        s = x[n] / (x[n].std() + eps)
        out[n] = s - s.mean()
    return out


def test_layernorm_hand_computed(xp):
    # x = [1, 2, 3, 4]: mean 2.5, population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25,
    # std sqrt(1.25) = 1.1180340; y = [-1.5, -0.5, 0.5, 1.5] / 1.1180340
    #   = [-1.3416408, -0.4472136, 0.4472136, 1.3416408]
    x = backend.to_device(numpy.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 1, 2))
    y = backend.asnumpy(LayerNormalization().forward(x)).ravel()
    numpy.testing.assert_allclose(y, [-1.3416408, -0.4472136, 0.4472136, 1.3416408], atol=1e-7)


@pytest.mark.parametrize("shape", [(1, 1, 1, 3), (2, 4, 3, 1), (3, 5, 5, 4)])
def test_layernorm_matches_the_notebook(xp, shape):
    x = normal_array(0, shape) * 3 + 1
    y = LayerNormalization().forward(backend.to_device(x))
    numpy.testing.assert_allclose(backend.asnumpy(y), layernorm_reference(x), rtol=0, atol=1e-10)


@xp_settings()
@given(shape=nhwc_shapes(min_side=2, max_side=5), seed=seeds, scale=st.floats(0.01, 100), shift=st.floats(-10, 10))
def test_layernorm_mean_zero_std_one_per_sample(xp, shape, seed, scale, shift):
    x = normal_array(seed, shape) * scale + shift
    assert x.reshape(shape[0], -1).std(axis=1).min() > 1e-3 * scale  # not a constant sample
    y = backend.asnumpy(LayerNormalization().forward(backend.to_device(x))).reshape(shape[0], -1)
    numpy.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-9)
    # std = sigma / (sigma + eps): ~1, off by eps / sigma
    sigma = x.reshape(shape[0], -1).std(axis=1)
    numpy.testing.assert_allclose(y.std(axis=1), sigma / (sigma + 1e-7), rtol=1e-9)
    assert (numpy.abs(y.std(axis=1) - 1) <= 1e-7 / sigma + 1e-9).all()


def test_layernorm_constant_sample_is_zero_with_finite_gradient(xp):
    x = numpy.full((2, 3, 3, 2), 4.0)
    x[1] = normal_array(1, (3, 3, 2))
    norm = LayerNormalization()
    y = backend.asnumpy(norm.forward(backend.to_device(x)))
    numpy.testing.assert_array_equal(y[0], 0)
    dx = backend.asnumpy(norm.backward(backend.to_device(normal_array(2, x.shape))))
    assert numpy.isfinite(dx).all()


@xp_settings()
@given(shape=nhwc_shapes(max_side=4, max_channels=3), seed=seeds, center=st.booleans(), scale=st.booleans())
def test_layernorm_gradients(xp, shape, seed, center, scale):
    x_np = normal_array(seed, shape)
    if x_np.size == 1 or x_np.reshape(shape[0], -1).std(axis=1).min() < 1e-2:
        x_np = x_np + numpy.arange(x_np.size).reshape(shape) * 0.1  # keep every sample's std away from 0
    norm = LayerNormalization(center=center, scale=scale)
    norm.build(shape, dtype="float64")
    rng = numpy.random.default_rng(seed)
    for key in norm.params:
        norm.params[key][...] = backend.to_device(rng.uniform(0.5, 1.5, shape[-1]))
    errors = layer_gradient_errors(norm, backend.to_device(x_np), seed + 1)
    assert set(errors) == {"x"} | ({"gamma"} if scale else set()) | ({"beta"} if center else set())
    assert max(errors.values()) < 1e-6, errors


def test_layernorm_affine_weights(xp):
    x = normal_array(3, (2, 3, 3, 2))
    norm = LayerNormalization(center=True, scale=True)
    norm.build(x.shape, dtype="float64")
    assert norm.params["gamma"].shape == norm.params["beta"].shape == (2,)
    norm.params["gamma"][...] = backend.to_device(numpy.array([2.0, 3.0]))  # live: changes the output
    norm.params["beta"][...] = backend.to_device(numpy.array([-1.0, 1.0]))
    y = backend.asnumpy(norm.forward(backend.to_device(x)))
    numpy.testing.assert_allclose(y, layernorm_reference(x) * [2.0, 3.0] + [-1.0, 1.0], atol=1e-10)
    with pytest.raises(ValueError, match=r"layer_normalization.*\(2, 3, 3, 5\).*2"):
        norm.forward(backend.to_device(numpy.zeros((2, 3, 3, 5))))


def test_layernorm_without_weights_takes_any_channels_and_keeps_its_dtype(xp):
    norm = LayerNormalization()
    assert norm.forward(backend.to_device(normal_array(0, (1, 2, 2, 3)))).dtype == numpy.float64
    assert norm.forward(backend.to_device(normal_array(0, (1, 2, 2, 5)))).shape == (1, 2, 2, 5)
    assert norm.params == {} and LayerNormalization(scale=True).weighted


def test_layernorm_float32_agrees_with_float64(xp):
    x = normal_array(4, (2, 5, 4, 3)) * 10 + 3
    dy = normal_array(5, x.shape)
    ref, single = LayerNormalization(), LayerNormalization()
    y64, y32 = ref.forward(backend.to_device(x)), single.forward(backend.to_device(x, "float32"))
    assert y32.dtype == numpy.float32
    assert relative_error(y32, y64) < 1e-4
    dx64, dx32 = ref.backward(backend.to_device(dy)), single.backward(backend.to_device(dy, "float32"))
    assert dx32.dtype == numpy.float32
    assert relative_error(dx32, dx64) < 1e-4


def test_layernorm_bad_input(xp):
    x = numpy.ones((1, 2, 2, 1))
    x[0, 1, 1, 0] = numpy.inf
    assert_refuses_bad_arrays(LayerNormalization(name="norm_bad"), (2, 3), x, "inf")
