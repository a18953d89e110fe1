"""The transposed convolution written as the article describes it: rows and columns inserted, then a convolution.

"A transposed convolution is the application of a convolution function to an image
where the pixels have had rows and columns inserted" (the article).  Conv2DTranspose
computes it as col2im (tinyunet/kernels/conv.py); this module computes the same
numbers the article's way, in four readable steps with ``xp``:

    1. insert zeros      u[n, ih * sh, iw * sw, c] = x[n, ih, iw, c], zero elsewhere:
                         (N, H, W, C) -> (N, (H - 1) * sh + 1, (W - 1) * sw + 1, C)
    2. pad by the rule   top = kh - 1 - pad_top, bottom = Ho - 1 + pad_top - (H - 1) * sh
                         (left and right the same with W, kw, sw)
    3. flip the kernel   Kf[i, j, c, f] = K[kh - 1 - i, kw - 1 - j, f, c]: turned by 180
                         degrees, the in / out axes swapped (Keras's Conv2DTranspose kernel
                         is (kh, kw, filters, in); Conv2D's is (kh, kw, in, filters))
    4. correlate         z[n, h, w, f] = sum_{i, j, c} upad[n, h + i, w + j, c] * Kf[i, j, c, f]
                         (stride 1, no more padding), giving (N, Ho, Wo, F)

pad_top is Conv2DTranspose's: the "same" padding of the convolution it is the adjoint of,
max(kh - sh, 0) // 2, and 0 for "valid"; Ho is the layer's output size (H * sh for "same",
H * sh + max(kh - sh, 0) for "valid"; shapes.conv_transpose_output_size).  Why the pads:
output row h takes input row ih through kernel row i where ih * sh + i - pad_top == h, and
after flipping, upad row h + (kh - 1 - i) must be u row ih * sh, so kh - 1 - pad_top zero
rows go on top; the bottom pad makes the padded height Ho + kh - 1, the height a stride-1
correlation needs for Ho rows (it is kh - 1 - pad_bottom plus the rows the convolution's
windows leave unread, which receive no input and stay zero).

This is the proof behind the lesson's Figure 8, not a fast path: the zeros make it about
sh * sw times the work of col2im.  The tests check it against the layer for every kernel
size, stride and padding.

Example:
    >>> up = Conv2DTranspose(1, 3, strides=2, use_bias=False, seed=0)
    >>> z = conv_transpose_by_zero_insertion(x, up.params["kernel"], strides=2, padding="same")
    >>> # z equals up.forward(x) to rounding (x: (1, 4, 4, 1) -> z: (1, 8, 8, 1))
"""

from dataclasses import dataclass

from .. import backend
from ..shapes import as_pair, check_padding, conv_transpose_output_size, padding_amounts


def insert_zeros(x, strides):
    """x (N, H, W, C) with sh - 1 zero rows between its rows and sw - 1 zero columns between its columns."""
    sh, sw = as_pair(strides, "strides", "insert_zeros")
    n, h, w, c = x.shape
    xp = backend.get_array_module(x)
    inserted = xp.zeros((n, (h - 1) * sh + 1, (w - 1) * sw + 1, c), dtype=x.dtype)
    inserted[:, ::sh, ::sw, :] = x
    return inserted


def zero_insertion_pads(in_size, kernel_size, strides, padding):
    """((top, bottom), (left, right)): the zeros around the zero-inserted image (step 2 above)."""
    pads = []
    for n, k, s in zip(in_size, kernel_size, strides):
        out = conv_transpose_output_size(n, k, s, padding)
        before, _ = padding_amounts(out, k, s, padding)     # the adjoint convolution's own padding
        pads.append((k - 1 - before, out - 1 + before - (n - 1) * s))
    return tuple(pads)


def flip_and_swap(kernel):
    """Conv2DTranspose's K (kh, kw, F, C) as the Conv2D kernel (kh, kw, C, F) turned by 180 degrees."""
    return kernel[::-1, ::-1].transpose(0, 1, 3, 2)


def correlate(x, kernel):
    """Stride-1 'valid' cross-correlation of x (N, H, W, C) with K (kh, kw, C, F): (N, H-kh+1, W-kw+1, F).

    Written as one matrix product per kernel offset: z += x[:, i:i+Ho, j:j+Wo, :] @ K[i, j].
    """
    kh, kw, _, f = kernel.shape
    n, h, w, _ = x.shape
    xp = backend.get_array_module(x)
    ho, wo = h - kh + 1, w - kw + 1
    z = xp.zeros((n, ho, wo, f), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            z += x[:, i:i + ho, j:j + wo, :] @ kernel[i, j]
    return z


@dataclass
class ZeroInsertionSteps:
    """The intermediate arrays of ``conv_transpose_by_zero_insertion(..., steps=True)``."""

    inserted: object     # step 1: (N, (H - 1) * sh + 1, (W - 1) * sw + 1, C)
    padded: object       # step 2: (N, Ho + kh - 1, Wo + kw - 1, C)
    pads: tuple          # ((top, bottom), (left, right)) of step 2
    kernel: object       # step 3: the flipped, swapped kernel (kh, kw, C, F)
    output: object       # step 4: (N, Ho, Wo, F)


def conv_transpose_by_zero_insertion(x, kernel, strides=2, padding="same", steps=False):
    """Conv2DTranspose's z (before bias and activation), by zero insertion, padding and correlation.

    Args:
        x: (N, H, W, C) input, NumPy or CuPy.
        kernel: (kh, kw, F, C), Conv2DTranspose's kernel layout (Keras's).
        strides, padding: as Conv2DTranspose takes them (an int or a pair; "same" or "valid").
        steps: return a ZeroInsertionSteps holding every intermediate array instead of z alone.

    Returns z (N, Ho, Wo, F), equal to ``Conv2DTranspose(F, (kh, kw), strides, padding,
    use_bias=False).forward(x)`` with that kernel, to rounding.
    """
    strides = as_pair(strides, "strides", "conv_transpose_by_zero_insertion")
    padding = check_padding(padding, "conv_transpose_by_zero_insertion")
    if getattr(x, "ndim", 0) != 4 or getattr(kernel, "ndim", 0) != 4 or x.shape[3] != kernel.shape[3]:
        raise ValueError(f"conv_transpose_by_zero_insertion: x {tuple(getattr(x, 'shape', ()))} must be "
                         f"(N, H, W, C) and the kernel {tuple(getattr(kernel, 'shape', ()))} (kh, kw, F, C) "
                         "with the same C")
    xp = backend.get_array_module(x)
    inserted = insert_zeros(x, strides)
    pads = zero_insertion_pads(x.shape[1:3], kernel.shape[:2], strides, padding)
    padded = xp.pad(inserted, ((0, 0), *pads, (0, 0)))
    flipped = flip_and_swap(xp.asarray(kernel, dtype=x.dtype))
    output = correlate(padded, flipped)
    if steps:
        return ZeroInsertionSteps(inserted, padded, pads, flipped, output)
    return output
