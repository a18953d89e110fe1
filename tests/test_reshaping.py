"""UpSampling2D: nearest-neighbour upsampling."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import layer_gradient_errors, normal_array, relative_error, xp_settings
from strategies import nhwc_shapes, seeds
from tinyunet import backend
from tinyunet.layers import UpSampling2D


def upsampling_reference(x, size):
    n, h, w, c = x.shape
    sh, sw = size
    y = numpy.empty((n, h * sh, w * sw, c))
    for b in range(n):
        for r in range(h * sh):
            for q in range(w * sw):
                y[b, r, q] = x[b, r // sh, q // sw]
    return y


def test_upsampling_hand_computed(xp):
    # [[1, 2], [3, 4]] -> each pixel a 2 x 2 block; backward sums each block of dy:
    # dy = arange(16) as 4 x 4: block sums [[0+1+4+5, 2+3+6+7], [8+9+12+13, 10+11+14+15]] = [[10, 18], [42, 50]]
    up = UpSampling2D(2)
    y = up.forward(backend.to_device(numpy.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)))
    numpy.testing.assert_array_equal(backend.asnumpy(y)[0, :, :, 0],
                                     [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    dx = up.backward(backend.to_device(numpy.arange(16.0).reshape(1, 4, 4, 1)))
    numpy.testing.assert_array_equal(backend.asnumpy(dx)[0, :, :, 0], [[10, 18], [42, 50]])


@pytest.mark.parametrize("size", [1, 2, 3, (2, 3), (1, 2)])
def test_upsampling_forward_matches_reference(xp, size):
    x = normal_array(0, (2, 3, 4, 2))
    up = UpSampling2D(size)
    y = up.forward(backend.to_device(x))
    assert tuple(y.shape) == up.output_shape(x.shape)
    numpy.testing.assert_array_equal(backend.asnumpy(y), upsampling_reference(x, up.size))


@xp_settings()
@given(shape=nhwc_shapes(max_side=4, max_batch=2, max_channels=3), sh=st.integers(1, 3), sw=st.integers(1, 3),
       seed=seeds)
def test_upsampling_gradients(xp, shape, sh, sw, seed):
    errors = layer_gradient_errors(UpSampling2D((sh, sw)), backend.to_device(normal_array(seed, shape)), seed + 1)
    assert errors["x"] < 1e-6, errors


def test_upsampling_float32_agrees_with_float64(xp):
    x = normal_array(1, (2, 3, 3, 2))
    dy = normal_array(2, (2, 6, 6, 2))
    ref, single = UpSampling2D(), UpSampling2D()
    y32 = single.forward(backend.to_device(x, "float32"))
    assert y32.dtype == numpy.float32 and relative_error(y32, ref.forward(backend.to_device(x))) < 1e-4
    dx32 = single.backward(backend.to_device(dy, "float32"))
    assert dx32.dtype == numpy.float32 and relative_error(dx32, ref.backward(backend.to_device(dy))) < 1e-4


def test_upsampling_bad_input(xp):
    up = UpSampling2D(2, name="up_bad")
    with pytest.raises(ValueError, match=r"up_bad.*\(2, 2, 2, 2, 1\)"):
        up.forward(backend.to_device(numpy.zeros((2, 2, 2, 2, 1))))
    x = numpy.zeros((1, 2, 2, 1))
    x[0, 0, 0, 0] = -numpy.inf
    with pytest.raises(ValueError, match=r"up_bad.*\(1, 2, 2, 1\).*inf"):
        up.forward(backend.to_device(x))
    up.forward(backend.to_device(numpy.zeros((1, 2, 2, 1))))
    with pytest.raises(ValueError, match=r"up_bad.*\(1, 2, 2, 1\).*\(1, 4, 4, 1\)"):
        up.backward(backend.to_device(numpy.zeros((1, 2, 2, 1))))
    with pytest.raises(ValueError, match="up_bad.*size"):
        UpSampling2D(0, name="up_bad")
