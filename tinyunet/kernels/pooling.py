"""Max pooling's forward (the window maximum and where it was) and backward (route dL/dy there).

    y[n, oh, ow, c]      = max_{i < ph, j < pw} x[n, oh * sh + i, ow * sw + j, c]
    argmax[n, oh, ow, c] = i * pw + j of the FIRST maximum in row-major window order
    dx[n, oh * sh + i, ow * sw + j, c] += dy[n, oh, ow, c]   where i * pw + j == argmax

so each window's gradient goes to exactly one element, even with ties (as PyTorch).
argmax is kept as uint8 (one byte per output; at most 256 window positions).  The
xp forms are the reference: the CUDA twins are tested against them.  The CUDA
twin of the backward pass is a gather: each input pixel looks at the windows
that contain it, with no atomics.
"""

import functools

import numpy

from .. import backend
from ..shapes import pool_output_size
from . import _cuda, cpu_threads
from ._cuda import ctype, launch
from .dispatch import use_cpu_threads, use_cuda_max_pool, use_cuda_max_pool_backward


def window_xp(x, i, j, strides, out_size):
    """(N, Ho, Wo, C) view: the entry at position (i, j) of every window."""
    (sh, sw), (ho, wo) = strides, out_size
    return x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]


def max_pool_xp(x, pool_size, strides):
    """(y, argmax) of max pooling x (N, H, W, C) with 'valid' windows; both (N, Ho, Wo, C),
    argmax as uint8 (int32 beyond 256 window positions): the window position i * pw + j.

    One pass per window position over strided views: an entry replaces the running
    maximum only when strictly greater, so ties keep the first maximum in row-major order.
    """
    xp = backend.get_array_module(x)
    ph, pw = pool_size
    out_size = pool_output_size(x.shape[1:3], pool_size, strides)
    y = window_xp(x, 0, 0, strides, out_size).copy()
    argmax = xp.zeros(y.shape, dtype=xp.uint8 if ph * pw <= 256 else xp.int32)
    for position in range(1, ph * pw):
        v = window_xp(x, position // pw, position % pw, strides, out_size)
        xp.copyto(argmax, position, where=v > y)
        xp.maximum(y, v, out=y)
    return y, argmax


def max_pool_backward_xp(dy, argmax, in_shape, pool_size, strides):
    """dL/dx (in_shape) from dL/dy and the argmax of the forward pass."""
    xp = backend.get_array_module(dy)
    ph, pw = pool_size
    dx = xp.zeros(in_shape, dtype=dy.dtype)
    for i in range(ph):
        for j in range(pw):
            # += because windows overlap when strides < pool_size
            window_xp(dx, i, j, strides, dy.shape[1:3])[...] += dy * (argmax == i * pw + j)
    return dx


# --- NumPy on every core: the xp forms on blocks of output rows ---

def max_pool_blocked(x, pool_size, strides):
    """max_pool_xp on blocks of output rows (each block reads the input rows its windows
    cover), on every core; the same values, written into one (y, argmax)."""
    (ph, pw), (sh, sw) = pool_size, strides
    n, _, _, c = x.shape
    ho, wo = pool_output_size(x.shape[1:3], pool_size, strides)
    y = numpy.empty((n, ho, wo, c), dtype=x.dtype)
    argmax = numpy.empty((n, ho, wo, c), dtype=numpy.uint8 if ph * pw <= 256 else numpy.int32)

    def work(n0, n1, r0, r1):
        y[n0:n1, r0:r1], argmax[n0:n1, r0:r1] = max_pool_xp(x[n0:n1, r0 * sh:(r1 - 1) * sh + ph], pool_size, strides)

    cpu_threads.run_blocks(work, cpu_threads.plan_blocks(n, ho, wo, wo * c * x.itemsize * sh * sw))
    return y, argmax


def max_pool_backward_blocked(dy, argmax, in_shape, pool_size, strides):
    """max_pool_backward_xp on blocks of output rows, on every core.  Windows that overlap
    (strides < pool_size) would add into the same input rows from two blocks, so there a
    block is whole images."""
    (ph, pw), (sh, sw) = pool_size, strides
    n, ho, wo, c = dy.shape
    dx = numpy.empty(tuple(in_shape), dtype=dy.dtype)

    def work(n0, n1, r0, r1):
        # input rows from the block's first window down to the next block's (the last block:
        # to the bottom, with the rows no window reaches), so the blocks tile dx
        top, bottom = r0 * sh, r1 * sh if r1 < ho else in_shape[1]
        dx[n0:n1, top:bottom] = max_pool_backward_xp(dy[n0:n1, r0:r1], argmax[n0:n1, r0:r1],
                                                     (n1 - n0, bottom - top, *in_shape[2:]), pool_size, strides)

    if sh >= ph and sw >= pw:
        blocks = cpu_threads.plan_blocks(n, ho, wo, wo * c * dy.itemsize * sh * sw)
    else:
        blocks = [(i, i + 1, 0, ho) for i in range(n)]
    cpu_threads.run_blocks(work, blocks)
    return dx


# --- CUDA twins ---

_HEADER = r"""
typedef %(T)s T;
#define H %(H)d
#define W %(W)d
#define C %(C)d
#define PH %(PH)d
#define PW %(PW)d
#define SH %(SH)d
#define SW %(SW)d
#define HO %(HO)d
#define WO %(WO)d
"""

_FORWARD = _HEADER + r"""
extern "C" __global__ void max_pool(const T* __restrict__ x, T* __restrict__ y,
                                    unsigned char* __restrict__ argmax, long long total) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    // idx runs over y (N, HO, WO, C)
    int c = idx %% C;
    long long t = idx / C;
    int ow = t %% WO; t /= WO;
    int oh = t %% HO;
    long long n = t / HO;
    const T* corner = x + ((n * H + oh * SH) * W + ow * SW) * C + c;
    T best = corner[0];
    int where = 0;
    #pragma unroll
    for (int i = 0; i < PH; ++i) {
        #pragma unroll
        for (int j = 0; j < PW; ++j) {
            T v = corner[(i * W + j) * C];
            if (v > best) { best = v; where = i * PW + j; }   // strict: the first maximum wins
        }
    }
    y[idx] = best;
    argmax[idx] = (unsigned char)where;
}
"""

_BACKWARD = _HEADER + r"""
extern "C" __global__ void max_pool_backward(const T* __restrict__ dy, const unsigned char* __restrict__ argmax,
                                             T* __restrict__ dx, long long total) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    // idx runs over dx (N, H, W, C); gather from every window that contains (h, w)
    int c = idx %% C;
    long long t = idx / C;
    int w = t %% W; t /= W;
    int h = t %% H;
    long long n = t / H;
    T acc = 0;
    #pragma unroll
    for (int i = 0; i < PH; ++i) {
        int dh = h - i;
        if (dh < 0 || dh %% SH != 0 || dh / SH >= HO) continue;
        #pragma unroll
        for (int j = 0; j < PW; ++j) {
            int dw = w - j;
            if (dw < 0 || dw %% SW != 0 || dw / SW >= WO) continue;
            long long o = ((n * HO + dh / SH) * WO + dw / SW) * C + c;
            if (argmax[o] == i * PW + j) acc += dy[o];
        }
    }
    dx[idx] = acc;
}
"""


@functools.lru_cache(maxsize=None)
def _pool_kernel(template, name, dtype, dims):
    keys = ("H", "W", "C", "PH", "PW", "SH", "SW", "HO", "WO")
    return _cuda.compiled(template % dict(zip(keys, dims), T=ctype(dtype)), name)


def max_pool_cuda(x, pool_size, strides):
    """max_pool_xp as one CUDA kernel: each thread scans one window."""
    cupy = backend.get_array_module(x)
    x = cupy.ascontiguousarray(x)
    n, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    ho, wo = pool_output_size((h, w), pool_size, strides)
    y = cupy.empty((n, ho, wo, c), dtype=x.dtype)
    argmax = cupy.empty((n, ho, wo, c), dtype=cupy.uint8)
    kernel = _pool_kernel(_FORWARD, "max_pool", x.dtype, (h, w, c, ph, pw, sh, sw, ho, wo))
    launch(kernel, y.size, (x, y, argmax, numpy.int64(y.size)))
    return y, argmax


def max_pool_backward_cuda(dy, argmax, in_shape, pool_size, strides):
    """max_pool_backward_xp as one CUDA gather kernel."""
    cupy = backend.get_array_module(dy)
    dy = cupy.ascontiguousarray(dy)
    n, h, w, c = in_shape
    (ph, pw), (sh, sw) = pool_size, strides
    ho, wo = dy.shape[1:3]
    dx = cupy.empty(tuple(in_shape), dtype=dy.dtype)
    kernel = _pool_kernel(_BACKWARD, "max_pool_backward", dy.dtype, (h, w, c, ph, pw, sh, sw, ho, wo))
    launch(kernel, dx.size, (dy, cupy.ascontiguousarray(argmax), dx, numpy.int64(dx.size)))
    return dx


def max_pool(x, pool_size, strides):
    """max_pool_xp, or its CUDA twin where dispatch.use_cuda_max_pool takes x, or its blocks on
    every core where dispatch.use_cpu_threads does (NumPy)."""
    if use_cuda_max_pool(x, pool_size):
        return max_pool_cuda(x, pool_size, strides)
    if use_cpu_threads(x):
        return max_pool_blocked(x, pool_size, strides)
    return max_pool_xp(x, pool_size, strides)


def max_pool_backward(dy, argmax, in_shape, pool_size, strides):
    """max_pool_backward_xp, or its CUDA twin where dispatch.use_cuda_max_pool_backward takes dy,
    or its blocks on every core where dispatch.use_cpu_threads does (NumPy)."""
    if use_cuda_max_pool_backward(dy, argmax):
        return max_pool_backward_cuda(dy, argmax, in_shape, pool_size, strides)
    if use_cpu_threads(dy, argmax):
        return max_pool_backward_blocked(dy, argmax, in_shape, pool_size, strides)
    return max_pool_backward_xp(dy, argmax, in_shape, pool_size, strides)
