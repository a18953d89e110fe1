"""Initialisers: Keras's he_normal (truncated, corrected) and glorot_uniform, seeds, fans."""

import math

import numpy
import pytest

from conftest import to_numpy
from tinyunet import backend, initializers
from tinyunet.initializers import compute_fans, glorot_uniform, he_normal, ones, zeros


@pytest.mark.parametrize("shape, fans", [((5,), (5, 5)), ((4, 7), (4, 7)),
                                         ((3, 3, 8, 16), (72, 144)), ((5, 5, 1, 8), (25, 200))])
def test_compute_fans_as_keras(shape, fans):
    assert compute_fans(shape) == fans


def test_he_normal_std_and_truncation(xp):
    shape = (3, 3, 64, 64)
    values = he_normal(shape, seed=0, dtype="float64")
    assert isinstance(values, xp.ndarray)
    v = to_numpy(values)
    target = math.sqrt(2 / (3 * 3 * 64))
    # the 0.8796 correction brings the truncated draw back to the He stddev
    assert v.std() == pytest.approx(target, rel=0.02)
    assert abs(v.mean()) < 0.02 * target
    # truncated at two standard deviations of the (corrected) underlying normal
    bound = 2 * target / 0.87962566103423978
    assert numpy.abs(v).max() <= bound
    assert numpy.abs(v).max() > 0.98 * bound


def test_truncated_stddev_constant():
    # std of N(0, 1) restricted to [-2, 2]: sqrt(1 - 2 * 2 * phi(2) / (Phi(2) - Phi(-2)))
    phi = math.exp(-2) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert math.sqrt(1 - 4 * phi / mass) == pytest.approx(initializers._TRUNCATED_STDDEV, rel=1e-12)


def test_glorot_uniform_limits(xp):
    shape = (1, 1, 8, 1)
    limit = math.sqrt(6 / (8 + 1))
    v = to_numpy(glorot_uniform(shape, seed=0))
    assert numpy.abs(v).max() <= limit
    big = to_numpy(glorot_uniform((64, 64), seed=1, dtype="float64"))
    big_limit = math.sqrt(6 / 128)
    assert numpy.abs(big).max() <= big_limit
    assert numpy.abs(big).max() > 0.99 * big_limit
    assert big.var() == pytest.approx(big_limit ** 2 / 3, rel=0.05)


@pytest.mark.parametrize("init", [he_normal, glorot_uniform])
def test_seeds_are_deterministic(xp, init):
    a = to_numpy(init((3, 3, 2, 4), seed=7))
    numpy.testing.assert_array_equal(a, to_numpy(init((3, 3, 2, 4), seed=7)))
    assert not numpy.array_equal(a, to_numpy(init((3, 3, 2, 4), seed=8)))
    rng_a, rng_b = numpy.random.default_rng(7), numpy.random.default_rng(7)
    numpy.testing.assert_array_equal(to_numpy(init((2, 2), rng_a)), to_numpy(init((2, 2), rng_b)))
    # a shared generator moves on: two draws from it differ
    assert not numpy.array_equal(to_numpy(init((2, 2), rng_a)), to_numpy(init((2, 2), numpy.random.default_rng(7))))


@pytest.mark.parametrize("init", [he_normal, glorot_uniform])
def test_same_seed_same_values_on_cpu_and_device(xp, init):
    with backend.use("cpu"):
        on_cpu = init((3, 3, 1, 2), seed=3)
    numpy.testing.assert_array_equal(to_numpy(init((3, 3, 1, 2), seed=3)), on_cpu)


@pytest.mark.parametrize("init", [he_normal, glorot_uniform, zeros, ones])
def test_dtypes_and_shapes(xp, init):
    assert init((2, 3)).dtype == numpy.float32
    values = init((2, 3), seed=0, dtype="float64")
    assert values.dtype == numpy.float64 and values.shape == (2, 3)
    assert isinstance(values, xp.ndarray)


def test_zeros_and_ones(xp):
    assert float(to_numpy(zeros((4,))).sum()) == 0.0
    assert float(to_numpy(ones((4,))).sum()) == 4.0


def test_get_by_name_or_callable():
    assert initializers.get("he_normal") is he_normal
    assert initializers.get(zeros) is zeros
    with pytest.raises(ValueError, match="he_uniform"):
        initializers.get("he_uniform")
