"""Shape arithmetic shared by the layers and their tests (TensorFlow's rules).

    conv_output_size(n, k, s, "valid") = floor((n - k) / s) + 1
    conv_output_size(n, k, s, "same")  = ceil(n / s)
    same_padding(n, k, s)              = (before, after), total = max((out - 1) * s + k - n, 0),
                                         the smaller half before
    conv_transpose_output_size(n, k, s, "same")  = n * s
    conv_transpose_output_size(n, k, s, "valid") = n * s + max(k - s, 0)

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
