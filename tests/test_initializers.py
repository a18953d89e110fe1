"""Initialisers: Keras's he_normal (truncated, corrected) and glorot_uniform, seeds, fans."""

import math

import numpy
import pytest

from helpers import to_numpy
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
    with pytest.raises(ValueError, match="he_uniform") as error:
        initializers.get("he_uniformm")
    for name in KERAS:
        assert name in str(error.value)            # the message lists every known name
    with pytest.raises(ValueError, match="unknown initializer"):
        initializers.get(None)


# name -> (distribution, stddev) for a kernel (3, 3, 64, 32): fan_in 576, fan_out 288
FAN_IN, FAN_OUT = 3 * 3 * 64, 3 * 3 * 32
KERAS = {
    "he_normal": ("truncated", math.sqrt(2 / FAN_IN)),
    "he_uniform": ("uniform", math.sqrt(6 / FAN_IN) / math.sqrt(3)),
    "glorot_normal": ("truncated", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "glorot_uniform": ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT)) / math.sqrt(3)),
    "lecun_normal": ("truncated", math.sqrt(1 / FAN_IN)),
    "lecun_uniform": ("uniform", math.sqrt(3 / FAN_IN) / math.sqrt(3)),
    "random_normal": ("normal", 0.05),
    "random_uniform": ("uniform", 0.05 / math.sqrt(3)),
    "zeros": ("constant", 0.0),
    "ones": ("constant", 0.0),
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_initializers_mean_spread_and_bounds(xp, name):
    distribution, stddev = KERAS[name]
    v = to_numpy(initializers.get(name)((3, 3, 64, 32), seed=11, dtype="float64"))
    assert v.shape == (3, 3, 64, 32) and v.dtype == numpy.float64
    if distribution == "constant":
        assert numpy.all(v == (1.0 if name == "ones" else 0.0))
        return
    # 18,432 draws: the sample spread is within ~1 % of the true one, the mean within ~1 % of a stddev
    assert v.std() == pytest.approx(stddev, rel=0.03)
    assert abs(v.mean()) < 0.03 * stddev
    largest = numpy.abs(v).max()
    if distribution == "truncated":           # cut at two standard deviations of the underlying normal
        bound = 2 * stddev / initializers._TRUNCATED_STDDEV
        assert 0.97 * bound < largest <= bound
    elif distribution == "uniform":           # limit = sqrt(3) * stddev, reached but never passed
        limit = math.sqrt(3) * stddev
        assert 0.99 * limit < largest <= limit
    else:                                     # a plain normal: some draws beyond three stddevs
        assert largest > 3 * stddev


@pytest.mark.parametrize("name", sorted(KERAS))
def test_every_initializer_is_seeded(name):
    init = initializers.get(name)
    numpy.testing.assert_array_equal(to_numpy(init((4, 5), seed=2)), to_numpy(init((4, 5), seed=2)))


@pytest.mark.parametrize("name", sorted(initializers.INITIALIZERS))
def test_target_stddev_is_what_the_draws_have(name):
    shape = (3, 3, 64, 96)          # 55,296 draws: their spread is within 1 % of the target
    formula, value = initializers.target_stddev(name, shape)
    draws = backend.asnumpy(initializers.get(name)(shape, seed=0))
    numpy.testing.assert_allclose(draws.std(), value, rtol=0.02, atol=1e-12)
    fan_in, fan_out = initializers.compute_fans(shape)
    if name.startswith("he_"):
        assert formula == "sqrt(2 / fan_in)" and value == pytest.approx((2 / fan_in) ** 0.5)
    if name.startswith("glorot_"):
        assert value == pytest.approx((2 / (fan_in + fan_out)) ** 0.5)
    assert initializers.target_stddev(initializers.get(name), shape) == (formula, value)


def test_target_stddev_of_an_initializer_of_ones_own_is_none():
    assert initializers.target_stddev(lambda shape, seed=None, dtype="float32": None, (3, 3, 1, 8)) is None
    assert initializers.target_stddev("no_such_initializer", (3, 3, 1, 8)) is None
