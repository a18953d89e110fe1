"""Concatenate: the U-Net's skip connections."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import normal_array, numerical_gradient, relative_error, xp_settings
from strategies import seeds
from tinyunet import backend
from tinyunet.layers import Concatenate


def test_concatenate_hand_computed(xp):
    # [skip (1 channel of 1s), up (2 channels of 2s, 3s)] -> channels [1, 2, 3] at every pixel;
    # backward hands channel 0 to skip and channels 1-2 to up, in that order
    skip = numpy.ones((1, 2, 2, 1))
    up = numpy.concatenate([numpy.full((1, 2, 2, 1), 2.0), numpy.full((1, 2, 2, 1), 3.0)], axis=-1)
    cat = Concatenate()
    y = backend.asnumpy(cat.forward([backend.to_device(skip), backend.to_device(up)]))
    numpy.testing.assert_array_equal(y, numpy.broadcast_to([1.0, 2.0, 3.0], (1, 2, 2, 3)))
    dy = numpy.arange(12.0).reshape(1, 2, 2, 3)
    dskip, dup = cat.backward(backend.to_device(dy))
    numpy.testing.assert_array_equal(backend.asnumpy(dskip), dy[..., :1])
    numpy.testing.assert_array_equal(backend.asnumpy(dup), dy[..., 1:])


@xp_settings()
@given(channels=st.lists(st.integers(1, 3), min_size=1, max_size=4), seed=seeds, axis=st.sampled_from([-1, 3, 1]))
def test_concatenate_forward_and_backward_in_input_order(xp, channels, seed, axis):
    shapes = [(2, 3, 2, c) if axis in (-1, 3) else (2, c, 2, 3) for c in channels]
    xs = [normal_array(seed + k, s) for k, s in enumerate(shapes)]
    cat = Concatenate(axis=axis)
    y = cat.forward([backend.to_device(x) for x in xs])
    numpy.testing.assert_array_equal(backend.asnumpy(y), numpy.concatenate(xs, axis=axis))
    dy = normal_array(seed, tuple(y.shape))
    grads = cat.backward(backend.to_device(dy))
    assert isinstance(grads, list) and len(grads) == len(xs)
    numpy.testing.assert_array_equal(numpy.concatenate([backend.asnumpy(g) for g in grads], axis=axis), dy)
    for g, x in zip(grads, xs):
        assert g.shape == x.shape


def test_concatenate_gradients(xp):
    xs = [backend.to_device(normal_array(k, (1, 2, 2, c))) for k, c in enumerate((2, 1, 3))]
    r = backend.to_device(normal_array(9, (1, 2, 2, 6)))
    cat = Concatenate()
    cat.forward(xs)
    grads = cat.backward(r)
    for x, g in zip(xs, grads):
        numeric = numerical_gradient(lambda: (cat.forward(xs) * r).sum(), x)
        assert relative_error(g, numeric) < 1e-6


def test_concatenate_gradients_do_not_alias_upstream(xp):
    # the model adds to these gradients with += (skip connections); dy must not change
    dy = backend.to_device(numpy.ones((1, 2, 2, 3)))
    cat = Concatenate()
    cat.forward([backend.to_device(numpy.zeros((1, 2, 2, 1))), backend.to_device(numpy.zeros((1, 2, 2, 2)))])
    dskip, dup = cat.backward(dy)
    dskip += 1
    dup += 1
    numpy.testing.assert_array_equal(backend.asnumpy(dy), 1)


def test_concatenate_float32(xp):
    cat = Concatenate()
    y = cat.forward([backend.to_device(numpy.ones((1, 2, 2, 1)), "float32"),
                     backend.to_device(numpy.ones((1, 2, 2, 2)), "float32")])
    assert y.dtype == numpy.float32
    assert all(g.dtype == numpy.float32 for g in cat.backward(y))


def test_concatenate_bad_input(xp):
    cat = Concatenate(name="cat_bad")
    a = backend.to_device(numpy.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"cat_bad.*\(1, 4, 4, 2\).*\(1, 2, 2, 2\)"):
        cat.forward([a, backend.to_device(numpy.zeros((1, 2, 2, 2)))])
    with pytest.raises(ValueError, match="cat_bad.*list"):
        cat.forward(a)
    with pytest.raises(ValueError, match=r"cat_bad.*\(4, 4, 2\)"):
        cat.forward([a, backend.to_device(numpy.zeros((4, 4, 2)))])
    bad = numpy.zeros((1, 4, 4, 1))
    bad[0, 0, 0, 0] = numpy.nan
    with pytest.raises(ValueError, match=r"cat_bad.*\(1, 4, 4, 1\).*NaN"):
        cat.forward([a, backend.to_device(bad)])
