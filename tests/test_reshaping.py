"""UpSampling2D: nearest-neighbour and bilinear upsampling."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import layer_gradient_errors, normal_array, relative_error, xp_settings
from strategies import nhwc_shapes, seeds
from tinyunet import backend
from tinyunet.kernels.upsampling import interpolation_matrix
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
    with pytest.raises(ValueError, match="up_bad.*interpolation.*'nearest', 'bilinear'.*'bicubic'"):
        UpSampling2D(2, interpolation="bicubic", name="up_bad")


# --- bilinear ---


def bilinear_reference(x, size):
    """Plain loops: each output pixel reads its half-pixel source point from the four neighbours."""
    n, h, w, c = x.shape
    sh, sw = size

    def source(o, scale, length):
        t = max((o + 0.5) / scale - 0.5, 0.0)
        low = min(int(numpy.floor(t)), length - 1)
        return low, min(low + 1, length - 1), t - numpy.floor(t)

    y = numpy.empty((n, h * sh, w * sw, c))
    for r in range(h * sh):
        r0, r1, fr = source(r, sh, h)
        for q in range(w * sw):
            c0, c1, fq = source(q, sw, w)
            y[:, r, q] = ((1 - fr) * ((1 - fq) * x[:, r0, c0] + fq * x[:, r0, c1])
                          + fr * ((1 - fq) * x[:, r1, c0] + fq * x[:, r1, c1]))
    return y


def test_bilinear_hand_computed(xp):
    # columns of [1, 2] at half-pixel centres: t = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (past the
    # last pixel: clamped), so [1, 0.75 * 1 + 0.25 * 2, 0.25 * 1 + 0.75 * 2, 2] = [1, 1.25, 1.75, 2];
    # rows the same, e.g. row 1 is 0.75 * [1, 1.25, 1.75, 2] + 0.25 * [3, 3.25, 3.75, 4]
    # (torch.nn.functional.interpolate(mode="bilinear", align_corners=False) gives these values)
    up = UpSampling2D(2, interpolation="bilinear")
    y = up.forward(backend.to_device(numpy.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)))
    numpy.testing.assert_allclose(backend.asnumpy(y)[0, :, :, 0],
                                  [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5],
                                   [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]], rtol=0, atol=1e-15)
    # backward spreads each dy pixel back with the same weights: dy = 1 everywhere gives the
    # column sums of A_h times those of A_w: [1 + 0.75 + 0.25, 0.25 + 0.75 + 1] = [2, 2] per axis
    dx = up.backward(backend.to_device(numpy.ones((1, 4, 4, 1))))
    numpy.testing.assert_allclose(backend.asnumpy(dx)[0, :, :, 0], [[4, 4], [4, 4]], rtol=1e-15)


def test_interpolation_matrix_hand_computed():
    # scale 3 on 2 pixels: t = max((o + 0.5) / 3 - 0.5, 0) = 0 (clamped), 0, 1/3, 2/3, 1, 4/3 (past pixel 1)
    numpy.testing.assert_allclose(interpolation_matrix(2, 3),
                                  [[1, 0], [1, 0], [2 / 3, 1 / 3], [1 / 3, 2 / 3], [0, 1], [0, 1]],
                                  rtol=0, atol=1e-15)
    numpy.testing.assert_array_equal(interpolation_matrix(1, 4), numpy.ones((4, 1)))
    numpy.testing.assert_array_equal(interpolation_matrix(5, 1), numpy.eye(5))


@pytest.mark.parametrize("size", [1, 2, 3, (2, 3), (3, 1)])
@pytest.mark.parametrize("shape", [(2, 3, 4, 2), (1, 1, 5, 1), (1, 6, 1, 3)])
def test_bilinear_forward_matches_reference(xp, size, shape):
    x = normal_array(0, shape)
    up = UpSampling2D(size, interpolation="bilinear")
    y = up.forward(backend.to_device(x))
    assert tuple(y.shape) == up.output_shape(x.shape)
    numpy.testing.assert_allclose(backend.asnumpy(y), bilinear_reference(x, up.size), rtol=0, atol=1e-13)


def test_bilinear_properties(xp):
    # weights sum to 1 (a constant stays constant), values stay inside the input's range,
    # and backward is the adjoint: <up(x), dy> = <x, up^T(dy)>
    x = normal_array(3, (2, 5, 4, 3))
    up = UpSampling2D((3, 2), interpolation="bilinear")
    numpy.testing.assert_allclose(backend.asnumpy(up.forward(backend.to_device(numpy.full(x.shape, 0.7)))), 0.7,
                                  rtol=1e-14)
    y = backend.asnumpy(up.forward(backend.to_device(x)))
    assert y.min() >= x.min() - 1e-12 and y.max() <= x.max() + 1e-12
    dy = normal_array(4, y.shape)
    dx = backend.asnumpy(up.backward(backend.to_device(dy)))
    assert abs((y * dy).sum() - (x * dx).sum()) < 1e-10 * numpy.abs(y * dy).sum()


@xp_settings()
@given(shape=nhwc_shapes(max_side=4, max_batch=2, max_channels=3), sh=st.integers(1, 3), sw=st.integers(1, 3),
       seed=seeds)
def test_bilinear_gradients(xp, shape, sh, sw, seed):
    up = UpSampling2D((sh, sw), interpolation="bilinear")
    errors = layer_gradient_errors(up, backend.to_device(normal_array(seed, shape)), seed + 1)
    assert errors["x"] < 1e-6, errors


def test_bilinear_new_input_size_and_float32(xp):
    up = UpSampling2D(2, interpolation="bilinear")
    for shape in ((1, 3, 3, 2), (2, 5, 2, 1)):   # the matrices follow the input's size
        x = normal_array(5, shape)
        numpy.testing.assert_allclose(backend.asnumpy(up.forward(backend.to_device(x))),
                                      bilinear_reference(x, (2, 2)), atol=1e-13)
    x, dy = normal_array(1, (2, 3, 3, 2)), normal_array(2, (2, 6, 6, 2))
    ref, single = UpSampling2D(interpolation="bilinear"), UpSampling2D(interpolation="bilinear")
    y32 = single.forward(backend.to_device(x, "float32"))
    assert y32.dtype == numpy.float32 and relative_error(y32, ref.forward(backend.to_device(x))) < 1e-6
    dx32 = single.backward(backend.to_device(dy, "float32"))
    assert dx32.dtype == numpy.float32 and relative_error(dx32, ref.backward(backend.to_device(dy))) < 1e-6
