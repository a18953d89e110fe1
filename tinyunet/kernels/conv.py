"""im2col and col2im: the gather and scatter of convolution windows (NHWC).

im2col turns each output pixel's receptive field into one row, so that a
convolution becomes one matrix product:

    cols[n, oh, ow, i, j, c] = xpad[n, oh * sh + i, ow * sw + j, c]
    y[n, oh, ow, :]          = cols[n, oh, ow].reshape(kh * kw * C) @ kernel.reshape(kh * kw * C, F)

col2im is its adjoint: every entry of ``cols`` is added back to the input
pixel it was read from (pixels under several windows receive several
contributions), and the padding is cut off:

    x[n, h, w, c] = sum over (oh, ow, i, j) with oh * sh + i - pad_top == h
                    and ow * sw + j - pad_left == w  of  cols[n, oh, ow, i, j, c]

so <im2col(x), c> == <x, col2im(c)> for any x and c.  Conv2D's input gradient
and Conv2DTranspose's forward are both col2im of a matrix product.
"""

from .. import backend


def im2col_xp(x, kernel_size, strides, pads, out_size):
    """(N, H, W, C) -> (N, Ho, Wo, kh, kw, C) by kh * kw strided slices of the padded input.

    pads is ((top, bottom), (left, right)); out_size is (Ho, Wo).
    """
    xp = backend.get_array_module(x)
    (kh, kw), (sh, sw), (ho, wo) = kernel_size, strides, out_size
    n, _, _, c = x.shape
    xpad = xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    cols = xp.empty((n, ho, wo, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = xpad[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
    return cols


def col2im_xp(cols, in_size, strides, pads):
    """(N, Ho, Wo, kh, kw, C) -> (N, H, W, C): add each window entry back where im2col read it."""
    xp = backend.get_array_module(cols)
    n, ho, wo, kh, kw, c = cols.shape
    (sh, sw), (h, w) = strides, in_size
    (pt, pb), (pl, pr) = pads
    # the padded canvas must also hold the last window's reach (valid padding may leave a remainder)
    hp = max(h + pt + pb, sh * (ho - 1) + kh)
    wp = max(w + pl + pr, sw * (wo - 1) + kw)
    xpad = xp.zeros((n, hp, wp, c), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :] += cols[:, :, :, i, j, :]
    return xp.ascontiguousarray(xpad[:, pt:pt + h, pl:pl + w, :])


def im2col(x, kernel_size, strides, pads, out_size):
    """im2col_xp, or its CUDA twin for CuPy arrays when fast kernels are on."""
    return im2col_xp(x, kernel_size, strides, pads, out_size)


def col2im(cols, in_size, strides, pads):
    """col2im_xp, or its CUDA twin for CuPy arrays when fast kernels are on."""
    return col2im_xp(cols, in_size, strides, pads)
