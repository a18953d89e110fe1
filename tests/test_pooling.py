"""MaxPooling2D: hand case, nested-loop reference, gradients, ties, gradient mass, bad input."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_refuses_bad_arrays, layer_gradient_errors, normal_array, relative_error, xp_settings
from strategies import seeds
from tinyunet import backend
from tinyunet.layers import MaxPooling2D
from tinyunet.shapes import pool_output_size


def maxpool_reference(x, pool_size, strides):
    """y[n, oh, ow, c] = max of the window; dx routing: first maximum in row-major order."""
    n, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    ho, wo = pool_output_size((h, w), pool_size, strides)
    y = numpy.empty((n, ho, wo, c))
    first = numpy.empty((n, ho, wo, c, 2), dtype=int)
    for b in range(n):
        for oh in range(ho):
            for ow in range(wo):
                for ch in range(c):
                    best, where = -numpy.inf, None
                    for i in range(ph):
                        for j in range(pw):
                            v = x[b, oh * sh + i, ow * sw + j, ch]
                            if v > best:  # strictly greater: the first maximum wins
                                best, where = v, (oh * sh + i, ow * sw + j)
                    y[b, oh, ow, ch] = best
                    first[b, oh, ow, ch] = where
    return y, first


def maxpool_backward_reference(x_shape, first, dy):
    dx = numpy.zeros(x_shape)
    for b, oh, ow, ch in numpy.ndindex(*dy.shape):
        r, c = first[b, oh, ow, ch]
        dx[b, r, c, ch] += dy[b, oh, ow, ch]
    return dx


def tie_free(seed, shape):
    """Distinct values at least 0.01 apart, so that no central difference moves an argmax."""
    rng = numpy.random.default_rng(seed)
    return rng.permutation(int(numpy.prod(shape))).reshape(shape) * 0.01 - 0.3


def test_maxpool_hand_computed(xp):
    # 4 x 4 input, 2 x 2 windows: the max of each quadrant
    #  1  5 | 2  0          y = [[7, 3],
    #  7  3 | 1  3               [9, 8]]
    #  ---------            dy = [[10, 20], [30, 40]] goes to the positions of 7, 3 (the first 3,
    #  9  0 | 8  8                at (1, 3)... the only 3 in its window), 9, and the first 8 at (2, 2)
    #  2  9 | 8  1          (the 9 at (2, 0) comes before the 9 at (3, 1))
    x = numpy.array([[1, 5, 2, 0], [7, 3, 1, 3], [9, 0, 8, 8], [2, 9, 8, 1]], dtype=numpy.float64)
    pool = MaxPooling2D(2)
    y = pool.forward(backend.to_device(x.reshape(1, 4, 4, 1)))
    numpy.testing.assert_array_equal(backend.asnumpy(y)[0, :, :, 0], [[7, 3], [9, 8]])
    dx = pool.backward(backend.to_device(numpy.array([[10.0, 20.0], [30.0, 40.0]]).reshape(1, 2, 2, 1)))
    expected = numpy.zeros((4, 4))
    expected[1, 0], expected[1, 3], expected[2, 0], expected[2, 2] = 10, 20, 30, 40
    numpy.testing.assert_array_equal(backend.asnumpy(dx)[0, :, :, 0], expected)


def test_maxpool_ties_go_to_the_first_maximum(xp):
    # every window's maximum appears 2-4 times; the whole gradient goes to the first in row-major order
    windows = [[[5, 5], [5, 1]], [[1, 5], [5, 5]], [[0, 0], [0, 0]], [[-2, -3], [-1, -1]]]
    x = numpy.concatenate([numpy.array(win, dtype=numpy.float64) for win in windows], axis=1)  # (2, 8)
    pool = MaxPooling2D(2)
    y = pool.forward(backend.to_device(x.reshape(1, 2, 8, 1)))
    numpy.testing.assert_array_equal(backend.asnumpy(y).ravel(), [5, 5, 0, -1])
    dx = backend.asnumpy(pool.backward(backend.to_device(numpy.ones((1, 1, 4, 1)))))[0, :, :, 0]
    expected = numpy.zeros((2, 8))
    expected[0, 0] = expected[0, 3] = expected[0, 4] = expected[1, 6] = 1
    numpy.testing.assert_array_equal(dx, expected)


@xp_settings()
@given(seed=seeds, n=st.integers(1, 2), c=st.integers(1, 3), ph=st.integers(1, 3), pw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ho=st.integers(1, 4), wo=st.integers(1, 4),
       levels=st.integers(2, 4))
def test_maxpool_with_ties_matches_reference(xp, seed, n, c, ph, pw, sh, sw, ho, wo, levels):
    # few distinct values, so most windows have ties; overlapping windows (strides < pool) included
    shape = (n, (ho - 1) * sh + ph, (wo - 1) * sw + pw, c)
    x = numpy.random.default_rng(seed).integers(0, levels, shape).astype(numpy.float64)
    dy = normal_array(seed, (n, ho, wo, c))
    pool = MaxPooling2D((ph, pw), strides=(sh, sw))
    y = pool.forward(backend.to_device(x))
    dx = pool.backward(backend.to_device(dy))
    y_ref, first = maxpool_reference(x, (ph, pw), (sh, sw))
    numpy.testing.assert_array_equal(backend.asnumpy(y), y_ref)
    numpy.testing.assert_allclose(backend.asnumpy(dx), maxpool_backward_reference(shape, first, dy),
                                  rtol=0, atol=1e-12)
    # every window hands its upstream gradient on whole, to one element
    assert abs(float(backend.asnumpy(dx).sum()) - dy.sum()) < 1e-10
    assert numpy.count_nonzero(backend.asnumpy(pool.backward(backend.to_device(numpy.ones(dy.shape))))) \
        <= dy.size


@pytest.mark.parametrize("pool_size, strides", [(2, None), (3, None), (2, 1), ((2, 3), None), (3, 2),
                                                ((1, 2), (2, 1)), (1, None)])
def test_maxpool_forward_matches_reference(xp, pool_size, strides):
    pool = MaxPooling2D(pool_size, strides=strides)
    ph, pw = pool.pool_size
    sh, sw = pool.strides
    shape = (2, 3 * sh + ph, 2 * sw + pw, 3)
    x = normal_array(2, shape)
    y = pool.forward(backend.to_device(x))
    assert tuple(y.shape) == pool.output_shape(shape) == (2, 4, 3, 3)
    numpy.testing.assert_allclose(backend.asnumpy(y), maxpool_reference(x, (ph, pw), (sh, sw))[0],
                                  rtol=0, atol=1e-10)


@xp_settings()
@given(seed=seeds, n=st.integers(1, 2), c=st.integers(1, 2), ph=st.integers(1, 3), pw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ho=st.integers(1, 3), wo=st.integers(1, 3))
def test_maxpool_gradients(xp, seed, n, c, ph, pw, sh, sw, ho, wo):
    shape = (n, (ho - 1) * sh + ph, (wo - 1) * sw + pw, c)
    pool = MaxPooling2D((ph, pw), strides=(sh, sw))
    x = backend.to_device(tie_free(seed, shape))
    errors = layer_gradient_errors(pool, x, seed + 1)
    assert set(errors) == {"x"}
    assert errors["x"] < 1e-6, errors


def test_maxpool_float32_agrees_with_float64(xp):
    x = normal_array(3, (2, 6, 4, 3))
    y64 = MaxPooling2D(2).forward(backend.to_device(x))
    pool = MaxPooling2D(2)
    y32 = pool.forward(backend.to_device(x, "float32"))
    assert y32.dtype == numpy.float32 and y64.dtype == numpy.float64
    assert relative_error(y32, y64) < 1e-4


def test_maxpool_gradient_mass_default_pool(xp):
    x = backend.to_device(normal_array(4, (3, 8, 6, 2)))
    dy = normal_array(5, (3, 4, 3, 2))
    pool = MaxPooling2D()
    pool.forward(x)
    dx = backend.asnumpy(pool.backward(backend.to_device(dy)))
    # non-overlapping windows: per window, the gradient sum equals the upstream value
    numpy.testing.assert_allclose(dx.reshape(3, 4, 2, 3, 2, 2).sum(axis=(2, 4)), dy, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 5, 4, 1), (1, 4, 7, 2), (2, 3, 3, 1), (1, 1, 4, 1)])
def test_maxpool_size_not_divisible_raises(xp, shape):
    pool = MaxPooling2D(2, name="pool_under_test")
    with pytest.raises(ValueError, match=r"pool_under_test.*" + r"\(" + ", ".join(map(str, shape)) + r"\).*2x2"):
        pool.forward(backend.to_device(numpy.zeros(shape)))
    with pytest.raises(ValueError, match=r"pool_under_test.*not tiled exactly"):      # as build would see it
        pool.output_shape(shape)


def test_maxpool_error_suggests_a_size_that_works(xp):
    pool = MaxPooling2D(3, strides=2, name="p")
    with pytest.raises(ValueError) as info:
        pool.forward(backend.to_device(numpy.zeros((1, 6, 8, 1))))
    suggested = info.value.args[0].rsplit("e.g. ", 1)[1].rstrip(")")
    h, w = (int(v) for v in suggested.split("x"))
    pool.forward(backend.to_device(numpy.zeros((1, h, w, 1))))


def test_maxpool_bad_input(xp):
    x = numpy.zeros((1, 4, 4, 1))
    x[0, 0, 0, 0] = numpy.nan
    assert_refuses_bad_arrays(MaxPooling2D(2, name="pool_bad"), (4, 4), x, "NaN")
    with pytest.raises(ValueError, match="pool_bad.*padding"):
        MaxPooling2D(2, padding="same", name="pool_bad")
    with pytest.raises(RuntimeError, match="pool_bad"):
        MaxPooling2D(2, name="pool_bad").backward(backend.to_device(numpy.zeros((1, 2, 2, 1))))
