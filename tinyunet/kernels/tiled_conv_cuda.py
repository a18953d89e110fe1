"""The direct convolution for many channels (stride 1, NHWC), tiled: im2col's product without its matrix.

    conv2d_tiled_cuda              = direct_conv.conv2d_direct_xp, one kernel
    conv2d_weight_grad_tiled_cuda  = direct_conv.conv2d_weight_grad_direct_xp, two kernels

direct_conv_cuda.py gives each output pixel a thread holding its F sums, with the whole kernel
in shared memory: that stops at C = 32 (48 KB of shared memory, 64 accumulators).  Here the
same maths is the matrix product of gemm.py, y (P, F) = im2col(x) (P, kh*kw*C) @ K (kh*kw*C, F),
with each element of im2col read straight from x as the tile loop stages it:

    im2col(x)[p, (i * kw + j) * C + c] = xpad[n, oh + i, ow + j, c]     p = (n * Ho + oh) * Wo + ow

so the matrix (up4_conv of the article's U-Net: 151 MB at batch 32) is never written.  A slice
of 16 of its columns lies within one tap when 16 divides C, so a warp's loads of x are runs of
consecutive channels.  The weight gradient is the product dK (kh*kw*C, F) = im2col(x)^T @ dz,
whose sum runs over every pixel: the pixels are cut into splits, each block writes a partial
dK, and a second kernel adds the partials in split order (no atomics: the same result every
run).  The input gradient needs no kernel of its own (direct_conv.py: the convolution of dz
with the flipped kernel).  Shapes and pads are compiled in, as in direct_conv_cuda.py.
"""

import functools

import numpy

from .. import backend
from ..shapes import direct_geometry
from . import _cuda
from ._cuda import ctype
from .gemm import THREADS, TILE, TILE_LOOP, add_splits, grid, splits_of

_GEOMETRY = r"""
typedef %(T)s T;
#define H %(H)d
#define W %(W)d
#define C %(C)d
#define F %(F)d
#define KW %(KW)d
#define PT %(PT)d
#define PL %(PL)d
#define HO %(HO)d
#define WO %(WO)d
// im2col(x)[p, q] read from x: pixel p = (n * HO + oh) * WO + ow, column q = (i * KW + j) * C + c
__device__ __forceinline__ T im2col_at(const T* __restrict__ x, int p, int q) {
    int ow = p %% WO, rest = p / WO;
    int oh = rest %% HO, n = rest / HO;
    int tap = q / C, c = q %% C;
    int h = oh + tap / KW - PT, w = ow + tap %% KW - PL;
    return (h >= 0 && h < H && w >= 0 && w < W) ? x[((long long)(n * H + h) * W + w) * C + c] : (T)0;
}
"""

# y = im2col(x) @ K: A's consecutive k (channels) are consecutive in x, B (the kernel, (kh*kw*C, F)
# row-major) has consecutive columns
_FORWARD = _GEOMETRY + r"""
#define A_ROWS_FASTEST 0
#define B_COLS_FASTEST 1
#define A_ELEM(gr, gk) im2col_at(a, gr, gk)
#define B_ELEM(gk, gc) b[(long long)(gk) * n + (gc)]
"""

# dK = im2col(x)^T @ dz: the product's rows are im2col's columns (consecutive channels are
# consecutive in x), its k the pixels; dz (P, F) row-major has consecutive columns
_WEIGHT_GRAD = _GEOMETRY + r"""
#define A_ROWS_FASTEST 1
#define B_COLS_FASTEST 1
#define A_ELEM(gr, gk) im2col_at(a, gk, gr)
#define B_ELEM(gk, gc) b[(long long)(gk) * n + (gc)]
"""

@functools.lru_cache(maxsize=None)
def _kernel(template, dtype, dims):
    keys = ("H", "W", "C", "F", "KW", "PT", "PL", "HO", "WO")
    return _cuda.compiled(template % dict(zip(keys, dims), T=ctype(dtype)) + TILE_LOOP, "tile_product")


def _dims(x_shape, kernel_shape, pads, out_size):
    (_, h, w, c), (_, kw, _, f) = x_shape, kernel_shape
    return (h, w, c, f, kw, pads[0][0], pads[1][0], *out_size)


def conv2d_tiled_cuda(x, kernel, pads):
    """conv2d_direct_xp as one tiled product: a 64-pixel x 64-filter tile of y per block."""
    cupy = backend.get_array_module(x)
    kh, kw, c, f = kernel.shape
    out_size, pads = direct_geometry(x.shape, kernel.shape, pads, "conv2d_tiled")
    x, kernel = cupy.ascontiguousarray(x), cupy.ascontiguousarray(kernel, dtype=x.dtype)
    pixels, depth = x.shape[0] * out_size[0] * out_size[1], kh * kw * c
    y = cupy.empty((x.shape[0], *out_size, f), dtype=x.dtype)
    if pixels:
        kernel_function = _kernel(_FORWARD, x.dtype, _dims(x.shape, kernel.shape, pads, out_size))
        kernel_function(grid(pixels, f), (THREADS,), (x, kernel, y, numpy.int32(pixels), numpy.int32(f),
                                                      numpy.int32(depth), numpy.int32(depth)))
    return y


def conv2d_weight_grad_tiled_cuda(x, dz, kernel_shape, pads):
    """conv2d_weight_grad_direct_xp as tiled partial products over splits of the pixels, then
    their sum in split order."""
    cupy = backend.get_array_module(x)
    kh, kw, c, f = kernel_shape
    out_size, pads = direct_geometry(x.shape, kernel_shape, pads, "conv2d_weight_grad_tiled", dz.shape)
    x, dz = cupy.ascontiguousarray(x), cupy.ascontiguousarray(dz, dtype=x.dtype)
    pixels, depth = x.shape[0] * out_size[0] * out_size[1], kh * kw * c
    dk = cupy.empty(tuple(kernel_shape), dtype=x.dtype)
    if pixels == 0:
        dk[...] = 0
        return dk
    splits, per_split = splits_of(pixels)      # the output's tiles are few: split the pixels
    partial = cupy.empty((splits, depth, f), dtype=x.dtype)
    kernel_function = _kernel(_WEIGHT_GRAD, x.dtype, _dims(x.shape, kernel_shape, pads, out_size))
    kernel_function(grid(depth, f, splits), (THREADS,), (x, dz, partial, numpy.int32(depth), numpy.int32(f),
                                                         numpy.int32(pixels), numpy.int32(per_split)))
    add_splits(partial, dk)
    return dk


__all__ = ["conv2d_tiled_cuda", "conv2d_weight_grad_tiled_cuda", "TILE"]
