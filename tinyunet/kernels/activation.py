"""The epilogue of a convolution: add the bias, apply the activation, in one pass.

    y[..., f] = act(z[..., f] + b[f])        act: linear, relu or sigmoid (as layers/activations.py)

The xp twin is the two steps a reader expects (``z += b``, then ``activate``);
the CUDA twin reads and writes each element once, in place, instead of two
passes and a new array.
"""

import functools

from .. import backend
from ._cuda import ctype, on_gpu


def bias_activation_xp(z, bias, activation):
    """act(z + bias), written into z where it can be (z is the convolution's fresh output)."""
    from ..layers.activations import activate

    if bias is not None:
        z += bias
    return activate(activation, z)


_BODY = {
    "linear": "z = v;",
    "relu": "z = v > 0 ? v : (T)0;",
    # e = exp(-|v|) never overflows: 1 / (1 + e) for v >= 0, e / (1 + e) below
    "sigmoid": "T e = exp(-fabs(v)); z = v >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);",
}


@functools.lru_cache(maxsize=None)
def _kernel(activation, with_bias, dtype_name):
    cupy = backend._load_cupy()[0]
    t = ctype(dtype_name)
    # i runs over z flattened; the channel is the last axis, so it is i % f
    value = f"{t} v = z + b[i % f];" if with_bias else f"{t} v = z;"
    return cupy.ElementwiseKernel(
        "raw T b, int32 f", "T z", f"{value} {_BODY[activation]}",
        f"tinyunet_bias_{activation}_{'b' if with_bias else 'nb'}_{dtype_name}")


def bias_activation(z, bias, activation):
    """bias_activation_xp, or one in-place CUDA pass for CuPy arrays when fast kernels are on."""
    if not on_gpu(z) or (bias is not None and not on_gpu(bias)):
        return bias_activation_xp(z, bias, activation)
    # without a bias the raw argument is never read: z stands in for it
    _kernel(activation, bias is not None, z.dtype.name)(z if bias is None else bias, z.shape[-1], z)
    return z
