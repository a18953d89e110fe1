"""Direct convolution (stride 1, NHWC): the output computed tap by tap, without im2col.

    y[n, oh, ow, f]  = sum_{i, j, c} xpad[n, oh + i, ow + j, c] * K[i, j, c, f]
    dK[i, j, c, f]   = sum_{n, oh, ow} xpad[n, oh + i, ow + j, c] * dz[n, oh, ow, f]
    dx               = conv2d_direct(dz, flip_kernel(K), transpose_pads(pads, kh, kw))

xpad is x with pads = ((top, bottom), (left, right)) rows and columns of zeros,
and Ho = H + top + bottom - kh + 1 (same for Wo; shapes.direct_output_size).
Each tap (i, j) is a (.., C) @ (C, F) matrix product of a shifted view of xpad,
so nothing of size N * Ho * Wo * kh * kw * C is ever built: for small C and F
(the U-Net's first and last levels) im2col's matrix is most of the memory
traffic of a step.

The input gradient needs no kernel of its own: the adjoint of a stride-1
convolution is the convolution of dz with the kernel turned by 180 degrees
(channels swapped) and the complementary padding, top' = kh - 1 - top, etc.

The xp forms below are the reference: the CUDA twins (direct_conv_cuda.py for few
channels, tiled_conv_cuda.py for many) are tested against them.
"""

from .. import backend
from ..shapes import direct_geometry
from .direct_conv_cuda import conv2d_direct_cuda, conv2d_weight_grad_direct_cuda
from .dispatch import use_cuda_direct_conv, use_tiled_conv
from .tiled_conv_cuda import conv2d_tiled_cuda, conv2d_weight_grad_tiled_cuda


def conv2d_direct_xp(x, kernel, pads):
    """y (N, Ho, Wo, F) = the stride-1 cross-correlation of x (N, H, W, C) with K (kh, kw, C, F),
    as kh * kw matrix products of shifted views of the padded input."""
    xp = backend.get_array_module(x)
    kh, kw, c, f = kernel.shape
    (ho, wo), pads = direct_geometry(x.shape, kernel.shape, pads, "conv2d_direct")
    xpad = xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    y = xp.zeros((x.shape[0] * ho * wo, f), dtype=xp.result_type(x, kernel))
    for i in range(kh):
        for j in range(kw):
            y += xpad[:, i:i + ho, j:j + wo, :].reshape(-1, c) @ kernel[i, j]
    return y.reshape(x.shape[0], ho, wo, f)


def conv2d_weight_grad_direct_xp(x, dz, kernel_shape, pads):
    """dK (kh, kw, C, F) of y = conv2d_direct(x, K, pads), given x (N, H, W, C) and dz = dL/dy:
    one (C, P) @ (P, F) product per tap, P = N * Ho * Wo."""
    xp = backend.get_array_module(x)
    kh, kw, c, f = kernel_shape
    (ho, wo), pads = direct_geometry(x.shape, kernel_shape, pads, "conv2d_weight_grad_direct", dz.shape)
    xpad = xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    dz2 = dz.reshape(-1, f)
    dk = xp.empty(kernel_shape, dtype=xp.result_type(x, dz))
    for i in range(kh):
        for j in range(kw):
            dk[i, j] = xpad[:, i:i + ho, j:j + wo, :].reshape(-1, c).T @ dz2
    return dk


def conv2d_direct(x, kernel, pads):
    """conv2d_direct_xp, or its CUDA twin where dispatch.use_cuda_direct_conv takes the arrays,
    or the tiled twin (many channels) where dispatch.use_tiled_conv does."""
    if use_cuda_direct_conv(kernel.shape, x, kernel):
        return conv2d_direct_cuda(x, kernel, pads)
    if use_tiled_conv(x, kernel.shape, (1, 1)) and x.dtype == kernel.dtype:
        return conv2d_tiled_cuda(x, kernel, pads)
    return conv2d_direct_xp(x, kernel, pads)


def conv2d_weight_grad_direct(x, dz, kernel_shape, pads):
    """conv2d_weight_grad_direct_xp, or its CUDA twin where dispatch.use_cuda_direct_conv takes
    the arrays, or the tiled twin (many channels) where dispatch.use_tiled_conv does."""
    if use_cuda_direct_conv(tuple(kernel_shape), x, dz):
        return conv2d_weight_grad_direct_cuda(x, dz, kernel_shape, pads)
    if use_tiled_conv(x, tuple(kernel_shape), (1, 1)) and x.dtype == dz.dtype:
        return conv2d_weight_grad_tiled_cuda(x, dz, kernel_shape, pads)
    return conv2d_weight_grad_direct_xp(x, dz, kernel_shape, pads)
