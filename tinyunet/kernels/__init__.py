"""The routines the layers and the optimizers spend their time in: the maths of each op in a
readable ``xp`` form that runs on NumPy and CuPy alike (the reference), and for CuPy a
hand-written CUDA twin with the same signature, tested against it.

    conv.py              conv2d, conv2d_transpose, conv2d_kernel_grad    (Conv2D, Conv2DTranspose)
                         im2col + one matrix product, each the other's adjoint; conv2d_bias_activation,
                         Conv2D's forward (the bias and activation in the direct kernel's write on the GPU)
    blocked_conv.py      conv2d & co on NumPy: im2col one cache-sized block at a time, on every core
    cpu_threads.py       the pool of threads those blocks run on, OpenBLAS held to one thread meanwhile;
                         the element-wise and per-sample ops run their xp forms on its blocks too
    windows.py           im2col, col2im: the window gather and its scatter, + CUDA twins
    direct_conv.py       conv2d_direct, conv2d_weight_grad_direct: stride 1 without im2col
    direct_conv_cuda.py  their CUDA twins
    tiled_conv_cuda.py   the same for many channels: gemm.py's tiles, im2col read in place
                         (off unless TINYUNET_TILED_CONV=1: not yet measured on a GPU)
    gemm.py              matmul: the matrix product, as an own CUDA kernel when switched on
                         (set_own_gemm): capturable in a CUDA graph, cuBLAS is not
    pooling.py           max_pool, max_pool_backward                      (MaxPooling2D)
    upsampling.py        upsample_nearest, upsample_bilinear (+ backward) (UpSampling2D; GEMMs, no twin)
    normalization.py     layer_norm, layer_norm_backward                  (LayerNormalization)
    activation.py        activate, activation_backward, bias_activation   (ReLU, Sigmoid, Softmax,
                         the convolutions' epilogue)
    copies.py            concatenate, split, pad: the big copies, on every core on NumPy  (Concatenate)
    optimizers.py        adam_update, sgd_update, adam_update_all         (optimizers.Adam, SGD)
    dispatch.py          the one place that decides whether a CUDA twin runs: one predicate
                         per op, and the fast-kernels switch (set_fast, fast_enabled)
    _cuda.py             compiling and launching the CUDA twins

Each public routine here runs the CUDA twin where its dispatch predicate says the twin takes
the arrays (CuPy, fast kernels on, a shape the twin was written for), else the ``xp`` form
(``<name>_xp``).  Set ``TINYUNET_FAST_KERNELS=0`` (or call ``set_fast(False)``) to run the
readable forms on the GPU too; the GPU tests compare the two.  Nothing here imports the
layers, the optimizers, the models or the data.
"""

from ..shapes import transpose_pads
from .activation import bias_activation
from .copies import concatenate, pad, split
from .conv import (conv2d, conv2d_bias_activation, conv2d_kernel_grad, conv2d_transpose, conv_bias_grad,
                   flip_kernel)
from .direct_conv import conv2d_direct, conv2d_weight_grad_direct
from .dispatch import direct_conv_supported, fast_enabled, set_fast, set_own_gemm, set_tiled_conv, use_cuda
from .windows import col2im, im2col
from .normalization import layer_norm, layer_norm_backward
from .optimizers import adam_update_all
from .pooling import max_pool, max_pool_backward

__all__ = ["fast_enabled", "set_fast", "set_own_gemm", "set_tiled_conv", "use_cuda", "conv2d", "conv2d_bias_activation",
           "conv2d_transpose", "conv2d_kernel_grad", "conv_bias_grad",
           "bias_activation", "concatenate", "split", "pad", "im2col", "col2im", "max_pool", "max_pool_backward",
           "layer_norm", "layer_norm_backward", "adam_update_all",
           "conv2d_direct", "conv2d_weight_grad_direct", "direct_conv_supported", "flip_kernel", "transpose_pads"]
