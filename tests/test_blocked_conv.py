"""The blocked convolution on NumPy (blocked_conv.py) and the thread pool it runs on (cpu_threads.py).

The blocked forms compute conv.py's xp forms block by block, on several threads: the same
products, so the forward equals the readable form to rounding (float64 here, so to 1e-12),
and the kernel gradient, which sums the blocks in another order, to rounding too.  The block
plan must cover every output row once, whatever the block size and thread count.
"""

import threading
import time

import numpy
import pytest

from tinyunet.kernels import blocked_conv, conv, cpu_threads, dispatch
from tinyunet.shapes import conv_geometry

from helpers import normal_array

SHAPES = [  # (batch, H, W, C, F, kernel, stride, padding)
    (3, 17, 13, 5, 7, 3, 1, "same"), (2, 16, 16, 4, 3, 2, 2, "valid"), (1, 9, 11, 3, 2, 5, 1, "same"),
    (5, 8, 8, 4, 4, 1, 1, "valid"), (2, 33, 31, 2, 3, 4, 3, "valid"), (4, 12, 12, 6, 5, 3, 2, "same"),
    # window rows under TAP_MAJOR_BELOW_BYTES: the blocks built tap by tap (one or two channels)
    (2, 19, 15, 1, 4, 5, 1, "same"), (3, 14, 14, 1, 3, 3, 2, "valid"), (2, 10, 9, 2, 3, 3, 1, "same"),
]


def test_the_shapes_build_blocks_in_both_layouts():
    layouts = set()
    for shape in SHAPES:
        x, kernel, _, strides, pads, out_size = _case(shape)
        windows, _, pointwise = blocked_conv._blocks_of(x, kernel.shape, strides, pads, out_size)
        layouts.add(blocked_conv._Columns(windows, kernel.shape, pointwise).tap_major)
    assert layouts == {False, True}


def _case(shape, seed=0):
    n, h, w, c, f, k, s, padding = shape
    out_size, pads = conv_geometry((h, w), (k, k), (s, s), padding)
    x = normal_array(seed, (n, h, w, c))
    kernel = normal_array(seed + 1, (k, k, c, f))
    dy = normal_array(seed + 2, (n, *out_size, f))
    return x, kernel, dy, (s, s), pads, out_size


@pytest.mark.parametrize("shape", SHAPES)
def test_blocked_forward_is_conv2d_xp(shape, small_blocks):
    x, kernel, _, strides, pads, out_size = _case(shape)
    reference, _ = conv.conv2d_xp(x, kernel, strides, pads, out_size)
    numpy.testing.assert_allclose(blocked_conv.conv2d_blocked(x, kernel, strides, pads, out_size),
                                  reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_blocked_kernel_gradient_is_the_xp_form(shape, small_blocks):
    x, kernel, dy, strides, pads, out_size = _case(shape)
    _, cols = conv.conv2d_xp(x, kernel, strides, pads, out_size)
    reference = conv.conv2d_kernel_grad_xp(cols, dy, kernel.shape)
    numpy.testing.assert_allclose(blocked_conv.conv2d_kernel_grad_blocked(x, dy, kernel.shape, strides, pads),
                                  reference, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("shape", [s for s in SHAPES if s[6] > 1])
def test_blocked_transpose_is_conv2d_transpose_xp(shape, small_blocks):
    x, kernel, dy, strides, pads, _ = _case(shape)
    reference = conv.conv2d_transpose_xp(dy, kernel, x.shape[1:3], strides, pads)
    numpy.testing.assert_allclose(blocked_conv.conv2d_transpose_blocked(dy, kernel, x.shape[1:3], strides, pads),
                                  reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[6]])      # pixel by pixel, tap by tap
def test_float32_blocks_give_float32_and_the_same_values_each_time(shape, small_blocks):
    x, kernel, dy, strides, pads, out_size = _case(shape)
    x, kernel, dy = x.astype(numpy.float32), kernel.astype(numpy.float32), dy.astype(numpy.float32)
    first = blocked_conv.conv2d_kernel_grad_blocked(x, dy, kernel.shape, strides, pads)
    again = blocked_conv.conv2d_kernel_grad_blocked(x, dy, kernel.shape, strides, pads)
    assert first.dtype == numpy.float32
    numpy.testing.assert_array_equal(first, again)      # fixed shares, summed in share order
    y = blocked_conv.conv2d_blocked(x, kernel, strides, pads, out_size)
    reference, _ = conv.conv2d_xp(x, kernel, strides, pads, out_size)
    assert y.dtype == numpy.float32
    numpy.testing.assert_allclose(y, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n,ho,wo,row_bytes,threads", [
    (4, 256, 256, 147456, 2), (4, 16, 16, 147456, 2), (1, 16, 16, 147456, 2), (3, 7, 5, 100, 2),
    (5, 4, 4, 10, 3), (1, 1, 1, 10 ** 9, 4), (2, 300, 1, 4, 1)])
def test_block_plan_covers_every_output_row_once(n, ho, wo, row_bytes, threads):
    blocks = cpu_threads.plan_blocks(n, ho, wo, row_bytes, threads)
    covered = numpy.zeros((n, ho), dtype=int)
    for n0, n1, r0, r1 in blocks:
        assert 0 <= n0 < n1 <= n and 0 <= r0 < r1 <= ho
        assert n1 - n0 == 1 or (r0, r1) == (0, ho)      # several images only with all their rows
        covered[n0:n1, r0:r1] += 1
    assert (covered == 1).all()
    assert len(blocks) >= min(threads, n * ho)


def test_a_layer_on_the_blocked_path_keeps_no_im2col_matrix():
    """The layers' results with the blocked path on and off are compared in
    test_cpu_fast_paths.py; here: the forward keeps nothing for the backward pass."""
    if not cpu_threads.available():
        pytest.skip("no OpenBLAS found: the blocked path is off")
    from tinyunet.layers import Conv2D
    layer = Conv2D(4, 3, padding="same", seed=0)
    x = normal_array(0, (2, 8, 8, 3))
    layer.build(x.shape, dtype="float64")
    assert dispatch.use_cpu_threads(x)
    layer.forward(x)
    assert layer.cols is None
    previous = dispatch.set_fast(False)
    try:
        assert not dispatch.use_cpu_threads(x)
        layer.forward(x)
        assert layer.cols is not None
    finally:
        dispatch.set_fast(previous)


def test_bias_gradient_is_the_sum_over_pixels():
    dz = normal_array(3, (2, 5, 4, 3))
    numpy.testing.assert_allclose(conv.conv_bias_grad(dz), dz.sum(axis=(0, 1, 2)), rtol=1e-12)


# --- the pool ---

@pytest.mark.parametrize("threads", [1, 2, 3])
def test_run_each_returns_every_result_in_item_order(monkeypatch, threads):
    monkeypatch.setattr(cpu_threads, "threads", lambda: threads)
    names = set()

    def work(item):
        names.add(threading.current_thread().name)
        time.sleep(0.001 * (item % 3))     # uneven items: the threads take different counts
        return item * item

    assert cpu_threads.run_each(work, range(20)) == [i * i for i in range(20)]
    assert len(names) == threads
    assert cpu_threads.run_each(work, []) == []
    assert cpu_threads.run_blocks(lambda n0, n1, r0, r1: (n1 - n0) * (r1 - r0), [(0, 2, 0, 3), (2, 3, 1, 2)]) == [6, 1]


def test_an_error_in_an_item_is_raised_after_every_thread_has_stopped(monkeypatch):
    monkeypatch.setattr(cpu_threads, "threads", lambda: 2)
    running, done = [], []

    def work(item):
        running.append(item)
        if item == 1:
            raise ValueError("item 1")
        time.sleep(0.01)
        done.append(item)
        running.remove(item)

    with pytest.raises(ValueError, match="item 1"):
        cpu_threads.run_each(work, range(50))
    assert running == [1]                  # nothing else still running when the error is raised
    assert len(done) < 49                  # and the threads took no more items after it


@pytest.mark.skipif(not cpu_threads.available(), reason="no OpenBLAS found: its thread count cannot be set")
def test_openblas_is_held_to_one_thread_inside_and_restored_after():
    setter, getter = cpu_threads._openblas
    before = getter()
    seen = cpu_threads.run_each(lambda item: getter(), range(4))
    assert seen and set(seen) == {1}
    assert getter() == before
    with pytest.raises(RuntimeError):
        cpu_threads.run_each(lambda item: (_ for _ in ()).throw(RuntimeError("boom")), range(4))
    assert getter() == before
    with cpu_threads.blas_single_threaded():
        with cpu_threads.blas_single_threaded():
            assert getter() == 1
        assert getter() == 1
    assert getter() == before


@pytest.mark.parametrize("pads,strides", [
    (((4, 0), (0, 3)), (1, 1)), (((0, 5), (6, 1)), (2, 1)), (((2, 2), (2, 2)), (3, 2)), (((0, 0), (1, 0)), (1, 2))])
def test_explicit_pads_wider_than_the_kernel_give_the_xp_forms(pads, strides, small_blocks):
    """Uneven pads, some wider than the kernel (as the flipped adjoint's can be), leave whole
    blocks of windows in the padding: the forward and kernel gradient still equal the xp forms'."""
    x, kernel = normal_array(10, (2, 7, 6, 3)), normal_array(11, (3, 2, 3, 4))
    out_size = tuple((size + sum(pad) - k) // s + 1
                     for size, pad, k, s in zip(x.shape[1:3], pads, kernel.shape[:2], strides))
    reference, cols = conv.conv2d_xp(x, kernel, strides, pads, out_size)
    numpy.testing.assert_allclose(blocked_conv.conv2d_blocked(x, kernel, strides, pads, out_size),
                                  reference, rtol=1e-12, atol=1e-12)
    dy = normal_array(12, reference.shape)
    numpy.testing.assert_allclose(blocked_conv.conv2d_kernel_grad_blocked(x, dy, kernel.shape, strides, pads),
                                  conv.conv2d_kernel_grad_xp(cols, dy, kernel.shape), rtol=1e-11, atol=1e-11)
