"""NumPy's fast paths (tiling col2im, the flipped adjoint) against the xp forms.

Each fast path must give the same numbers as the readable form it replaces: bit for bit where
it only moves values (col2im of tiling windows), to rounding where it sums in another order
(the stride-1 adjoint as a convolution with the flipped kernel).
"""

import numpy
import pytest

from tinyunet import kernels
from tinyunet.kernels import conv as conv_module, windows
from tinyunet.layers import Conv2D, Conv2DTranspose
from tinyunet.shapes import conv_geometry

from helpers import normal_array


@pytest.mark.parametrize("in_size,kernel,padding", [((8, 6), 2, "same"), ((7, 5), 2, "same"), ((9, 9), 3, "same"),
                                                    ((8, 6), 2, "valid"), ((7, 7), 2, "valid")])
def test_tiling_col2im_is_the_scatter_add(in_size, kernel, padding):
    out_size, pads = conv_geometry(in_size, (kernel, kernel), (kernel, kernel), padding)
    cols = normal_array(1, (2, *out_size, kernel, kernel, 3))
    reference = windows.col2im_xp(cols, in_size, (kernel, kernel), pads)
    fast = windows.col2im(cols, in_size, (kernel, kernel), pads)
    numpy.testing.assert_array_equal(fast, reference)


def test_windows_that_overlap_or_leave_a_remainder_do_not_tile():
    assert windows.windows_tile((1, 4, 3, 2, 2, 1), (8, 6), (2, 2), ((0, 0), (0, 0)))
    assert not windows.windows_tile((1, 4, 3, 3, 3, 1), (8, 6), (2, 2), ((0, 1), (0, 1)))     # overlap
    assert not windows.windows_tile((1, 3, 3, 2, 2, 1), (7, 7), (2, 2), ((0, 0), (0, 0)))     # 'valid' remainder


@pytest.mark.parametrize("layer_type,kernel_size,strides,filters", [
    (Conv2D, 3, 1, 16), (Conv2D, 3, 1, 2), (Conv2D, 5, 1, 8), (Conv2D, 4, 2, 6), (Conv2DTranspose, 2, 2, 4)])
def test_layers_with_fast_paths_equal_the_readable_forms(layer_type, kernel_size, strides, filters):
    """Forward, dL/dx and dL/dK of a layer with the fast paths on and off (fast: F > C takes
    the flipped adjoint on NumPy, a 2 x 2 stride-2 transpose the tiling col2im)."""
    x = normal_array(2, (3, 8, 8, 5))
    layer = layer_type(filters, kernel_size, strides=strides, padding="same", seed=0)
    layer.build(x.shape, dtype="float64")
    dy = normal_array(3, layer.output_shape(x.shape))
    results = {}
    for fast in (False, True):
        previous = kernels.set_fast(fast)
        try:
            y = layer.forward(x)
            dx = layer.backward(dy)
            results[fast] = (y, dx, layer.grads["kernel"].copy())
        finally:
            kernels.set_fast(previous)
    for got, want in zip(results[True], results[False]):
        numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_numpy_takes_the_flipped_adjoint_even_when_filters_outnumber_channels():
    assert kernels.fast_enabled()
    dy = numpy.zeros((1, 4, 4, 16))
    assert conv_module.use_flipped_adjoint(dy, (3, 3, 8, 16), (1, 1))
    assert not conv_module.use_flipped_adjoint(dy, (3, 3, 8, 16), (2, 2))
    previous = kernels.set_fast(False)
    try:
        assert not conv_module.use_flipped_adjoint(dy, (3, 3, 8, 16), (1, 1))
        assert conv_module.use_flipped_adjoint(dy, (3, 3, 16, 8), (1, 1))
    finally:
        kernels.set_fast(previous)
