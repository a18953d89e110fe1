"""Shape arithmetic (TensorFlow's padding rules, Keras's transposed-convolution sizes)."""

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tinyunet.shapes import (as_pair, check_padding, conv_geometry, conv_output_size, conv_transpose_output_size,
                             direct_geometry, direct_output_size, padding_amounts, pool_output_size, same_padding,
                             transpose_pads)

sizes, kernels, strides = st.integers(1, 40), st.integers(1, 7), st.integers(1, 3)


@pytest.mark.parametrize("n, k, s, padding, expected", [
    (256, 5, 1, "same", 256), (5, 3, 2, "same", 3), (4, 2, 2, "same", 2), (7, 7, 1, "valid", 1),
    (7, 3, 2, "valid", 3), (8, 3, 2, "valid", 3), (2, 3, 1, "valid", 0), (1, 1, 2, "same", 1)])
def test_conv_output_size_table(n, k, s, padding, expected):
    assert conv_output_size(n, k, s, padding) == expected


@pytest.mark.parametrize("n, k, s, expected", [
    # TF: total = max((ceil(n/s) - 1) * s + k - n, 0), smaller half before
    (5, 3, 1, (1, 1)), (5, 4, 1, (1, 2)), (5, 2, 1, (0, 1)), (4, 3, 2, (0, 1)), (5, 3, 2, (1, 1)),
    (6, 1, 2, (0, 0)), (4, 7, 1, (3, 3)), (8, 6, 1, (2, 3))])
def test_same_padding_table(n, k, s, expected):
    assert same_padding(n, k, s) == expected
    assert padding_amounts(n, k, s, "same") == expected
    assert padding_amounts(n, k, s, "valid") == (0, 0)


@pytest.mark.parametrize("n, k, s, padding, expected", [
    (8, 2, 2, "same", 16), (8, 3, 2, "same", 16), (8, 2, 2, "valid", 16), (8, 3, 2, "valid", 17),
    (8, 1, 2, "valid", 16), (3, 4, 1, "valid", 6), (3, 4, 1, "same", 3)])
def test_conv_transpose_output_size_table(n, k, s, padding, expected):
    assert conv_transpose_output_size(n, k, s, padding) == expected


@given(n=sizes, k=kernels, s=strides)
def test_same_padding_formula(n, k, s):
    out = conv_output_size(n, k, s, "same")
    before, after = same_padding(n, k, s)
    assert out == math.ceil(n / s)
    assert before + after == max((out - 1) * s + k - n, 0)
    assert before <= after <= before + 1
    # the last window fits inside the padded input
    assert (out - 1) * s + k <= n + before + after


@given(n=sizes, k=kernels, s=strides)
def test_valid_output_size_formula(n, k, s):
    out = conv_output_size(n, k, s, "valid")
    assert out == (max((n - k) // s + 1, 0) if n >= k else 0)
    if out:
        assert (out - 1) * s + k <= n < out * s + k


@given(n=st.integers(1, 20), k=kernels, s=strides, padding=st.sampled_from(["same", "valid"]))
def test_transpose_inverts_the_convolution_size(n, k, s, padding):
    assert conv_output_size(conv_transpose_output_size(n, k, s, padding), k, s, padding) == n


@given(n=sizes, p=kernels, s=strides)
def test_pool_output_size_counts_the_windows_that_fit(n, p, s):
    assume(n >= p)      # MaxPooling2D refuses an input smaller than its window
    (out,) = pool_output_size((n,), (p,), (s,))
    assert out == sum(1 for start in range(0, n, s) if start + p <= n)


@given(n=sizes, k=kernels, s=strides, padding=st.sampled_from(["same", "valid"]))
def test_conv_geometry_and_direct_output_size_agree(n, k, s, padding):
    (out, _), (pads, _) = conv_geometry((n, n), (k, k), (s, s), padding)
    assert out == conv_output_size(n, k, s, padding) and pads == padding_amounts(n, k, s, padding)
    if s == 1 and out > 0:
        assert direct_output_size((n,), (k,), (pads,)) == (out,)
        # the adjoint's pads take the output back to the input size
        adjoint = transpose_pads((pads, pads), k, k)[0]
        assert direct_output_size((out,), (k,), (adjoint,)) == (n,)


def test_direct_geometry_names_the_bad_shapes():
    assert direct_geometry((1, 4, 4, 3), (3, 3, 3, 8), ((1, 1), (1, 1)), "conv") == ((4, 4), ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match=r"conv: x \(1, 4, 4, 3\).*\(3, 3, 2, 8\)"):
        direct_geometry((1, 4, 4, 3), (3, 3, 2, 8), ((1, 1), (1, 1)), "conv")
    with pytest.raises(ValueError, match="conv: dz"):
        direct_geometry((1, 4, 4, 3), (3, 3, 3, 8), ((1, 1), (1, 1)), "conv", dz_shape=(1, 4, 4, 7))


def test_check_padding_and_as_pair():
    assert check_padding("SAME") == "same" and check_padding("valid") == "valid"
    with pytest.raises(ValueError, match="conv_9.*'full'"):
        check_padding("full", "conv_9")
    assert as_pair(3, "kernel_size") == (3, 3) and as_pair((2, 5), "kernel_size") == (2, 5)
    for bad in (0, -1, (1, 2, 3), (2, 0), 2.0, ("a", 1), True, None, "3"):
        with pytest.raises(ValueError, match="conv_9: kernel_size"):
            as_pair(bad, "kernel_size", "conv_9")
