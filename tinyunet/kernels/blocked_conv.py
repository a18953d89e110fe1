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

The blocks and their order are fixed by the shapes, so the result does not depend on the
timing; the kernel gradient's per-thread sums are added in thread order.
"""

import numpy

from . import cpu_threads
from .windows import col2im, is_pointwise, window_view

# im2col rows per block: about this many bytes (a share of a core's 1-2 MB L2 cache) ...
BLOCK_BYTES = 1 << 20
# ... but at least this many output pixels, so each product stays large enough to run fast
MIN_PIXELS = 256


def plan_blocks(n, ho, wo, row_bytes, threads):
    """[(n0, n1, r0, r1), ...]: blocks of images n0:n1, output rows r0:r1, that cover the
    (N, Ho) rows once.  A block holds several images only when it holds all their rows, so
    y[n0:n1, r0:r1] is one contiguous run of pixels; there are at least ``threads`` blocks
    where the batch allows it.  row_bytes: one output row's share of im2col (Wo*kh*kw*C*itemsize).
    """
    rows = max(1, BLOCK_BYTES // max(row_bytes, 1), -(-MIN_PIXELS // wo))
    if rows >= ho and n >= threads:
        images = max(1, min(BLOCK_BYTES // max(row_bytes * ho, 1), -(-n // threads)))
        return [(i, min(i + images, n), 0, ho) for i in range(0, n, images)]
    rows = max(1, min(rows, ho, -(-ho * n // threads)))
    return [(i, i + 1, r, min(r + rows, ho)) for i in range(n) for r in range(0, ho, rows)]


def _blocks_of(x, kernel_shape, strides, pads, out_size):
    """(windows view, blocks, pointwise): pointwise is True for a 1x1 window at stride 1
    without padding, whose im2col block is the input block itself, so no copy is needed."""
    kh, kw, c, _ = kernel_shape
    ho, wo = out_size
    pointwise = is_pointwise((kh, kw), strides, pads)
    windows = x if pointwise else window_view(x, (kh, kw), strides, pads, out_size)
    blocks = plan_blocks(x.shape[0], ho, wo, wo * kh * kw * c * x.itemsize, cpu_threads.threads())
    return windows, blocks, pointwise


class _Columns:
    """One thread's im2col block buffer, reused from block to block of the same shape."""

    def __init__(self, windows, kernel_shape, pointwise):
        self.windows, self.pointwise = windows, pointwise
        self.depth = kernel_shape[0] * kernel_shape[1] * kernel_shape[2]
        self.buffer = None

    def block(self, n0, n1, r0, r1):
        """im2col's rows for images n0:n1, output rows r0:r1, as a (pixels, kh*kw*C) matrix."""
        part = self.windows[n0:n1, r0:r1]
        if self.pointwise:
            return part.reshape(-1, self.depth)
        if self.buffer is None or self.buffer.shape != part.shape:
            self.buffer = part.copy()
        else:
            self.buffer[...] = part
        return self.buffer.reshape(-1, self.depth)


def conv2d_blocked(x, kernel, strides, pads, out_size):
    """conv2d_xp's y (N, Ho, Wo, F), block by block on every core; no im2col matrix is kept."""
    kh, kw, c, f = kernel.shape
    windows, blocks, pointwise = _blocks_of(x, kernel.shape, strides, pads, out_size)
    k2 = kernel.reshape(kh * kw * c, f)
    ho, wo = out_size
    y = numpy.empty((x.shape[0], ho, wo, f), dtype=numpy.result_type(x, kernel))
    pixels = y.reshape(-1, f)           # a block's output pixels are one run of these rows

    def work(share):
        cols = _Columns(windows, kernel.shape, pointwise)
        for n0, n1, r0, r1 in share:
            start, stop = (n0 * ho + r0) * wo, ((n1 - 1) * ho + r1) * wo
            numpy.matmul(cols.block(n0, n1, r0, r1), k2, out=pixels[start:stop])

    cpu_threads.run_shares(work, blocks)
    return y


def conv2d_kernel_grad_blocked(x, dy, kernel_shape, strides, pads):
    """conv2d_kernel_grad_xp's dK = im2col(x)^T @ dL/dy, summed block by block on every core."""
    f = kernel_shape[3]
    windows, blocks, pointwise = _blocks_of(x, kernel_shape, strides, pads, dy.shape[1:3])

    def work(share):
        cols, grad = _Columns(windows, kernel_shape, pointwise), 0
        for n0, n1, r0, r1 in share:
            grad = grad + cols.block(n0, n1, r0, r1).T @ dy[n0:n1, r0:r1].reshape(-1, f)
        return grad

    if not blocks:      # an empty batch
        return numpy.zeros(kernel_shape, dtype=numpy.result_type(x, dy))
    return sum(cpu_threads.run_shares(work, blocks)).reshape(kernel_shape)


def conv2d_transpose_blocked(y, kernel, in_size, strides, pads):
    """conv2d_transpose_xp's x = col2im(y @ K2^T), its product on every core."""
    kh, kw, c, f = kernel.shape
    n, ho, wo, _ = y.shape
    cols = matmul_blocked(y.reshape(-1, f), kernel.reshape(kh * kw * c, f).T)
    return col2im(cols.reshape(n, ho, wo, kh, kw, c), in_size, strides, pads)


def matmul_blocked(a, b):
    """a @ b for a tall a (M, K), its rows in blocks on every core."""
    out = numpy.empty((a.shape[0], b.shape[1]), dtype=numpy.result_type(a, b))
    rows = max(MIN_PIXELS, BLOCK_BYTES // max(a.shape[1] * a.itemsize, 1))
    rows = min(rows, -(-a.shape[0] // cpu_threads.threads()))
    blocks = [(start, min(start + rows, a.shape[0])) for start in range(0, a.shape[0], rows)]

    def work(share):
        for start, stop in share:
            numpy.matmul(a[start:stop], b, out=out[start:stop])

    cpu_threads.run_shares(work, blocks)
    return out
