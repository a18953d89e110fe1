"""Conv2D and Conv2DTranspose: one routine each way, each the other's adjoint.

A convolution is im2col followed by one matrix product; its input gradient is
the matrix product with the transposed kernel followed by col2im.  A
transposed convolution is *defined* as that input gradient, so

    conv2d(x)            = Conv2D.forward          = Conv2DTranspose.backward (dx)
    conv2d_transpose(y)  = Conv2D.backward (dx)    = Conv2DTranspose.forward

and <conv2d(x, K), y> == <x, conv2d_transpose(y, K)> for every x, y (the tests
check this).  For stride 1 the adjoint is itself a convolution: with the
kernel flipped in space and its channel axes swapped, over mirrored padding.

im2col's matrix holds kh * kw copies of the input, so it is built for a few
images at a time when the batch is large (memory stays bounded at any batch
size); the forward keeps it for the kernel gradient only when the whole batch
fitted one matrix, and backward rebuilds it otherwise.
"""

from .. import backend, initializers, kernels
from ..shapes import as_pair, check_padding, conv_output_size, conv_transpose_output_size, padding_amounts
from .activations import activation_backward, check_activation
from .base import Layer

# The largest im2col matrix built at once, in elements (256 MiB of float32).
COLS_BUDGET = 2 ** 26


def conv_geometry(in_size, kernel_size, strides, padding):
    """((Ho, Wo), ((top, bottom), (left, right))) of a convolution over (H, W)."""
    out = tuple(conv_output_size(n, k, s, padding) for n, k, s in zip(in_size, kernel_size, strides))
    pads = tuple(padding_amounts(n, k, s, padding) for n, k, s in zip(in_size, kernel_size, strides))
    return out, pads


def image_chunks(n, elements_per_image):
    """[(start, stop), ...] slices of a batch of n whose im2col matrices fit COLS_BUDGET."""
    step = max(1, COLS_BUDGET // max(elements_per_image, 1))
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def runs_direct(x, kernel_shape, strides):
    """True when this convolution runs as the GPU's direct kernel instead of im2col + GEMM:
    stride 1, CuPy arrays with fast kernels on, and a shape where direct is faster
    (kernels.direct_conv_supported: few channels).  It builds no im2col matrix at all."""
    kh, kw, c, f = kernel_shape
    return (tuple(strides) == (1, 1) and kernels.on_gpu(x)
            and kernels.direct_conv_supported(c, f, kh, kw, x.dtype))


def _joined(parts):
    return parts[0] if len(parts) == 1 else backend.get_array_module(parts[0]).concatenate(parts, axis=0)


def convolve(x, kernel, strides, pads, out_size, keep_cols=False):
    """y[n, oh, ow, :] = im2col(x)[n, oh, ow] @ K.reshape(kh * kw * C, F), over explicit pads.

    With ``keep_cols`` it returns (y, cols): cols is im2col's (N * Ho * Wo, kh * kw * C)
    matrix when the whole batch fitted one (COLS_BUDGET), for the kernel gradient to
    reuse, else None (backward then rebuilds it slice by slice).
    """
    if runs_direct(x, kernel.shape, strides):
        y = kernels.conv2d_direct(x, kernel, pads)
        return (y, None) if keep_cols else y
    kh, kw, c, f = kernel.shape
    n = x.shape[0]
    ho, wo = out_size
    k2 = kernel.reshape(kh * kw * c, f)
    chunks = image_chunks(n, ho * wo * kh * kw * c)
    parts, cols = [], None
    for start, stop in chunks:
        if (kh, kw) == (1, 1) and strides == (1, 1) and pads == ((0, 0), (0, 0)):
            cols = x[start:stop].reshape(-1, c)     # a 1x1 window is the pixel itself: no copy
        else:
            cols = kernels.im2col(x[start:stop], (kh, kw), strides, pads, out_size).reshape(-1, kh * kw * c)
        parts.append((cols @ k2).reshape(stop - start, ho, wo, f))
    y = _joined(parts)
    if keep_cols:
        return y, cols if len(chunks) == 1 else None
    return y


def conv2d(x, kernel, strides, padding, keep_cols=False):
    """Cross-correlation of x (N, H, W, C) with K (kh, kw, C, F): y (N, Ho, Wo, F), no bias."""
    out_size, pads = conv_geometry(x.shape[1:3], kernel.shape[:2], strides, padding)
    return convolve(x, kernel, strides, pads, out_size, keep_cols)


def conv2d_kernel_grad(x, dy, kernel_shape, strides, padding, cols=None):
    """dL/dK of conv2d: im2col(x)^T @ dL/dy (cols: that matrix, if the forward kept it)."""
    kh, kw, c, f = kernel_shape
    if cols is not None:
        return (cols.T @ dy.reshape(-1, f)).reshape(kernel_shape)
    n = x.shape[0]
    out_size, pads = conv_geometry(x.shape[1:3], (kh, kw), strides, padding)
    if runs_direct(x, kernel_shape, strides):
        return kernels.conv2d_weight_grad_direct(x, dy, kernel_shape, pads)
    grad = 0
    for start, stop in image_chunks(n, out_size[0] * out_size[1] * kh * kw * c):
        cols = kernels.im2col(x[start:stop], (kh, kw), strides, pads, out_size).reshape(-1, kh * kw * c)
        grad = grad + cols.T @ dy[start:stop].reshape(-1, f)
    return grad.reshape(kernel_shape)


def conv2d_transpose(y, kernel, in_size, strides, padding):
    """The adjoint of conv2d: from y (N, Ho, Wo, F) back to (N, H, W, C), in_size = (H, W).

    In general x = col2im(y @ K^T).  For stride 1 it is the convolution of y with
    the kernel turned by 180 degrees and its channel axes swapped (kernels.flip_kernel)
    over pads (kh-1-top, kh-1-bottom), (kw-1-left, kw-1-right): its im2col matrix has
    F channels instead of C, the cheaper way when F <= C, or none when it runs direct.
    """
    kh, kw, c, f = kernel.shape
    n, ho, wo, _ = y.shape
    _, pads = conv_geometry(in_size, (kh, kw), strides, padding)
    if tuple(strides) == (1, 1) and (f <= c or runs_direct(y, (kh, kw, f, c), strides)):
        flipped = backend.get_array_module(kernel).ascontiguousarray(kernels.flip_kernel(kernel))
        return convolve(y, flipped, strides, kernels.transpose_pads(pads, kh, kw), tuple(in_size))
    k2t = kernel.reshape(kh * kw * c, f).T
    parts = []
    for start, stop in image_chunks(n, ho * wo * kh * kw * c):
        cols = y[start:stop].reshape(-1, f) @ k2t
        parts.append(kernels.col2im(cols.reshape(stop - start, ho, wo, kh, kw, c), in_size, strides, pads))
    return _joined(parts)


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
        self.y = None
        # False skips dL/dx in backward (returns None): a network's first layer has no use for it
        self.input_gradient = True

    def make_params(self, input_shape):
        kh, kw = self.kernel_size
        params = {"kernel": self.kernel_initializer(self.kernel_shape(input_shape[-1]), self.seed, self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer((self.filters,), self.seed, self.dtype)
        return params

    def add_bias_and_activate(self, z):
        """act(z + bias), in place on the fresh convolution output z (one pass on the GPU)."""
        return kernels.bias_activation(z, self.params["bias"] if self.use_bias else None, self.activation)

    def activation_and_bias_backward(self, dy):
        """dL/dz from dL/dy through the fused activation; fills grads['bias']."""
        dy = self.check_backward_ready(dy, None if self.y is None else self.y.shape)
        dz = activation_backward(self.activation, self.y, dy)
        if self.use_bias:
            # the sum over every (n, h, w) written as ones @ dz: one GEMV, fast on NumPy and CuPy
            dz2 = dz.reshape(-1, self.filters)
            self.grads["bias"] = self.xp.ones(dz2.shape[0], dtype=dz.dtype) @ dz2
        return dz


class Conv2D(_Conv):
    """2-D convolution (cross-correlation, as Keras), bias and activation fused.

    Forward:   z[n, oh, ow, f] = b[f] + sum_{i, j, c} xpad[n, oh*sh + i, ow*sw + j, c] * K[i, j, c, f]
               y = act(z)                               (act: linear, relu or sigmoid)
               xpad: x with zero padding; "same" pads max((Ho - 1)*sh + kh - H, 0) rows,
               the smaller half on top (TensorFlow's rule; same for columns), "valid" none
               computed as  z = im2col(x) @ K.reshape(kh*kw*C, F)
    Backward:  dL/dz = dL/dy * act'(z)
               dL/dK = im2col(x)^T @ dL/dz             dL/db[f] = sum_{n, oh, ow} dL/dz[n, oh, ow, f]
               dL/dx = col2im(dL/dz @ K^T)             (= conv2d_transpose: the transposed convolution;
                                                        for stride 1, conv2d with the flipped kernel)
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
        z, self.cols = conv2d(x, self.params["kernel"], self.strides, self.padding, keep_cols=True)
        self.y = self.add_bias_and_activate(z)
        return self.y

    def backward(self, dy):
        dz = self.activation_and_bias_backward(dy)
        kernel = self.params["kernel"]
        self.grads["kernel"] = conv2d_kernel_grad(self.x, dz, kernel.shape, self.strides, self.padding,
                                                  cols=self.cols)
        if not self.input_gradient:
            return None
        return conv2d_transpose(dz, kernel, self.x.shape[1:3], self.strides, self.padding)


class Conv2DTranspose(_Conv):
    """Transposed convolution: the exact adjoint of Conv2D with the same kernel, strides, padding.

    It upsamples: with strides 2 every input pixel paints a kh x kw patch of the
    output, two pixels apart ("a convolution of an image with rows and columns
    inserted", as the article puts it).

    Forward:   z = col2im(x @ K^T) = conv2d_transpose(x, K)     y = act(z + b)
               i.e. z[n, h, w, f] = sum over (ih, iw, i, j) with ih*sh + i - pad_top == h,
                    iw*sw + j - pad_left == w  of  sum_c x[n, ih, iw, c] * K[i, j, f, c]
               pad_top = max(kh - sh, 0) // 2 for "same", 0 for "valid" (Conv2D's padding
               of the output size; same for pad_left)
    Backward:  dL/dz = dL/dy * act'(z)          dL/db[f] = sum_{n, h, w} dL/dz[n, h, w, f]
               dL/dx = im2col(dL/dz) @ K        (= conv2d: an ordinary convolution)
               dL/dK = im2col(dL/dz)^T @ x
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
        z = conv2d_transpose(x, self.params["kernel"], out_size, self.strides, self.padding)
        self.y = self.add_bias_and_activate(z)
        return self.y

    def backward(self, dy):
        dz = self.activation_and_bias_backward(dy)
        kernel = self.params["kernel"]
        # dz plays the convolution's input and x its output: K is (kh, kw, F, C) = (kh, kw, in, out);
        # dL/dx and dL/dK share im2col(dz) when it fits one matrix
        dx, cols = conv2d(dz, kernel, self.strides, self.padding, keep_cols=True)
        self.grads["kernel"] = conv2d_kernel_grad(dz, self.x, kernel.shape, self.strides, self.padding, cols=cols)
        return dx if self.input_gradient else None
