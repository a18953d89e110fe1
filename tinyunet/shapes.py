"""Shape arithmetic shared by the layers, the kernels and their tests (TensorFlow's rules).

    conv_output_size(n, k, s, "valid") = floor((n - k) / s) + 1
    conv_output_size(n, k, s, "same")  = ceil(n / s)
    same_padding(n, k, s)              = (before, after), total = max((out - 1) * s + k - n, 0),
                                         the smaller half before
    conv_transpose_output_size(n, k, s, "same")  = n * s
    conv_transpose_output_size(n, k, s, "valid") = n * s + max(k - s, 0)
    pool_output_size(n, p, s)          = floor((n - p) / s) + 1          (max pooling, "valid")
    direct_output_size(n, k, (a, b))   = n + a + b - k + 1               (stride 1, explicit pads)
    transpose_pads(((t, b), (l, r)), kh, kw) = ((kh-1-t, kh-1-b), (kw-1-l, kw-1-r))

A transposed convolution's output size is the input size of the convolution
it is the adjoint of: ``conv_output_size(conv_transpose_output_size(n)) == n``.
"""

PADDINGS = ("same", "valid")


def check_padding(padding, layer="layer"):
    """The padding name in lower case, or a ValueError naming the layer."""
    name = str(padding).lower()
    if name not in PADDINGS:
        raise ValueError(f"{layer}: padding must be 'same' or 'valid', not {padding!r}")
    return name


def conv_output_size(n, kernel_size, stride, padding):
    """Output length of a convolution or pooling window along one axis."""
    if padding == "same":
        return -(-n // stride)
    if n < kernel_size:
        return 0
    return (n - kernel_size) // stride + 1


def same_padding(n, kernel_size, stride):
    """(before, after) zero padding of 'same' along one axis; the smaller half goes before."""
    out = conv_output_size(n, kernel_size, stride, "same")
    total = max((out - 1) * stride + kernel_size - n, 0)
    return total // 2, total - total // 2


def padding_amounts(n, kernel_size, stride, padding):
    """(before, after) zero padding for either padding mode."""
    return same_padding(n, kernel_size, stride) if padding == "same" else (0, 0)


def conv_transpose_output_size(n, kernel_size, stride, padding):
    """Output length of a transposed convolution along one axis (Keras's rule)."""
    if padding == "same":
        return n * stride
    return n * stride + max(kernel_size - stride, 0)


def conv_geometry(in_size, kernel_size, strides, padding):
    """((Ho, Wo), ((top, bottom), (left, right))) of a convolution over (H, W)."""
    out = tuple(conv_output_size(n, k, s, padding) for n, k, s in zip(in_size, kernel_size, strides))
    pads = tuple(padding_amounts(n, k, s, padding) for n, k, s in zip(in_size, kernel_size, strides))
    return out, pads


def pool_output_size(in_size, pool_size, strides):
    """(Ho, Wo) of 'valid' pooling windows over (H, W): floor((H - ph) / sh) + 1 (same for W)."""
    return tuple((n - p) // s + 1 for n, p, s in zip(in_size, pool_size, strides))


def direct_output_size(in_size, kernel_size, pads):
    """(Ho, Wo) of a stride-1 convolution: H + top + bottom - kh + 1 (same for W)."""
    return tuple(n + before + after - k + 1 for n, k, (before, after) in zip(in_size, kernel_size, pads))


def direct_geometry(x_shape, kernel_shape, pads, name, dz_shape=None):
    """((Ho, Wo), pads as ints) of a stride-1 convolution of x (N, H, W, C) with K (kh, kw, C, F),
    or a ValueError naming ``name`` and the shapes (and dz's, when given: it must be (N, Ho, Wo, F))."""
    if len(x_shape) != 4 or len(kernel_shape) != 4 or x_shape[3] != kernel_shape[2]:
        raise ValueError(f"{name}: x {tuple(x_shape)} must be (N, H, W, C) and the kernel "
                         f"{tuple(kernel_shape)} (kh, kw, C, F) with the same C")
    pads = tuple((int(a), int(b)) for a, b in pads)
    if min(pads[0] + pads[1]) < 0:
        raise ValueError(f"{name}: pads {pads} must not be negative")
    out = direct_output_size(x_shape[1:3], kernel_shape[:2], pads)
    if min(out) < 1:
        raise ValueError(f"{name}: x {tuple(x_shape)} with pads {pads} is smaller than the kernel {kernel_shape[:2]}")
    expected = (x_shape[0], *out, kernel_shape[3])
    if dz_shape is not None and tuple(dz_shape) != expected:
        raise ValueError(f"{name}: dz {tuple(dz_shape)} should be {expected}")
    return out, pads


def transpose_pads(pads, kh, kw):
    """The pads of a stride-1 convolution's adjoint (dz -> dx): top' = kh - 1 - top, etc."""
    (top, bottom), (left, right) = pads
    adjoint = ((kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right))
    if min(adjoint[0] + adjoint[1]) < 0:
        raise ValueError(f"transpose_pads: pads {pads} exceed the kernel ({kh}, {kw}) less one; "
                         f"the adjoint would need negative padding")
    return adjoint


def as_pair(value, name, layer="layer"):
    """An int or a pair of positive ints as a tuple (h, w)."""
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (tuple, list)):
        pair = tuple(value)
    else:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{layer}: {name} must be a positive int or a pair of them, not {value!r}")
    return pair
