"""The activations (linear, relu, sigmoid, softmax), and a convolution's epilogue: bias, then activation.

    relu      y = max(z, 0)                            dL/dz = dL/dy * [y > 0]
    sigmoid   y = 1 / (1 + exp(-z)), computed as       dL/dz = dL/dy * y * (1 - y)
              e = exp(-|z|);  y = 1 / (1 + e) for z >= 0,  e / (1 + e) for z < 0,
              so that no exp overflows (z = +-1000 gives exactly 1 and 0)
    softmax   y_k = exp(z_k - m) / sum_j exp(z_j - m)  dL/dz = y * (dL/dy - sum_k(dL/dy_k * y_k))
              over one axis (the channels when fused), m = max_j z_j: the largest exponent
              is exp(0) = 1, so z = +-1000 neither overflows nor gives 0 / 0
    linear    y = z                                    dL/dz = dL/dy
    bias_activation   y[..., f] = act(z[..., f] + b[f])

Every backward rule needs only the output y.  The xp forms are the reference:
bias_activation's CUDA twin is tested against the two steps a reader expects
(``z += b``, then ``activate``); it reads and writes each element once, in
place, instead of two passes and a new array.  It is element-wise, so it does
not do softmax, which reads all of a pixel's channels: dispatch sends softmax
to the xp form.  That form is a few passes and two reductions over the last,
contiguous axis, and a U-Net applies it once, to its output of a few channels:
too little time to be worth a twin.  On NumPy, bias_activation and activation_backward run
their xp forms on blocks of rows, on every core (cpu_threads.py).
"""

import functools

import numpy

from .. import backend
from . import cpu_threads
from ._cuda import ACTIVATION_CODE, ctype
from .dispatch import use_cpu_threads_float, use_cuda_bias_activation

ACTIVATIONS = ("linear", "relu", "sigmoid", "softmax")


def check_activation(activation, layer="layer"):
    """The activation's name ('linear' for None), or a ValueError naming the layer."""
    name = "linear" if activation is None else str(activation).lower()
    if name not in ACTIVATIONS:
        raise ValueError(f"{layer}: activation must be None or one of {', '.join(map(repr, ACTIVATIONS))}, "
                         f"not {activation!r}")
    return name


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow for any finite x."""
    xp = backend.get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def softmax(z, axis=-1):
    """exp(z - max) / sum(exp(z - max)) along ``axis``: no overflow for any finite z."""
    xp = backend.get_array_module(z)
    e = xp.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(y, dy, axis=-1):
    """dL/dz = y * (dL/dy - sum(dL/dy * y, axis)) from softmax's output y (the Jacobian diag(y) - y y^T)."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def activate(name, z):
    """y = act(z) for 'linear', 'relu', 'sigmoid' or 'softmax' (over the last axis, the channels)."""
    if name == "relu":
        return backend.get_array_module(z).maximum(z, 0)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "softmax":
        return softmax(z)
    return z


def activation_backward_xp(name, y, dy):
    """dL/dz from dL/dy and the activation's output y."""
    if name == "relu":
        return dy * (y > 0)
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "softmax":
        return softmax_backward(y, dy)
    return dy


def bias_activation_xp(z, bias, activation):
    """act(z + bias), written into z where it can be (z is the convolution's fresh output)."""
    if bias is not None:
        z += bias
    return activate(activation, z)


# --- NumPy on every core: the xp forms on blocks of rows (every pixel on its own) ---

def _on_cores(*arrays):
    """NumPy arrays of one float dtype, (N, H, ...) with at least one element."""
    return use_cpu_threads_float(*arrays) and arrays[0].ndim >= 2 and arrays[0].size > 0


def _row_blocks(a):
    n, h = a.shape[:2]
    row = a[0, 0]
    return cpu_threads.plan_blocks(n, h, row.shape[0] if row.ndim else 1, row.nbytes * 2)


def bias_activation_blocked(z, bias, activation):
    """bias_activation_xp on blocks of rows, in place in z, on every core."""
    def work(n0, n1, r0, r1):
        block = z[n0:n1, r0:r1]
        y = bias_activation_xp(block, bias, activation)
        if y is not block:          # 'linear' added the bias in place already
            block[...] = y

    cpu_threads.run_blocks(work, _row_blocks(z))
    return z


def activation_backward_blocked(name, y, dy):
    """activation_backward_xp on blocks of rows, on every core."""
    dz = numpy.empty(dy.shape, dtype=dy.dtype)

    def work(n0, n1, r0, r1):
        dz[n0:n1, r0:r1] = activation_backward_xp(name, y[n0:n1, r0:r1], dy[n0:n1, r0:r1])

    cpu_threads.run_blocks(work, _row_blocks(dy))
    return dz


def activation_backward(name, y, dy):
    """activation_backward_xp, or its blocks on every core where dispatch.use_cpu_threads_float takes
    y and dy (NumPy floats; 'linear' has no work to share)."""
    if name != "linear" and y.shape == dy.shape and _on_cores(y, dy):
        return activation_backward_blocked(name, y, dy)
    return activation_backward_xp(name, y, dy)


@functools.lru_cache(maxsize=None)
def _kernel(activation, with_bias, dtype_name):
    cupy = backend._load_cupy()[0]
    t = ctype(dtype_name)
    # i runs over z flattened; the channel is the last axis, so it is i % f
    value = f"{t} v = z + b[i % f];" if with_bias else f"{t} v = z;"
    return cupy.ElementwiseKernel(
        "raw T b, int32 f", "T z", f"{value} {ACTIVATION_CODE[activation]}",
        f"tinyunet_bias_{activation}_{'b' if with_bias else 'nb'}_{dtype_name}")


def bias_activation(z, bias, activation):
    """bias_activation_xp, or one in-place CUDA pass where dispatch.use_cuda_bias_activation
    takes z, the bias and the activation (never softmax), or its blocks on every core where
    dispatch.use_cpu_threads_float takes them (NumPy)."""
    if not use_cuda_bias_activation(z, bias, activation):
        work = (z,) if bias is None else (z, bias)
        if (bias is not None or activation != "linear") and _on_cores(*work):
            return bias_activation_blocked(z, bias, activation)
        return bias_activation_xp(z, bias, activation)
    # without a bias the raw argument is never read: z stands in for it
    _kernel(activation, bias is not None, z.dtype.name)(z if bias is None else bias, z.shape[-1], z)
    return z
