"""The routines the layers spend their time in, each in a readable ``xp`` form
that runs on NumPy and CuPy alike, and (for CuPy) a hand-written CUDA twin with
the same signature.

    conv.py            im2col, col2im                        (Conv2D, Conv2DTranspose)
    pooling.py         max_pool, max_pool_backward           (MaxPooling2D)
    normalization.py   layer_norm, layer_norm_backward       (LayerNormalization)
    adam.py            adam_update_all                       (optimizers.Adam)
    activation.py      bias_activation                       (the convolutions' epilogue)
    _cuda.py           compiling and launching the CUDA twins

Each public routine here is a dispatcher: it runs the CUDA twin when given
CuPy arrays and fast kernels are enabled, else the ``xp`` form (``<name>_xp``).
Set ``TINYUNET_FAST_KERNELS=0`` (or call ``set_fast(False)``) to run the
readable forms on the GPU too; the GPU tests compare the two.
"""

import os

_fast = os.environ.get("TINYUNET_FAST_KERNELS", "1").strip() not in ("0", "false", "no", "off")


def fast_enabled():
    """True when CuPy arrays go through the hand-written CUDA kernels."""
    return _fast


def set_fast(enabled):
    """Turn the CUDA kernels on or off; returns the previous setting."""
    global _fast
    previous, _fast = _fast, bool(enabled)
    return previous


# after the switch they read
from ._cuda import on_gpu  # noqa: E402
from .activation import bias_activation  # noqa: E402
from .adam import adam_update_all  # noqa: E402
from .conv import col2im, im2col  # noqa: E402
from .normalization import layer_norm, layer_norm_backward  # noqa: E402
from .pooling import max_pool, max_pool_backward  # noqa: E402
from .direct_conv import (conv2d_direct, conv2d_weight_grad_direct, direct_conv_supported,  # noqa: E402
                          flip_kernel, transpose_pads)

__all__ = ["fast_enabled", "set_fast", "on_gpu", "bias_activation", "im2col", "col2im", "max_pool", "max_pool_backward",
           "layer_norm", "layer_norm_backward", "adam_update_all",
           "conv2d_direct", "conv2d_weight_grad_direct", "direct_conv_supported", "flip_kernel", "transpose_pads"]
