"""im2col and col2im: the gather and scatter of convolution windows (NHWC).

im2col turns each output pixel's receptive field into one row, so that a
convolution becomes one matrix product:

    cols[n, oh, ow, i, j, c] = xpad[n, oh * sh + i, ow * sw + j, c]
    y[n, oh, ow, :]          = cols[n, oh, ow].reshape(kh * kw * C) @ kernel.reshape(kh * kw * C, F)

col2im is its adjoint: every entry of ``cols`` is added back to the input
pixel it was read from (pixels under several windows receive several
contributions), and the padding is cut off:

    x[n, h, w, c] = sum over (oh, ow, i, j) with oh * sh + i - pad_top == h
                    and ow * sw + j - pad_left == w  of  cols[n, oh, ow, i, j, c]

so <im2col(x), c> == <x, col2im(c)> for any x and c.  Conv2D's input gradient
and Conv2DTranspose's forward are both col2im of a matrix product (conv.py).

The xp forms are the reference: the CUDA twins below are tested against them, and so
is NumPy's fast form of col2im for windows that tile the input (as a 2 x 2 stride-2
Conv2DTranspose's do): one permutation instead of kh * kw scatter-adds.
"""

import functools

import numpy

from .. import backend
from . import _cuda
from ._cuda import ctype, launch
from .dispatch import use_cuda, use_numpy_fast


def im2col_xp(x, kernel_size, strides, pads, out_size):
    """(N, H, W, C) -> (N, Ho, Wo, kh, kw, C): every window of the padded input, copied once.

    pads is ((top, bottom), (left, right)); out_size is (Ho, Wo).
    """
    xp = backend.get_array_module(x)
    return xp.ascontiguousarray(window_view(x, kernel_size, strides, pads, out_size))


def is_pointwise(kernel_size, strides, pads):
    """True for a 1x1 window at stride 1 without padding: each window is the pixel itself,
    so im2col is x reshaped, with no copy."""
    return tuple(kernel_size) == (1, 1) and tuple(strides) == (1, 1) and not any(map(any, pads))


def window_view(x, kernel_size, strides, pads, out_size):
    """im2col_xp before its copy: the (N, Ho, Wo, kh, kw, C) windows as a strided view of the
    padded input (the padding is the only copy)."""
    xp = backend.get_array_module(x)
    (kh, kw), (sh, sw), (ho, wo) = kernel_size, strides, out_size
    xpad = xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0))) if any(map(any, pads)) else x
    # a view, no copy: windows[n, a, b, c, i, j] = xpad[n, a + i, b + j, c]
    windows = xp.lib.stride_tricks.sliding_window_view(xpad, (kh, kw), axis=(1, 2))
    windows = windows[:, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw]     # the strided positions
    return windows.transpose(0, 1, 2, 4, 5, 3)


def col2im_xp(cols, in_size, strides, pads):
    """(N, Ho, Wo, kh, kw, C) -> (N, H, W, C): add each window entry back where im2col read it."""
    xp = backend.get_array_module(cols)
    n, ho, wo, kh, kw, c = cols.shape
    (sh, sw), (h, w) = strides, in_size
    (pt, pb), (pl, pr) = pads
    # the padded canvas must also hold the last window's reach (valid padding may leave a remainder)
    hp = max(h + pt + pb, sh * (ho - 1) + kh)
    wp = max(w + pl + pr, sw * (wo - 1) + kw)
    xpad = xp.zeros((n, hp, wp, c), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :] += cols[:, :, :, i, j, :]
    return xp.ascontiguousarray(xpad[:, pt:pt + h, pl:pl + w, :])


# --- CUDA twins: same signatures, one thread per output element, shapes compiled in ---

_IM2COL = r"""
typedef %(T)s T;
#define H %(H)d
#define W %(W)d
#define C %(C)d
#define KH %(KH)d
#define KW %(KW)d
#define SH %(SH)d
#define SW %(SW)d
#define PT %(PT)d
#define PL %(PL)d
#define HO %(HO)d
#define WO %(WO)d
extern "C" __global__ void im2col(const T* __restrict__ x, T* __restrict__ cols, long long total) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    // idx runs over cols (N, HO, WO, KH, KW, C) in row-major order
    int c = idx %% C;
    long long t = idx / C;
    int j = t %% KW; t /= KW;
    int i = t %% KH; t /= KH;
    int ow = t %% WO; t /= WO;
    int oh = t %% HO;
    long long n = t / HO;
    int h = oh * SH + i - PT, w = ow * SW + j - PL;
    cols[idx] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * H + h) * W + w) * C + c] : (T)0;
}
"""

_COL2IM = r"""
typedef %(T)s T;
#define H %(H)d
#define W %(W)d
#define C %(C)d
#define KH %(KH)d
#define KW %(KW)d
#define SH %(SH)d
#define SW %(SW)d
#define PT %(PT)d
#define PL %(PL)d
#define HO %(HO)d
#define WO %(WO)d
extern "C" __global__ void col2im(const T* __restrict__ cols, T* __restrict__ x, long long total) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    // idx runs over x (N, H, W, C); gather every window entry that im2col read from here
    int c = idx %% C;
    long long t = idx / C;
    int w = t %% W; t /= W;
    int h = t %% H;
    long long n = t / H;
    int hp = h + PT, wp = w + PL;   // position on the padded canvas
    T acc = 0;
    #pragma unroll
    for (int i = 0; i < KH; ++i) {
        int dh = hp - i;
        if (dh < 0 || dh %% SH != 0 || dh / SH >= HO) continue;
        int oh = dh / SH;
        #pragma unroll
        for (int j = 0; j < KW; ++j) {
            int dw = wp - j;
            if (dw < 0 || dw %% SW != 0 || dw / SW >= WO) continue;
            int ow = dw / SW;
            acc += cols[((((n * HO + oh) * WO + ow) * KH + i) * KW + j) * C + c];
        }
    }
    x[idx] = acc;
}
"""


@functools.lru_cache(maxsize=None)
def _conv_kernel(template, name, dtype, dims):
    keys = ("H", "W", "C", "KH", "KW", "SH", "SW", "PT", "PL", "HO", "WO")
    return _cuda.compiled(template % dict(zip(keys, dims), T=ctype(dtype)), name)


def im2col_cuda(x, kernel_size, strides, pads, out_size):
    """im2col_xp as one CUDA kernel: each thread writes one entry of cols."""
    cupy = backend.get_array_module(x)
    x = cupy.ascontiguousarray(x)
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (ho, wo) = kernel_size, strides, out_size
    dims = (h, w, c, kh, kw, sh, sw, pads[0][0], pads[1][0], ho, wo)
    cols = cupy.empty((n, ho, wo, kh, kw, c), dtype=x.dtype)
    launch(_conv_kernel(_IM2COL, "im2col", x.dtype, dims), cols.size, (x, cols, numpy.int64(cols.size)))
    return cols


def col2im_cuda(cols, in_size, strides, pads):
    """col2im_xp as one CUDA gather kernel: each input pixel sums the window entries that
    touch it (no atomics, so the result is deterministic)."""
    cupy = backend.get_array_module(cols)
    cols = cupy.ascontiguousarray(cols)
    n, ho, wo, kh, kw, c = cols.shape
    (sh, sw), (h, w) = strides, in_size
    dims = (h, w, c, kh, kw, sh, sw, pads[0][0], pads[1][0], ho, wo)
    x = cupy.empty((n, h, w, c), dtype=cols.dtype)
    launch(_conv_kernel(_COL2IM, "col2im", cols.dtype, dims), x.size, (cols, x, numpy.int64(x.size)))
    return x


# --- NumPy's fast form: the same values, permuted instead of scatter-added ---

def windows_tile(cols_shape, in_size, strides, pads):
    """True when the windows cover the padded input exactly once: kernel == stride and
    Ho * sh == H + pads, as for Conv2DTranspose(f, 2, strides=2)."""
    _, ho, wo, kh, kw, _ = cols_shape
    (sh, sw), (h, w) = strides, in_size
    return ((kh, kw) == tuple(strides) and ho * sh == h + sum(pads[0]) and wo * sw == w + sum(pads[1]))


def col2im_tiled(cols, in_size, pads):
    """col2im_xp for tiling windows: each input pixel is under exactly one window, so the
    scatter-add is a permutation, x[n, oh * kh + i, ow * kw + j] = cols[n, oh, ow, i, j]."""
    n, ho, wo, kh, kw, c = cols.shape
    (pt, _), (pl, _) = pads
    canvas = cols.transpose(0, 1, 3, 2, 4, 5).reshape(n, ho * kh, wo * kw, c)
    return numpy.ascontiguousarray(canvas[:, pt:pt + in_size[0], pl:pl + in_size[1]])


def im2col(x, kernel_size, strides, pads, out_size):
    """im2col_xp, or its CUDA twin where dispatch.use_cuda takes x."""
    if use_cuda(x):
        return im2col_cuda(x, kernel_size, strides, pads, out_size)
    return im2col_xp(x, kernel_size, strides, pads, out_size)


def col2im(cols, in_size, strides, pads):
    """col2im_xp, or its CUDA twin where dispatch.use_cuda takes cols, or on NumPy the
    permutation col2im_tiled when the windows tile the input."""
    if use_cuda(cols):
        return col2im_cuda(cols, in_size, strides, pads)
    if use_numpy_fast(cols) and windows_tile(cols.shape, in_size, strides, pads):
        return col2im_tiled(cols, in_size, pads)
    return col2im_xp(cols, in_size, strides, pads)
