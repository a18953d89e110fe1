"""Convolution as one matrix product, and its adjoint (NHWC, kernels (kh, kw, C, F)).

With cols = im2col(x), the (N * Ho * Wo, kh * kw * C) matrix whose rows are the
receptive fields of the output pixels (windows.py), and K2 = K.reshape(kh * kw * C, F):

    conv2d            y  = cols @ K2                          (N, H, W, C)   -> (N, Ho, Wo, F)
    conv2d_transpose  x  = col2im(y @ K2^T)                   (N, Ho, Wo, F) -> (N, H, W, C)
    kernel gradient   dK = cols^T @ dL/dy                     -> (kh, kw, C, F)

conv2d_transpose is the adjoint of conv2d, <conv2d(x, K), y> == <x, conv2d_transpose(y, K)>,
so each is the other's input gradient:

    Conv2D.forward           = conv2d            Conv2D.backward (dL/dx)           = conv2d_transpose
    Conv2DTranspose.forward  = conv2d_transpose  Conv2DTranspose.backward (dL/dx)  = conv2d

The three ``*_xp`` forms below say exactly that and are the reference the fast
paths are tested against.  The routines the layers call (``conv2d``,
``conv2d_transpose``, ``conv2d_kernel_grad``) run them on slices of the batch
(im2col's matrix holds kh * kw copies of the input, so it is built for at most
COLS_BUDGET elements at a time), or take a faster path that computes the same:
for stride 1 the adjoint is itself a convolution, with the kernel flipped and
the complementary padding; on the GPU a convolution with few channels runs
as the direct kernel (direct_conv.py), which builds no im2col matrix at all; and on
NumPy im2col is built one cache-sized block at a time, the blocks shared out over
the cores (blocked_conv.py), and no matrix is kept for the backward pass.  The products are
``@`` (cuBLAS on the GPU), or gemm.py's own kernel where dispatch.use_own_gemm says so.
"""

import contextlib

from .. import backend
from ..shapes import conv_geometry, transpose_pads
from . import cpu_threads
from .blocked_conv import conv2d_blocked, conv2d_kernel_grad_blocked, conv2d_transpose_blocked
from .activation import bias_activation
from .direct_conv import conv2d_direct, conv2d_weight_grad_direct
from .direct_conv_cuda import conv2d_direct_cuda
from .dispatch import use_cpu_threads, use_direct_conv, use_flipped_adjoint, use_fused_epilogue, use_own_gemm
from .gemm import matmul
from .windows import col2im, im2col, is_pointwise


def conv2d_xp(x, kernel, strides, pads, out_size):
    """(y, cols): y = cols @ K2 (N, Ho, Wo, F), cols = im2col(x) as a matrix, over explicit pads."""
    kh, kw, c, f = kernel.shape
    cols = im2col_matrix(x, (kh, kw), strides, pads, out_size)
    return matmul(cols, kernel.reshape(kh * kw * c, f)).reshape(x.shape[0], *out_size, f), cols


def conv2d_transpose_xp(y, kernel, in_size, strides, pads):
    """x = col2im(y @ K2^T): (N, Ho, Wo, F) back to (N, H, W, C), in_size = (H, W)."""
    kh, kw, c, f = kernel.shape
    n, ho, wo, _ = y.shape
    cols = matmul(y.reshape(-1, f), kernel.reshape(kh * kw * c, f).T)
    return col2im(cols.reshape(n, ho, wo, kh, kw, c), in_size, strides, pads)


def conv2d_kernel_grad_xp(cols, dy, kernel_shape):
    """dK = cols^T @ dL/dy, with cols the im2col matrix conv2d_xp built from x."""
    return matmul(cols.T, dy.reshape(-1, kernel_shape[3])).reshape(kernel_shape)


# --- what the layers call: the same maths, the path chosen for the arrays ---

def conv2d(x, kernel, strides, padding, keep_cols=False):
    """Cross-correlation of x (N, H, W, C) with K (kh, kw, C, F): y (N, Ho, Wo, F), no bias.

    Paths: the direct kernel where dispatch.use_direct_conv says so (GPU, stride 1, few
    channels), block by block where dispatch.use_cpu_threads says so (NumPy), else
    conv2d_xp on slices of the batch (COLS_BUDGET).  With ``keep_cols`` it returns
    (y, cols): cols is the im2col matrix when conv2d_xp built it for the whole batch
    in one slice, for conv2d_kernel_grad to reuse, else None.
    """
    out_size, pads = conv_geometry(x.shape[1:3], kernel.shape[:2], strides, padding)
    return convolve(x, kernel, strides, pads, out_size, keep_cols)


def conv2d_bias_activation(x, kernel, bias, activation, strides, padding):
    """(act(conv2d(x, K) + bias), cols): Conv2D's forward, bias (F,) or None, cols as conv2d's
    with ``keep_cols``.

    Where dispatch.use_fused_epilogue says so (the direct CUDA kernel takes the convolution,
    an element-wise activation), the kernel adds the bias and applies the activation as it
    writes y: one pass less over y.  Otherwise conv2d, then bias_activation, in place.
    """
    if use_fused_epilogue(x, kernel, bias, activation, strides):
        _, pads = conv_geometry(x.shape[1:3], kernel.shape[:2], strides, padding)
        return conv2d_direct_cuda(x, kernel, pads, bias, activation), None
    z, cols = conv2d(x, kernel, strides, padding, keep_cols=True)
    return bias_activation(z, bias, activation), cols


def conv2d_transpose(y, kernel, in_size, strides, padding):
    """The adjoint of conv2d(., K, strides, padding): y (N, Ho, Wo, F) -> (N, H, W, C), in_size = (H, W).

    Paths: for stride 1, where dispatch.use_flipped_adjoint says so (F <= C, NumPy, or
    the flipped convolution runs direct), the convolution of y with flip_kernel(K) over
    transpose_pads: its im2col matrix has F channels instead of C, or there is none;
    otherwise conv2d_transpose_xp, its product on every core where dispatch.use_cpu_threads
    says so (NumPy), else on slices of the batch (COLS_BUDGET).
    """
    kh, kw, c, _ = kernel.shape
    n, ho, wo, _ = y.shape
    _, pads = conv_geometry(in_size, (kh, kw), strides, padding)
    if use_flipped_adjoint(y, kernel.shape, strides):
        flipped = backend.get_array_module(kernel).ascontiguousarray(flip_kernel(kernel))
        return convolve(y, flipped, strides, transpose_pads(pads, kh, kw), tuple(in_size))
    if use_cpu_threads(y, kernel):
        return conv2d_transpose_blocked(y, kernel, in_size, strides, pads)
    return _joined([conv2d_transpose_xp(y[start:stop], kernel, in_size, strides, pads)
                    for start, stop in image_chunks(n, ho * wo * kh * kw * c)])


def conv2d_kernel_grad(x, dy, kernel_shape, strides, padding, cols=None):
    """dL/dK of y = conv2d(x, K, strides, padding), given dy = dL/dy.

    Paths: conv2d_kernel_grad_xp on ``cols`` when the forward kept them; the direct
    weight-gradient kernel where dispatch.use_direct_conv says so; block by block where
    dispatch.use_cpu_threads says so; otherwise im2col rebuilt slice by slice
    (COLS_BUDGET) and conv2d_kernel_grad_xp summed over the slices.
    """
    if cols is not None:
        return conv2d_kernel_grad_xp(cols, dy, kernel_shape)
    out_size, pads = conv_geometry(x.shape[1:3], kernel_shape[:2], strides, padding)
    if use_direct_conv(x, kernel_shape, strides):
        return conv2d_weight_grad_direct(x, dy, kernel_shape, pads)
    if use_cpu_threads(x, dy):
        return conv2d_kernel_grad_blocked(x, dy, kernel_shape, strides, pads)
    kh, kw, c, _ = kernel_shape
    grad = 0
    for start, stop in image_chunks(x.shape[0], out_size[0] * out_size[1] * kh * kw * c):
        cols = im2col_matrix(x[start:stop], (kh, kw), strides, pads, out_size)
        grad = grad + conv2d_kernel_grad_xp(cols, dy[start:stop], kernel_shape)
    return grad


def conv_bias_grad(dz):
    """dL/db[f] = sum over (n, oh, ow) of dL/dz[n, oh, ow, f], written as ones @ dz: one GEMV,
    fast on NumPy and CuPy.  On NumPy, where dispatch.use_cpu_threads says so, OpenBLAS runs it
    on one thread: threaded, it would leave its workers spinning against the next convolution's
    threads (cpu_threads.py).  Where the products leave cuBLAS (dispatch.use_own_gemm), the
    column sum is CuPy's reduction instead: gemm.py's 64-row tiles would waste 63 rows of 64."""
    xp = backend.get_array_module(dz)
    dz2 = dz.reshape(-1, dz.shape[-1])
    if use_own_gemm(dz2):
        return dz2.sum(axis=0)
    ones = xp.ones(dz2.shape[0], dtype=dz.dtype)
    with cpu_threads.blas_single_threaded() if use_cpu_threads(dz) else contextlib.nullcontext():
        return ones @ dz2


# --- below the maths: slicing the batch, the matrix, the flipped kernel ---

# The largest im2col matrix built at once, in elements (64 MiB of float32).  A bigger batch
# is cut into slices of whole images.  Each slice's product is still large (up3_conv of the
# article's U-Net: 29,000 rows of 576), and the matrix is a transient that adds to the peak
# memory of the backward pass: 2^26 elements let up3_conv's kernel gradient take 264 MB.
COLS_BUDGET = 2 ** 24
# The largest im2col matrix a Conv2D keeps from its forward pass for its kernel gradient
# (16 MiB of float32); a bigger one is rebuilt in backward.  Kept, it would stay in memory
# through the whole backward pass of the layers after it: at batch 32 the article's U-Net
# would keep 245 MiB (down5, up4, up5) to save three im2col launches of about 0.1 ms in all.
KEEP_COLS_BUDGET = 2 ** 22


def image_chunks(n, elements_per_image):
    """[(start, stop), ...] slices of a batch of n whose im2col matrices fit COLS_BUDGET."""
    step = max(1, COLS_BUDGET // max(elements_per_image, 1))
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def im2col_matrix(x, kernel_size, strides, pads, out_size):
    """im2col(x) as the (N * Ho * Wo, kh * kw * C) matrix; a 1x1 window at stride 1 without
    padding is the pixel itself, so then it is x, reshaped, with no copy."""
    c = x.shape[3]
    if is_pointwise(kernel_size, strides, pads):
        return x.reshape(-1, c)
    return im2col(x, kernel_size, strides, pads, out_size).reshape(-1, kernel_size[0] * kernel_size[1] * c)


def convolve(x, kernel, strides, pads, out_size, keep_cols=False):
    """conv2d over explicit pads and output size (N, Ho, Wo, F): the direct kernel, the blocked
    form or conv2d_xp slice by slice; with ``keep_cols``, (y, cols) as conv2d returns them."""
    if use_direct_conv(x, kernel.shape, strides):
        y = conv2d_direct(x, kernel, pads)
        return (y, None) if keep_cols else y
    if use_cpu_threads(x, kernel):
        y = conv2d_blocked(x, kernel, strides, pads, out_size)
        return (y, None) if keep_cols else y
    kh, kw, c, _ = kernel.shape
    chunks = image_chunks(x.shape[0], out_size[0] * out_size[1] * kh * kw * c)
    parts = []
    for start, stop in chunks:
        part, cols = conv2d_xp(x[start:stop], kernel, strides, pads, out_size)
        parts.append(part)
    y = _joined(parts)
    if keep_cols:
        return y, cols if len(chunks) == 1 else None
    return y


def flip_kernel(kernel):
    """K (kh, kw, C, F) turned by 180 degrees with the channels swapped: (kh, kw, F, C).

    The adjoint of a stride-1 convolution with K over pads is the convolution with
    flip_kernel(K) over shapes.transpose_pads(pads).
    """
    return kernel[::-1, ::-1].transpose(0, 1, 3, 2)


def _joined(parts):
    return parts[0] if len(parts) == 1 else backend.get_array_module(parts[0]).concatenate(parts, axis=0)
