"""NumPy's fast form of conv2d and its kernel gradient: im2col one cache-sized block at a time.

The same maths as conv.py's xp forms, block by block.  A block is a few output rows of one
image (or a few whole images, when an image's matrix is small):

    for each block b:   cols_b = im2col(x) rows of b        (a copy the size of the L2 cache)
                        y_b    = cols_b @ K2                 conv2d
                        dK    += cols_b^T @ dL/dy_b          the kernel gradient

conv2d_xp writes the whole im2col matrix to memory and reads it back for one thin product
(up1_conv of the article's U-Net: 151 MB at batch 4, for 8 output columns).  Here each
block is read back while it is still in the core's cache, and the blocks are shared out
over the cores (cpu_threads.py), so the copies, which NumPy runs on one thread, run on all
of them.  Nothing is kept for the backward pass: the kernel gradient rebuilds its blocks.

The blocks are fixed by the shapes and the thread count.  Which thread runs a block depends
on the timing (each takes the next one left), but each block of the forward writes its own
output rows, and the kernel gradient sums its blocks in fixed groups of neighbours whose sums
are added in group order, so the result does not depend on the timing.
"""

import threading

import numpy

from . import cpu_threads
from .copies import pad
from .windows import col2im, is_pointwise, window_view

NO_PADS = ((0, 0), (0, 0))


def _blocks_of(x, kernel_shape, strides, pads, out_size):
    """(windows view, blocks, pointwise): pointwise is True for a 1x1 window at stride 1
    without padding, whose im2col block is the input block itself, so no copy is needed."""
    kh, kw, c, _ = kernel_shape
    ho, wo = out_size
    pointwise = is_pointwise((kh, kw), strides, pads)
    if pointwise:
        windows = x
    else:       # the padded copy too is made on every core (copies.pad)
        windows = window_view(pad(x, pads) if any(map(any, pads)) else x, (kh, kw), strides, NO_PADS, out_size)
    blocks = cpu_threads.plan_blocks(x.shape[0], ho, wo, wo * kh * kw * c * x.itemsize)
    return windows, blocks, pointwise


# A window's row is kw * C contiguous values of x.  Copied pixel by pixel, as im2col's rows
# are laid out, a row shorter than a cache line is a copy of a few values at a time, which
# NumPy runs slowly: the article's first layer (one channel, 5 x 5) copies runs of 5 floats.
# Below this many bytes the block is built tap by tap instead, as its transpose (kh*kw*C,
# pixels): each of its rows is a run of one output row's pixels.  One block of 4 x 256 x 256
# images, one thread (2-core EPYC, NumPy 2.4): the copy 0.25 -> 0.024 ms at C = 1, 5 x 5;
# 0.32 -> 0.09 ms at C = 2, 3 x 3; equal at 72-80 bytes (C = 6, 3 x 3; C = 4, 5 x 5); slower from C = 8.
TAP_MAJOR_BELOW_BYTES = 64


class _Columns:
    """One thread's im2col block buffer, reused from block to block of the same shape."""

    def __init__(self, windows, kernel_shape, pointwise):
        self.windows, self.pointwise = windows, pointwise
        kh, kw, c, _ = kernel_shape
        self.depth = kh * kw * c
        self.tap_major = not pointwise and kw * c * windows.itemsize < TAP_MAJOR_BELOW_BYTES
        self.buffer = None

    def block(self, n0, n1, r0, r1):
        """im2col's rows for images n0:n1, output rows r0:r1, as a (pixels, kh*kw*C) matrix
        (tap-major: the transpose of a C-contiguous (kh*kw*C, pixels) one; matmul takes both)."""
        part = self.windows[n0:n1, r0:r1]
        if self.pointwise:
            return part.reshape(-1, self.depth)
        if self.tap_major:
            part = part.transpose(3, 4, 5, 0, 1, 2)       # (kh, kw, C, images, rows, Wo)
        if self.buffer is None or self.buffer.shape != part.shape:
            self.buffer = numpy.empty(part.shape, dtype=part.dtype)
        self.buffer[...] = part
        if self.tap_major:
            return self.buffer.reshape(self.depth, -1).T
        return self.buffer.reshape(-1, self.depth)


def conv2d_blocked(x, kernel, strides, pads, out_size):
    """conv2d_xp's y (N, Ho, Wo, F), block by block on every core; no im2col matrix is kept."""
    kh, kw, c, f = kernel.shape
    windows, blocks, pointwise = _blocks_of(x, kernel.shape, strides, pads, out_size)
    k2 = kernel.reshape(kh * kw * c, f)
    ho, wo = out_size
    y = numpy.empty((x.shape[0], ho, wo, f), dtype=numpy.result_type(x, kernel))
    pixels = y.reshape(-1, f)           # a block's output pixels are one run of these rows
    local = threading.local()           # each thread's im2col buffer

    def work(n0, n1, r0, r1):
        if not hasattr(local, "cols"):
            local.cols = _Columns(windows, kernel.shape, pointwise)
        start, stop = (n0 * ho + r0) * wo, ((n1 - 1) * ho + r1) * wo
        numpy.matmul(local.cols.block(n0, n1, r0, r1), k2, out=pixels[start:stop])

    cpu_threads.run_blocks(work, blocks)
    return y


# the kernel gradient's blocks are summed in groups of neighbours, at least this many groups
# per thread so that the threads can balance: the groups' sums are added in group order, so
# the result does not depend on which thread summed which group
GROUPS_PER_THREAD = 4


def conv2d_kernel_grad_blocked(x, dy, kernel_shape, strides, pads):
    """conv2d_kernel_grad_xp's dK = im2col(x)^T @ dL/dy, summed block by block on every core."""
    f = kernel_shape[3]
    windows, blocks, pointwise = _blocks_of(x, kernel_shape, strides, pads, dy.shape[1:3])
    if not blocks:      # an empty batch
        return numpy.zeros(kernel_shape, dtype=numpy.result_type(x, dy))
    size = -(-len(blocks) // (GROUPS_PER_THREAD * cpu_threads.threads()))
    groups = [blocks[start:start + size] for start in range(0, len(blocks), size)]
    local = threading.local()

    def work(group):
        if not hasattr(local, "cols"):
            local.cols = _Columns(windows, kernel_shape, pointwise)
        grad = 0
        for n0, n1, r0, r1 in group:
            grad = grad + local.cols.block(n0, n1, r0, r1).T @ dy[n0:n1, r0:r1].reshape(-1, f)
        return grad

    return sum(cpu_threads.run_each(work, groups)).reshape(kernel_shape)


def conv2d_transpose_blocked(y, kernel, in_size, strides, pads):
    """conv2d_transpose_xp's x = col2im(y @ K2^T), its product on every core."""
    kh, kw, c, f = kernel.shape
    n, ho, wo, _ = y.shape
    cols = matmul_blocked(y.reshape(-1, f), kernel.reshape(kh * kw * c, f).T)
    return col2im(cols.reshape(n, ho, wo, kh, kw, c), in_size, strides, pads)


def matmul_blocked(a, b):
    """a @ b for a tall a (M, K), its rows in blocks on every core."""
    out = numpy.empty((a.shape[0], b.shape[1]), dtype=numpy.result_type(a, b))
    rows = max(cpu_threads.MIN_PIXELS, cpu_threads.BLOCK_BYTES // max(a.shape[1] * a.itemsize, 1))
    rows = min(rows, -(-a.shape[0] // cpu_threads.threads()))
    blocks = [(start, min(start + rows, a.shape[0])) for start in range(0, a.shape[0], rows)]

    def work(rows):
        numpy.matmul(a[rows[0]:rows[1]], b, out=out[rows[0]:rows[1]])

    cpu_threads.run_each(work, blocks)
    return out
