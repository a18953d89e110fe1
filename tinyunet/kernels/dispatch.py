"""The one place that decides, per operation, whether a CUDA twin runs instead of its xp form.

Every routine of ``tinyunet.kernels`` asks one predicate here and then runs
either its readable ``xp`` form (the reference: NumPy, or CuPy with fast
kernels off) or its hand-written CUDA twin.  A predicate is True only when
the fast kernels are on, every array is a CuPy float32 / float64 array and
the twin was written for the shape:

    use_cuda(*arrays)                          im2col, col2im, layer_norm(_backward)
    use_cuda_bias_activation(z, bias, activation)  bias_activation: an element-wise activation (not softmax)
    use_cuda_max_pool(x, pool_size)            max_pool: at most 256 window positions (uint8 argmax)
    use_cuda_max_pool_backward(dy, argmax)     max_pool_backward: a uint8 argmax
    use_cuda_adam(arrays)                      adam_update_all: one dtype, every array contiguous
    use_direct_conv(x, kernel_shape, strides)  conv2d & co: the direct kernel instead of im2col + GEMM
    use_cuda_direct_conv(kernel_shape, *arrays)  conv2d_direct, conv2d_weight_grad_direct
    use_fused_epilogue(x, kernel, bias, activation, strides)  conv2d_bias_activation: bias and
                                               activation in the direct kernel's write
    use_tiled_conv(x, kernel_shape, strides)   the tiled direct kernel for many channels (off unless
                                               TINYUNET_TILED_CONV=1 or set_tiled_conv(True): not
                                               yet measured against im2col + cuBLAS)
    use_own_gemm(*arrays)                      the products (matmul): gemm.py's kernel instead of cuBLAS
                                               (off unless TINYUNET_OWN_GEMM=1 or set_own_gemm(True):
                                               a CUDA graph's capture, models/graph_step.py, needs it)
    use_numpy_fast(*arrays)                    col2im on NumPy: tiling windows as one permutation
    use_flipped_adjoint(dy, kernel_shape, strides)  conv2d_transpose as the flipped convolution
    use_cpu_threads(*arrays)                   conv2d & co on NumPy: block by block on every core,
                                               OpenBLAS held to one thread (cpu_threads.py)
    use_cpu_threads_float(*arrays)             the same for one float dtype: activations, LayerNorm

``TINYUNET_FAST_KERNELS=0`` (read at import) or ``set_fast(False)`` makes every
predicate False, so the readable forms run on the GPU (and NumPy) too; the tests
compare the two.
"""

import os

import numpy

from .. import backend
from . import cpu_threads
from ._cuda import CTYPES
from .direct_conv_cuda import MAX_FILTERS, MAX_OWNERS, SHARED_BYTES, channels_per_owner

_fast = os.environ.get("TINYUNET_FAST_KERNELS", "1").strip() not in ("0", "false", "no", "off")
_tiled = os.environ.get("TINYUNET_TILED_CONV", "0").strip() in ("1", "true", "yes", "on")
_own_gemm = os.environ.get("TINYUNET_OWN_GEMM", "0").strip() in ("1", "true", "yes", "on")


def fast_enabled():
    """True when CuPy arrays go through the hand-written CUDA kernels."""
    return _fast


def set_fast(enabled):
    """Turn the CUDA kernels on or off; returns the previous setting."""
    global _fast
    previous, _fast = _fast, bool(enabled)
    return previous


def set_tiled_conv(enabled):
    """Let the convolutions with many channels run as the tiled direct kernel (tiled_conv_cuda.py)
    instead of im2col + cuBLAS; returns the previous setting."""
    global _tiled
    previous, _tiled = _tiled, bool(enabled)
    return previous


def set_own_gemm(enabled):
    """Let the matrix products on CuPy run as gemm.py's own kernel instead of cuBLAS (which CuPy
    refuses while a stream is captured into a CUDA graph); returns the previous setting."""
    global _own_gemm
    previous, _own_gemm = _own_gemm, bool(enabled)
    return previous


def use_own_gemm(*arrays):
    """True when a product of these arrays runs as gemm.matmul_cuda: switched on (set_own_gemm,
    TINYUNET_OWN_GEMM=1), fast kernels on, CuPy arrays of one float dtype, 2-D."""
    return (_own_gemm and use_cuda(*arrays) and len({a.dtype for a in arrays}) == 1
            and all(a.ndim == 2 for a in arrays))


def use_cuda(*arrays):
    """True when the fast kernels are on and every array is a CuPy array of float32/float64."""
    if not _fast:
        return False
    return all(backend.get_array_module(a) is not numpy and a.dtype in CTYPES for a in arrays)


def use_cuda_bias_activation(z, bias, activation):
    """bias_activation's twin takes z and the bias (None: no bias), and the activation: it is
    element-wise, so not softmax, which reads all of a pixel's channels."""
    if activation == "softmax":
        return False
    return use_cuda(z) if bias is None else use_cuda(z, bias)


def use_cuda_max_pool(x, pool_size):
    """max_pool's twin keeps argmax in one byte: at most 256 window positions."""
    return use_cuda(x) and pool_size[0] * pool_size[1] <= 256


def use_cuda_max_pool_backward(dy, argmax):
    """max_pool_backward's twin reads a uint8 argmax (as max_pool's twin writes it)."""
    return use_cuda(dy) and argmax.dtype == numpy.uint8


def use_cuda_adam(arrays):
    """adam_update_all's twin takes every tensor in one launch: one dtype, all C-contiguous."""
    return (len(arrays) > 0 and use_cuda(*arrays) and len({a.dtype for a in arrays}) == 1
            and all(a.flags.c_contiguous for a in arrays))


def direct_conv_fits_cuda(c, f, kh, kw, dtype):
    """True when the direct convolution's CUDA twins take this shape: the kernel fits shared
    memory (48 KB), F <= 64 accumulators per thread, at most 1024 weight-gradient owner threads."""
    dtype = numpy.dtype(dtype)
    if dtype not in CTYPES or f > MAX_FILTERS or kh * kw * c * f * dtype.itemsize > SHARED_BYTES:
        return False
    return kh * kw * (c // channels_per_owner(c, f, dtype.itemsize)) <= MAX_OWNERS


def direct_conv_supported(c, f, kh, kw, dtype="float32"):
    """True where the direct convolution is expected to beat im2col + GEMM on an H100.

    Measured on an H100 at batch 32 (tools/time_direct_conv.py, BENCHMARKS.md): direct beats
    im2col + GEMM at 16 -> 8 (forward 0.33 vs 1.75 ms) and still at 32 -> 16 (forward 0.34
    vs 0.88 ms, input gradient 0.25 vs 0.62; its weight gradient 0.52 vs 0.39 ms, but the
    GEMM's needs the im2col matrix rebuilt or kept); C = 64 does not fit the CUDA twin's
    shared memory.  A 1x1 kernel is a plain per-pixel matmul that im2col only copies, so it
    goes direct up to C = 64.  Either way the CUDA twin must take it.
    """
    small = c <= 32 or (kh == 1 and kw == 1 and c <= 64)
    return small and direct_conv_fits_cuda(c, f, kh, kw, dtype)


def use_direct_conv(x, kernel_shape, strides):
    """True when a convolution of x with a (kh, kw, C, F) kernel runs as a direct kernel (no
    im2col matrix at all): stride 1, fast kernels on CuPy, and few channels, or the tiled
    kernel switched on (use_tiled_conv)."""
    kh, kw, c, f = kernel_shape
    if tuple(strides) != (1, 1) or not use_cuda(x):
        return False
    return direct_conv_supported(c, f, kh, kw, x.dtype) or use_tiled_conv(x, kernel_shape, strides)


def use_tiled_conv(x, kernel_shape, strides):
    """True when a stride-1 convolution of a CuPy x runs as the tiled direct kernel: switched on
    (set_tiled_conv, TINYUNET_TILED_CONV=1), fast kernels on, and a shape the one-thread-per-pixel
    direct kernel does not take (direct_conv_supported)."""
    kh, kw, c, f = kernel_shape
    return (_tiled and tuple(strides) == (1, 1) and use_cuda(x) and len(kernel_shape) == 4
            and not direct_conv_supported(c, f, kh, kw, x.dtype) and x.size < 2 ** 31)


def use_cuda_direct_conv(kernel_shape, *arrays):
    """The direct convolution's CUDA twins take these arrays: one dtype, a shape that fits, and
    fewer than 2^31 elements each (pixel indices are 32-bit ints)."""
    return (use_cuda(*arrays) and len({a.dtype for a in arrays}) == 1 and len(kernel_shape) == 4
            and direct_conv_fits_cuda(*kernel_shape[2:], *kernel_shape[:2], arrays[0].dtype)
            and max(a.size for a in arrays) < 2 ** 31)


def use_fused_epilogue(x, kernel, bias, activation, strides):
    """True when conv2d_bias_activation adds the bias and applies the activation in the direct
    CUDA kernel's write: that kernel takes the convolution (use_direct_conv, then
    use_cuda_direct_conv), the activation is element-wise (not softmax), and the bias, if any,
    is of x's dtype."""
    arrays = (x, kernel) if bias is None else (x, kernel, bias)
    return (activation != "softmax" and use_direct_conv(x, kernel.shape, strides)
            and use_cuda_direct_conv(kernel.shape, *arrays))


def use_numpy_fast(*arrays):
    """True when the fast kernels are on and every array is a NumPy array: the CPU's fast paths
    (the same NumPy calls, arranged to copy less or on more cores) run instead of the xp forms."""
    return _fast and all(backend.is_numpy(a) for a in arrays)


def use_flipped_adjoint(dy, kernel_shape, strides):
    """True when conv2d_transpose of dy with a (kh, kw, C, F) kernel runs as the stride-1
    convolution with the flipped kernel instead of col2im(dy @ K^T).

    The flipped convolution's im2col matrix has F channels, col2im's matrix C: on the GPU it
    is taken when F <= C, or when it runs as the direct kernel.  On NumPy it is always taken
    for stride 1: col2im's kh * kw strided slice-adds, with C values in the innermost loop,
    cost more than the extra columns (a 2-core Xeon, batch 4, 3 x 3: 128 x 128, C 8 -> F 16:
    col2im 70 ms, flipped 24 ms; 64 x 64, 16 -> 32: 16 vs 8 ms; 32 x 32 and smaller: equal).
    """
    kh, kw, c, f = kernel_shape
    if tuple(strides) != (1, 1):
        return False
    return f <= c or use_numpy_fast(dy) or use_direct_conv(dy, (kh, kw, f, c), strides)


def use_cpu_threads(*arrays):
    """True when an operation on NumPy arrays runs on every core through cpu_threads.py (the
    convolutions block by block, blocked_conv.py) with OpenBLAS held to one thread meanwhile:
    NumPy's fast paths on, and OpenBLAS found, so that its thread count can be set.

    Measured on a 2-core Xeon, batch 4: up1_conv (256 x 256, 16 -> 8) forward 30 -> 12 ms.
    """
    return use_numpy_fast(*arrays) and cpu_threads.available()


def use_cpu_threads_float(*arrays):
    """use_cpu_threads, and every array of one float dtype (float32 or float64): what the
    element-wise and per-sample ops' blocks on every core take (activation.py, normalization.py)."""
    return (use_cpu_threads(*arrays) and len({a.dtype for a in arrays}) == 1
            and arrays[0].dtype in (numpy.float32, numpy.float64))
