"""Upsampling by an integer factor: nearest-neighbour (a repeat) and bilinear (two matrix products).

Nearest, per axis: each input row is repeated s times.

    y[n, h, w, c] = x[n, h // sh, w // sw, c]
    dL/dx[n, i, j, c] = sum of dL/dy over the sh x sw block that copied x[n, i, j, c]

Bilinear, as Keras (``UpSampling2D(interpolation="bilinear")``, i.e. ``tf.image.resize`` with
half-pixel centres) and ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
Per axis, output index o of an axis of n input samples upsampled s times reads the source
coordinate

    t = max((o + 0.5) / s - 0.5, 0)        (pixel centres line up; clamped at the first pixel)
    i = min(floor(t), n - 1),  i' = min(i + 1, n - 1),  f = t - floor(t)
    out[o] = (1 - f) * in[i] + f * in[i']   (past the last pixel i = i': the edge is repeated)

which is one (n * s, n) matrix A with two non-zeros per row (``interpolation_matrix``).
The interpolation is separable, rows then columns, so per image and channel

    Y = A_h X A_w^T              dL/dX = A_h^T dL/dY A_w     (the adjoint: the transposed matrices)

No CUDA twin: each direction is two matrix products over the whole batch (``xp.matmul`` with
A broadcast over the images), which CuPy runs as cuBLAS batched GEMMs; the matrices are tiny
and built once per layer and input size.

Shapes: x (N, H, W, C) -> y (N, H * sh, W * sw, C); A_h (H * sh, H), A_w (W * sw, W).
"""

import numpy

from .. import backend


def upsample_nearest(x, size):
    """Repeat each row sh times and each column sw times: (N, H, W, C) -> (N, H*sh, W*sw, C)."""
    xp = backend.get_array_module(x)
    sh, sw = size
    return xp.repeat(xp.repeat(x, sh, axis=1), sw, axis=2)


def upsample_nearest_backward(dy, size):
    """dL/dx: the sum of each sh x sw block of dL/dy: (N, H*sh, W*sw, C) -> (N, H, W, C)."""
    n, ho, wo, c = dy.shape
    sh, sw = size
    return dy.reshape(n, ho // sh, sh, wo // sw, sw, c).sum(axis=(2, 4))


def interpolation_matrix(n, scale):
    """The (n * scale, n) bilinear matrix A (half-pixel centres, edges clamped), float64 NumPy.

    Each row sums to 1: e.g. n = 2, scale = 2 gives rows [1, 0], [3/4, 1/4], [1/4, 3/4], [0, 1].
    """
    out = numpy.arange(n * scale)
    t = numpy.maximum((out + 0.5) / scale - 0.5, 0.0)
    low = numpy.floor(t)
    frac = t - low
    low = numpy.minimum(low.astype(int), n - 1)
    high = numpy.minimum(low + 1, n - 1)
    a = numpy.zeros((n * scale, n))
    # += so that the two weights add up where both indices are the last pixel
    numpy.add.at(a, (out, low), 1 - frac)
    numpy.add.at(a, (out, high), frac)
    return a


def upsample_bilinear(x, rows, cols):
    """Y = A_h X A_w^T per image and channel, with rows = A_h (Ho, H) and cols = A_w (Wo, W)."""
    xp = backend.get_array_module(x)
    n, h, w, c = x.shape
    ho, wo = rows.shape[0], cols.shape[0]
    # along H: (Ho, H) @ (N, H, W * C) -> (N, Ho, W * C)
    t = xp.matmul(rows, x.reshape(n, h, w * c))
    # along W: (Wo, W) @ (N * Ho, W, C) -> (N * Ho, Wo, C)
    return xp.matmul(cols, t.reshape(n * ho, w, c)).reshape(n, ho, wo, c)


def upsample_bilinear_backward(dy, rows, cols):
    """dL/dX = A_h^T dL/dY A_w per image and channel: (N, Ho, Wo, C) -> (N, H, W, C)."""
    xp = backend.get_array_module(dy)
    n, ho, wo, c = dy.shape
    h, w = rows.shape[1], cols.shape[1]
    t = xp.matmul(cols.T, dy.reshape(n * ho, wo, c))          # (N * Ho, W, C)
    return xp.matmul(rows.T, t.reshape(n, ho, w * c)).reshape(n, h, w, c)
