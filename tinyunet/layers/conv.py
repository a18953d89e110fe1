"""Conv2D and Conv2DTranspose: each the other's adjoint, bias and activation fused.

Conv2D's forward is kernels.conv2d (im2col, then one matrix product) and its
input gradient kernels.conv2d_transpose (the product with the transposed
kernel, then col2im); Conv2DTranspose is defined as that input gradient, so its
forward is kernels.conv2d_transpose and its input gradient kernels.conv2d.
The routines, the duality and the faster paths (the flipped-kernel adjoint,
the GPU's direct kernel) are in tinyunet/kernels/conv.py.
"""

import numbers

from .. import initializers, kernels
from ..kernels.activation import activation_backward, check_activation
from ..shapes import as_pair, check_padding, conv_geometry, conv_transpose_output_size
from .base import Layer


def initializer_name(initializer, layer, argument):
    """The Keras name of one of tinyunet.initializers' functions, or a ValueError naming the layer."""
    name = getattr(initializer, "__name__", None)
    if initializers.INITIALIZERS.get(name) is not initializer:
        raise ValueError(f"{layer}: {argument} {initializer!r} is not one of tinyunet.initializers "
                         f"({', '.join(sorted(initializers.INITIALIZERS))}), so a config cannot name it")
    return name


class _Conv(Layer):
    """Arguments and weights shared by Conv2D and Conv2DTranspose."""

    weighted = True

    def __init__(self, filters, kernel_size, strides=1, padding="same", activation=None,
                 use_bias=True, kernel_initializer="he_normal", bias_initializer="zeros",
                 name=None, seed=None):
        super().__init__(name=name, seed=seed)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{self.name}: filters must be a positive int, not {filters!r}")
        self.filters = filters
        self.kernel_size = as_pair(kernel_size, "kernel_size", self.name)
        self.strides = as_pair(strides, "strides", self.name)
        self.padding = check_padding(padding, self.name)
        self.activation = check_activation(activation, self.name)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.y, self.y_shape = None, None

    def get_config(self):
        """The constructor's arguments; ``seed`` is None unless it was an int (a numpy Generator's
        state is no config's business: the weights of such a layer come from a weights file)."""
        seed = int(self.seed) if isinstance(self.seed, numbers.Integral) else None
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializer_name(self.kernel_initializer, self.name, "kernel_initializer"),
                "bias_initializer": initializer_name(self.bias_initializer, self.name, "bias_initializer"),
                "seed": seed}

    def make_params(self, input_shape):
        params = {"kernel": self.kernel_initializer(self.kernel_shape(input_shape[-1]), self.seed, self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer((self.filters,), self.seed, self.dtype)
        return params

    def bias(self):
        """The bias array, or None without one."""
        return self.params["bias"] if self.use_bias else None

    def add_bias_and_activate(self, z):
        """act(z + bias), in place on the fresh convolution output z (one pass on the GPU)."""
        return self.keep_output(kernels.bias_activation(z, self.bias(), self.activation))

    def keep_output(self, y):
        """y, kept for backward (every activation's derivative is written in y), except for
        'linear', whose derivative is 1: then only y's shape is kept, and y's memory goes as
        soon as the next layer is done with it."""
        self.y, self.y_shape = (None if self.activation == "linear" else y), y.shape
        return y

    def activation_and_bias_backward(self, dy):
        """dL/dz from dL/dy through the fused activation; fills grads['bias']."""
        dy = self.check_backward_ready(dy, self.y_shape)
        dz = activation_backward(self.activation, self.y, dy)
        if self.use_bias:
            self.grads["bias"] = kernels.conv_bias_grad(dz)
        return dz


class Conv2D(_Conv):
    """2-D convolution (cross-correlation, as Keras), bias and activation fused.

    Forward:   z[n, oh, ow, f] = b[f] + sum_{i, j, c} xpad[n, oh*sh + i, ow*sw + j, c] * K[i, j, c, f]
               y = act(z)                               (act: linear, relu, sigmoid or softmax,
                                                        softmax over the F channels of each pixel)
               xpad: x with zero padding; "same" pads max((Ho - 1)*sh + kh - H, 0) rows,
               the smaller half on top (TensorFlow's rule; same for columns), "valid" none
               computed as  z = im2col(x) @ K.reshape(kh*kw*C, F)
    Backward:  dL/dz = dL/dy * act'(z)
               dL/dK = im2col(x)^T @ dL/dz             dL/db[f] = sum_{n, oh, ow} dL/dz[n, oh, ow, f]
               dL/dx = col2im(dL/dz @ K^T)             (= conv2d_transpose: the transposed convolution;
                                                        for stride 1, conv2d with the flipped kernel)
               backward(dy, input_gradient=False) fills grads and returns None (no dL/dx)
    Shapes:    x (N, H, W, C) -> y (N, Ho, Wo, F), kernel (kh, kw, C, F), bias (F,)
               Ho = ceil(H / sh) for "same", floor((H - kh) / sh) + 1 for "valid" (same for W)
    Keras:     keras.layers.Conv2D(filters, kernel_size, strides, padding, activation,
                                   use_bias, kernel_initializer="he_normal")

    Example:
        >>> conv = Conv2D(8, 5, padding="same", seed=0)
        >>> y = conv.forward(x)            # x: (16, 256, 256, 1) -> y: (16, 256, 256, 8)
        >>> dx = conv.backward(dy); conv.grads["kernel"].shape    # (5, 5, 1, 8)
    """

    def kernel_shape(self, in_channels):
        return (*self.kernel_size, in_channels, self.filters)

    def input_channels(self):
        return self.params["kernel"].shape[2]

    def output_shape(self, input_shape):
        n, h, w, _ = input_shape
        (ho, wo), _ = conv_geometry((h, w), self.kernel_size, self.strides, self.padding)
        return (n, ho, wo, self.filters)

    def forward(self, x):
        x = self.prepare_input(x)
        if min(self.output_shape(x.shape)[1:3]) < 1:
            raise ValueError(f"{self.name}: input {tuple(x.shape)} is smaller than the kernel "
                             f"{self.kernel_size} with 'valid' padding")
        self.x = x
        # y = act(conv2d(x) + bias), in the direct kernel's write where it runs (GPU, few channels);
        # keep im2col's matrix for the kernel gradient when the batch fitted one (kernels.conv.COLS_BUDGET)
        # and it is small (kernels.conv.KEEP_COLS_BUDGET); backward rebuilds a bigger one
        y, cols = kernels.conv2d_bias_activation(x, self.params["kernel"], self.bias(), self.activation,
                                                 self.strides, self.padding)
        self.cols = cols if cols is not None and cols.size <= kernels.conv.KEEP_COLS_BUDGET else None
        return self.keep_output(y)

    def backward(self, dy, input_gradient=True):
        dz = self.activation_and_bias_backward(dy)
        kernel = self.params["kernel"]
        self.grads["kernel"] = kernels.conv2d_kernel_grad(self.x, dz, kernel.shape, self.strides, self.padding,
                                                          cols=self.cols)
        if not input_gradient:
            return None
        return kernels.conv2d_transpose(dz, kernel, self.x.shape[1:3], self.strides, self.padding)


class Conv2DTranspose(_Conv):
    """Transposed convolution: the exact adjoint of Conv2D with the same kernel, strides, padding.

    It upsamples: with strides 2 every input pixel paints a kh x kw patch of the
    output, two pixels apart ("a convolution of an image with rows and columns
    inserted", as the article puts it).  zero_insertion.py computes exactly that, zeros
    inserted and a convolution with the flipped kernel, and its tests show it equals this layer
    (``conv_transpose_by_zero_insertion``).

    Forward:   z = col2im(x @ K^T) = conv2d_transpose(x, K)     y = act(z + b)
               i.e. z[n, h, w, f] = sum over (ih, iw, i, j) with ih*sh + i - pad_top == h,
                    iw*sw + j - pad_left == w  of  sum_c x[n, ih, iw, c] * K[i, j, f, c]
               pad_top = max(kh - sh, 0) // 2 for "same", 0 for "valid" (Conv2D's padding
               of the output size; same for pad_left)
    Backward:  dL/dz = dL/dy * act'(z)          dL/db[f] = sum_{n, h, w} dL/dz[n, h, w, f]
               dL/dx = im2col(dL/dz) @ K        (= conv2d: an ordinary convolution)
               dL/dK = im2col(dL/dz)^T @ x
               backward(dy, input_gradient=False) fills grads and returns None
    Shapes:    x (N, H, W, C) -> y (N, Ho, Wo, F), kernel (kh, kw, F, C) (Keras), bias (F,)
               Ho = H * sh for "same", H * sh + max(kh - sh, 0) for "valid" (same for W)
    Keras:     keras.layers.Conv2DTranspose(filters, kernel_size=2, strides=2, padding="same")

    Example:
        >>> up = Conv2DTranspose(128, 2, strides=2, seed=0)
        >>> y = up.forward(x)              # x: (16, 8, 8, 128) -> y: (16, 16, 16, 128)
        >>> dx = up.backward(dy); up.grads["kernel"].shape    # (2, 2, 128, 128)
    """

    def __init__(self, filters, kernel_size=2, strides=2, padding="same", activation=None,
                 use_bias=True, kernel_initializer="he_normal", bias_initializer="zeros",
                 name=None, seed=None):
        super().__init__(filters, kernel_size, strides, padding, activation, use_bias,
                         kernel_initializer, bias_initializer, name, seed)

    def kernel_shape(self, in_channels):
        return (*self.kernel_size, self.filters, in_channels)

    def input_channels(self):
        return self.params["kernel"].shape[3]

    def output_shape(self, input_shape):
        n, h, w, _ = input_shape
        ho, wo = (conv_transpose_output_size(d, k, s, self.padding)
                  for d, k, s in zip((h, w), self.kernel_size, self.strides))
        return (n, ho, wo, self.filters)

    def forward(self, x):
        x = self.prepare_input(x)
        self.x = x
        out_size = self.output_shape(x.shape)[1:3]
        z = kernels.conv2d_transpose(x, self.params["kernel"], out_size, self.strides, self.padding)
        return self.add_bias_and_activate(z)

    def backward(self, dy, input_gradient=True):
        dz = self.activation_and_bias_backward(dy)
        kernel = self.params["kernel"]
        # dz plays the convolution's input and x its output: K is (kh, kw, F, C) = (kh, kw, in, out);
        # dL/dx and dL/dK share im2col(dz) when it fits one matrix
        dx, cols = kernels.conv2d(dz, kernel, self.strides, self.padding, keep_cols=True)
        self.grads["kernel"] = kernels.conv2d_kernel_grad(dz, self.x, kernel.shape, self.strides, self.padding,
                                                          cols=cols)
        return dx if input_gradient else None
