"""Direct convolution (tinyunet/kernels/direct_conv.py and direct_conv_cuda.py): the xp twins
against plain loops, the adjoint and the weight gradient as properties (CPU), and each CUDA twin
against its xp twin (GPU).

The GPU tests carry the ``gpu`` marker and are skipped, visibly, when no CUDA device answers;
tools/emulate_kernels.py runs the same CUDA sources on the CPU.
"""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import relative_error
from tinyunet import kernels
from tinyunet.kernels import direct_conv_cuda, dispatch, gemm, windows
from tinyunet.kernels.conv import flip_kernel
from tinyunet.kernels.direct_conv import (conv2d_direct, conv2d_direct_xp, conv2d_weight_grad_direct,
                                          conv2d_weight_grad_direct_xp)
from tinyunet.kernels.dispatch import direct_conv_fits_cuda, direct_conv_supported
from tinyunet.shapes import padding_amounts, transpose_pads


def pads_of(in_size, kernel_size, padding):
    return tuple(padding_amounts(n, k, 1, padding) for n, k in zip(in_size, kernel_size))


def reference_conv(x, kernel, pads):
    """y[n, oh, ow, f] = sum_{i, j, c} xpad[n, oh + i, ow + j, c] * K[i, j, c, f], by loops."""
    kh, kw, c, f = kernel.shape
    xpad = numpy.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    n, hp, wp, _ = xpad.shape
    y = numpy.zeros((n, hp - kh + 1, wp - kw + 1, f))
    for b, oh, ow, o in numpy.ndindex(*y.shape):
        for i in range(kh):
            for j in range(kw):
                for ch in range(c):
                    y[b, oh, ow, o] += xpad[b, oh + i, ow + j, ch] * kernel[i, j, ch, o]
    return y


def reference_weight_grad(x, dz, kernel_shape, pads):
    """dK[i, j, c, f] = sum_{n, oh, ow} xpad[n, oh + i, ow + j, c] * dz[n, oh, ow, f], by loops."""
    kh, kw, c, f = kernel_shape
    xpad = numpy.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    dk = numpy.zeros(kernel_shape)
    for i, j, ch, o in numpy.ndindex(*kernel_shape):
        for b, oh, ow in numpy.ndindex(*dz.shape[:3]):
            dk[i, j, ch, o] += xpad[b, oh + i, ow + j, ch] * dz[b, oh, ow, o]
    return dk


# (N, H, W, C), (kh, kw), F, padding: kernel sizes 1, 2, 3, 5 and a non-square one, C from 1 to 32
CASES = [((2, 5, 6, 1), (1, 1), 3, "same"),
         ((1, 5, 4, 8), (1, 1), 1, "same"),
         ((2, 5, 5, 3), (2, 2), 4, "same"),
         ((1, 6, 5, 2), (2, 2), 3, "valid"),
         ((2, 5, 6, 16), (3, 3), 8, "same"),
         ((1, 6, 6, 5), (3, 3), 2, "valid"),
         ((1, 4, 4, 32), (3, 3), 16, "same"),
         ((2, 7, 7, 1), (5, 5), 8, "same"),
         ((1, 7, 6, 3), (5, 5), 2, "valid"),
         ((1, 5, 7, 4), (3, 2), 3, "same")]


def case_arrays(rng, shape, kernel_size, f, padding):
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal((*kernel_size, shape[3], f))
    return x, kernel, pads_of(shape[1:3], kernel_size, padding)


# ----------------------------------------------------------------- CPU: the xp twins

def test_a_hand_computed_case():
    # a 3x3 box filter with 'same' padding sums each pixel's neighbourhood inside the image
    x = numpy.arange(9.0).reshape(1, 3, 3, 1)
    y = conv2d_direct_xp(x, numpy.ones((3, 3, 1, 1)), ((1, 1), (1, 1)))
    numpy.testing.assert_array_equal(y[0, :, :, 0], [[8, 15, 12], [21, 36, 27], [20, 33, 24]])
    assert transpose_pads(((1, 1), (1, 1)), 3, 3) == ((1, 1), (1, 1))
    assert transpose_pads(((0, 1), (2, 2)), 2, 5) == ((1, 0), (2, 2))


@pytest.mark.parametrize("shape, kernel_size, f, padding", CASES)
def test_conv2d_direct_xp_matches_loops(shape, kernel_size, f, padding, rng):
    x, kernel, pads = case_arrays(rng, shape, kernel_size, f, padding)
    numpy.testing.assert_allclose(conv2d_direct_xp(x, kernel, pads), reference_conv(x, kernel, pads),
                                  rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape, kernel_size, f, padding", CASES)
def test_conv2d_weight_grad_direct_xp_matches_loops(shape, kernel_size, f, padding, rng):
    x, kernel, pads = case_arrays(rng, shape, kernel_size, f, padding)
    dz = rng.standard_normal(conv2d_direct_xp(x, kernel, pads).shape)
    numpy.testing.assert_allclose(conv2d_weight_grad_direct_xp(x, dz, kernel.shape, pads),
                                  reference_weight_grad(x, dz, kernel.shape, pads), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape, kernel_size, f, padding", CASES)
def test_the_flipped_kernel_and_transposed_pads_give_the_col2im_adjoint(shape, kernel_size, f, padding, rng):
    # dx by the direct forward equals Conv2D's input gradient the im2col way: col2im(dz @ K^T)
    x, kernel, pads = case_arrays(rng, shape, kernel_size, f, padding)
    n, h, w, c = shape
    dz = rng.standard_normal(conv2d_direct_xp(x, kernel, pads).shape)
    dx = conv2d_direct_xp(dz, flip_kernel(kernel), transpose_pads(pads, *kernel_size))
    cols = dz.reshape(-1, f) @ kernel.reshape(-1, f).T
    expected = windows.col2im_xp(cols.reshape(*dz.shape[:3], *kernel_size, c), (h, w), (1, 1), pads)
    assert dx.shape == x.shape
    numpy.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12)


@st.composite
def conv_problems(draw):
    """x, K, pads, y of a small stride-1 convolution with arbitrary non-negative pads <= k - 1."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = ((draw(st.integers(0, kh - 1)), draw(st.integers(0, kh - 1))),
            (draw(st.integers(0, kw - 1)), draw(st.integers(0, kw - 1))))
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    h, w = draw(st.integers(kh, kh + 4)), draw(st.integers(kw, kw + 4))
    rng = numpy.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x, kernel = rng.standard_normal((n, h, w, c)), rng.standard_normal((kh, kw, c, f))
    y = rng.standard_normal(conv2d_direct_xp(x, kernel, pads).shape)
    return x, kernel, pads, y


@given(conv_problems())
def test_the_adjoint_is_the_convolution_with_the_flipped_kernel(problem):
    # <conv(x, K), y> == <x, conv(y, flip(K), transpose_pads)>
    x, kernel, pads, y = problem
    left = numpy.vdot(conv2d_direct_xp(x, kernel, pads), y)
    right = numpy.vdot(x, conv2d_direct_xp(y, flip_kernel(kernel), transpose_pads(pads, *kernel.shape[:2])))
    assert left == pytest.approx(right, rel=1e-12, abs=1e-12)


@given(conv_problems())
def test_the_weight_grad_is_the_derivative_of_the_linear_map(problem):
    # y is linear in K, so the directional derivative along V is exact: <dK, V> == <conv(x, V), dz>
    x, kernel, pads, dz = problem
    v = numpy.random.default_rng(x.size).standard_normal(kernel.shape)
    dk = conv2d_weight_grad_direct_xp(x, dz, kernel.shape, pads)
    assert numpy.vdot(dk, v) == pytest.approx(numpy.vdot(conv2d_direct_xp(x, v, pads), dz), rel=1e-12, abs=1e-12)


def test_float32_stays_float32(rng):
    x, kernel, pads = case_arrays(rng, (2, 6, 6, 4), (3, 3), 5, "same")
    x, kernel = x.astype("float32"), kernel.astype("float32")
    y = conv2d_direct(x, kernel, pads)
    assert y.dtype == numpy.float32
    numpy.testing.assert_allclose(y, reference_conv(x, kernel, pads), rtol=1e-5, atol=1e-5)
    dk = conv2d_weight_grad_direct(x, y, kernel.shape, pads)
    assert dk.dtype == numpy.float32
    numpy.testing.assert_allclose(dk, reference_weight_grad(x, y, kernel.shape, pads), rtol=1e-4, atol=1e-4)


def test_bad_shapes_are_refused_with_the_shapes_named():
    x = numpy.zeros((1, 4, 4, 3))
    with pytest.raises(ValueError, match=r"\(1, 4, 4, 3\).*\(3, 3, 2, 8\)"):
        conv2d_direct(x, numpy.zeros((3, 3, 2, 8)), ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv2d_direct(x, numpy.zeros((5, 5, 3, 8)), ((0, 0), (0, 0)))
    with pytest.raises(ValueError, match="dz"):
        conv2d_weight_grad_direct(x, numpy.zeros((1, 4, 4, 7)), (3, 3, 3, 8), ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="negative"):
        transpose_pads(((3, 0), (0, 0)), 3, 3)


def test_direct_conv_supported_takes_the_small_layers_of_the_unet():
    assert direct_conv_supported(16, 8, 3, 3)          # up1_conv
    assert direct_conv_supported(8, 16, 3, 3)          # its input gradient: channels swapped
    assert direct_conv_supported(1, 8, 5, 5)           # down1_conv
    assert direct_conv_supported(8, 1, 1, 1)           # the 1x1 output layer
    assert direct_conv_supported(32, 16, 3, 3)         # up2_conv: direct measured faster on an H100
    assert not direct_conv_supported(64, 32, 3, 3)     # up3_conv: its kernel does not fit shared memory
    assert not direct_conv_supported(8, 128, 3, 3)     # too many accumulators per thread
    assert direct_conv_fits_cuda(32, 16, 3, 3, "float64")        # 36 KB of shared memory
    assert not direct_conv_fits_cuda(64, 32, 3, 3, "float32")    # 72 KB: more than a block may declare
    assert not direct_conv_fits_cuda(8, 8, 3, 3, "int32")


# ----------------------------------------------------------------- GPU: CUDA twin vs xp twin

# the U-Net's layers at batch 2 (up1, up2, down1, output), the input gradient of up1, odd shapes
GPU_CASES = [((2, 256, 256, 16), (3, 3), 8, "same"),
             ((2, 128, 128, 32), (3, 3), 16, "same"),
             ((2, 256, 256, 1), (5, 5), 8, "same"),
             ((2, 256, 256, 8), (1, 1), 1, "same"),
             ((2, 256, 256, 8), (3, 3), 16, "same"),
             ((3, 9, 7, 3), (3, 2), 5, "valid"),
             ((1, 6, 5, 6), (2, 2), 12, "same"),
             ((1, 12, 12, 4), (3, 3), 64, "same")]


def check_cuda_twins(cupy, rng, case, dtype, forward, weight_grad):
    """forward (and the adjoint through it, with the flipped kernel) and weight_grad on CuPy
    against the xp twins in float64 on the same (rounded) inputs, so that the error is the
    kernel's.  Returns weight_grad's result and the arguments it was called with."""
    shape, kernel_size, f, padding = case
    x64, kernel64, pads = case_arrays(rng, shape, kernel_size, f, padding)
    x, kernel = cupy.asarray(x64.astype(dtype)), cupy.asarray(kernel64.astype(dtype))
    want = conv2d_direct_xp(x.astype("float64"), kernel.astype("float64"), pads)
    tol = 1e-5 if dtype == "float32" else 1e-12
    y = forward(x, kernel, pads)
    assert y.dtype == dtype and relative_error(y, want) < tol
    dz = cupy.asarray(rng.standard_normal(want.shape).astype(dtype))
    adjoint, flipped = transpose_pads(pads, *kernel_size), flip_kernel(kernel)
    dx = forward(dz, flipped, adjoint)
    assert relative_error(dx, conv2d_direct_xp(dz.astype("float64"), flipped.astype("float64"), adjoint)) < tol
    dk = weight_grad(x, dz, kernel.shape, pads)
    want_dk = conv2d_weight_grad_direct_xp(x.astype("float64"), dz.astype("float64"), kernel.shape, pads)
    assert relative_error(dk, want_dk) < tol
    return dk, (x, dz, kernel.shape, pads)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", GPU_CASES)
@pytest.mark.gpu
def test_cuda_twins_match_the_xp_twins(cupy, case, dtype, rng):
    check_cuda_twins(cupy, rng, case, dtype, direct_conv_cuda.conv2d_direct_cuda,
                     direct_conv_cuda.conv2d_weight_grad_direct_cuda)


@pytest.mark.gpu
def test_dispatchers_run_the_cuda_twins_deterministically(cupy, rng):
    x64, kernel64, pads = case_arrays(rng, (4, 64, 64, 16), (3, 3), 8, "same")
    x, kernel = cupy.asarray(x64.astype("float32")), cupy.asarray(kernel64.astype("float32"))
    y = conv2d_direct(x, kernel, pads)
    assert bool((y == direct_conv_cuda.conv2d_direct_cuda(x, kernel, pads)).all())
    dz = cupy.asarray(rng.standard_normal(y.shape).astype("float32"))
    first = conv2d_weight_grad_direct(x, dz, kernel.shape, pads)
    assert bool((first == direct_conv_cuda.conv2d_weight_grad_direct_cuda(x, dz, kernel.shape, pads)).all())
    # no atomics: the same sums in the same order every time
    assert all(bool((first == conv2d_weight_grad_direct(x, dz, kernel.shape, pads)).all()) for _ in range(3))
    previous = kernels.set_fast(False)
    try:
        slow = conv2d_direct(x, kernel, pads)
    finally:
        kernels.set_fast(previous)
    assert relative_error(y, slow) < 1e-5


@pytest.mark.gpu
def test_cuda_twins_read_views_and_unaligned_arrays(cupy, rng):
    x64, kernel64, pads = case_arrays(rng, (2, 10, 10, 8), (3, 3), 4, "same")
    big = cupy.asarray(rng.standard_normal(x64.size + 1).astype("float32"))
    x = big[1:].reshape(x64.shape)          # contiguous, but 4 bytes past a 16-byte boundary
    kernel = cupy.asarray(kernel64.astype("float32"))
    want = conv2d_direct_xp(x.astype("float64"), kernel.astype("float64"), pads)
    assert relative_error(direct_conv_cuda.conv2d_direct_cuda(x, kernel, pads), want) < 1e-5
    assert relative_error(direct_conv_cuda.conv2d_direct_cuda(x, flip_kernel(flip_kernel(kernel)), pads), want) < 1e-5
    dz = cupy.asarray(rng.standard_normal(want.shape).astype("float32"))
    want_dk = conv2d_weight_grad_direct_xp(x.astype("float64"), dz.astype("float64"), kernel.shape, pads)
    assert relative_error(direct_conv_cuda.conv2d_weight_grad_direct_cuda(x, dz, kernel.shape, pads), want_dk) < 1e-5


# the tiled twins (many channels): the article's im2col layers at batch 2 and edge cases (C not
# a multiple of 16, F not a multiple of the 64-filter tile, 'valid', a 1 x 1 kernel)
TILED_CASES = [((2, 16, 16, 64), (3, 3), 128, "same"),      # down5_conv
               ((2, 32, 32, 128), (3, 3), 64, "same"),      # up4_conv
               ((2, 16, 16, 256), (3, 3), 128, "same"),     # up5_conv
               ((1, 9, 7, 40), (3, 2), 70, "valid"),
               ((2, 5, 6, 96), (1, 1), 33, "same")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", TILED_CASES)
@pytest.mark.gpu
def test_tiled_cuda_twins_match_the_xp_twins(cupy, case, dtype, rng, monkeypatch):
    from tinyunet.kernels import tiled_conv_cuda
    weight_grad = tiled_conv_cuda.conv2d_weight_grad_tiled_cuda
    for min_split in (gemm.MIN_SPLIT_DEPTH, 16):     # one split or several; then many
        monkeypatch.setattr(gemm, "MIN_SPLIT_DEPTH", min_split)
        dk, args = check_cuda_twins(cupy, rng, case, dtype, tiled_conv_cuda.conv2d_tiled_cuda, weight_grad)
        assert bool((dk == weight_grad(*args)).all())             # partials added in split order


@pytest.mark.gpu
def test_the_tiled_kernel_runs_the_layers_only_when_switched_on(cupy, rng):
    from tinyunet.layers import Conv2D
    x = cupy.asarray(rng.standard_normal((2, 16, 16, 64)).astype("float32"))
    assert not dispatch.use_tiled_conv(x, (3, 3, 64, 128), (1, 1))       # off by default
    layer = Conv2D(128, 3, padding="same", activation="relu", seed=0)
    layer.build(x.shape)
    dy = cupy.asarray(rng.standard_normal(layer.output_shape(x.shape)).astype("float32"))
    results = {}
    for tiled in (False, True):
        previous = kernels.set_tiled_conv(tiled)
        try:
            assert dispatch.use_direct_conv(x, (3, 3, 64, 128), (1, 1)) == tiled
            y = layer.forward(x)
            assert (layer.cols is None) == tiled      # the tiled path builds no im2col matrix to keep
            results[tiled] = (y, layer.backward(dy), layer.grads["kernel"].copy(), layer.grads["bias"].copy())
        finally:
            kernels.set_tiled_conv(previous)
    for got, want in zip(results[True], results[False]):
        assert relative_error(got, want) < 1e-5


def test_the_tiled_kernel_is_never_chosen_on_numpy():
    from tinyunet.kernels import dispatch
    previous = kernels.set_tiled_conv(True)
    try:
        assert not dispatch.use_tiled_conv(numpy.zeros((1, 4, 4, 64), "float32"), (3, 3, 64, 128), (1, 1))
        assert not dispatch.use_direct_conv(numpy.zeros((1, 4, 4, 64), "float32"), (3, 3, 64, 128), (1, 1))
    finally:
        kernels.set_tiled_conv(previous)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "softmax"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_bias_activation_is_conv2d_then_the_epilogue(xp, activation, with_bias, rng):
    """Conv2D's forward: on NumPy the two readable steps; on the GPU, for the direct kernel's
    shapes and an element-wise activation, both in the kernel's write (the same numbers)."""
    x = xp.asarray(rng.standard_normal((2, 9, 8, 16)).astype("float32"))
    kernel = xp.asarray(rng.standard_normal((3, 3, 16, 8)).astype("float32"))
    bias = xp.asarray(rng.standard_normal(8).astype("float32")) if with_bias else None
    y, cols = kernels.conv2d_bias_activation(x, kernel, bias, activation, (1, 1), "same")
    fused = dispatch.use_fused_epilogue(x, kernel, bias, activation, (1, 1))
    assert fused == (xp is not numpy and activation != "softmax")
    previous = dispatch.set_fast(False)
    try:
        z, _ = kernels.conv2d(x, kernel, (1, 1), "same", keep_cols=True)
        want = kernels.bias_activation(z, bias, activation)
    finally:
        dispatch.set_fast(previous)
    assert y.dtype == numpy.float32 and (cols is None or not fused)      # the direct kernel builds none
    assert relative_error(y, want) < 1e-5


@pytest.mark.gpu
def test_a_conv2d_layer_takes_the_fused_epilogue_and_keeps_what_its_backward_needs(cupy, rng):
    from tinyunet.layers import Conv2D
    x = cupy.asarray(rng.standard_normal((2, 16, 16, 8)).astype("float32"))
    results = {}
    for fast in (True, False):
        previous = dispatch.set_fast(fast)
        try:
            layer = Conv2D(16, 3, padding="same", activation="relu", seed=0)
            y = layer.forward(x)
            dx = layer.backward(cupy.ones_like(y))
        finally:
            dispatch.set_fast(previous)
        results[fast] = (y, dx, layer.grads["bias"], layer.y is y)
    (y, dx, db, kept), (y_plain, dx_plain, db_plain, kept_plain) = results[True], results[False]
    assert kept and kept_plain
    for got, want in ((y, y_plain), (dx, dx_plain), (db, db_plain)):
        assert relative_error(got, want) < 1e-5
