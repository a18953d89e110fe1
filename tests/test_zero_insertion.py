"""Zero insertion, padding by the rule and a flipped-kernel correlation equal Conv2DTranspose.

The hypothesis test is the proof Figure 8 shows: for every kernel size, stride and
padding the layer accepts, the article's "convolution of an image where the pixels have
had rows and columns inserted" gives the layer's numbers, to float64 rounding.
"""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import normal_array, to_numpy, xp_settings
from strategies import paddings, seeds
from tinyunet import backend
from tinyunet.layers import Conv2DTranspose, conv_transpose_by_zero_insertion, insert_zeros
from tinyunet.layers.zero_insertion import correlate, zero_insertion_pads
from tinyunet.shapes import conv_transpose_output_size


def layer_output(x, kernel, strides, padding):
    """Conv2DTranspose's forward with this kernel, no bias, in x's dtype."""
    layer = Conv2DTranspose(kernel.shape[2], kernel.shape[:2], strides=strides, padding=padding, use_bias=False)
    layer.build(x.shape, dtype=x.dtype)
    layer.params["kernel"] = backend.xp.asarray(kernel)
    return layer.forward(x)


def test_the_hand_computed_2x2_case():
    """Stride 2, kernel 2 x 2, "same": each input pixel paints the kernel times itself, no overlap."""
    x = numpy.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    kernel = numpy.array([[1.0, 10.0], [100.0, 1000.0]]).reshape(2, 2, 1, 1)
    assert insert_zeros(x, 2)[0, :, :, 0].tolist() == [[1, 0, 2], [0, 0, 0], [3, 0, 4]]
    assert zero_insertion_pads((2, 2), (2, 2), (2, 2), "same") == ((1, 1), (1, 1))
    steps = conv_transpose_by_zero_insertion(x, kernel, strides=2, padding="same", steps=True)
    assert steps.padded.shape == (1, 5, 5, 1)
    assert steps.kernel[:, :, 0, 0].tolist() == [[1000, 100], [10, 1]]       # turned by 180 degrees
    expected = [[1, 10, 2, 20], [100, 1000, 200, 2000], [3, 30, 4, 40], [300, 3000, 400, 4000]]
    assert steps.output[0, :, :, 0].tolist() == expected
    assert to_numpy(layer_output(x, kernel, 2, "same"))[0, :, :, 0].tolist() == expected


def test_the_pads_of_an_overlapping_kernel():
    """3 x 3 at stride 2 on 4 pixels, "same": the adjoint convolution pads (0, 1) on 8 pixels, so
    the zero-inserted 7 pixels get 3 - 1 - 0 = 2 zeros on top and 8 - 1 + 0 - 6 = 1 below."""
    assert zero_insertion_pads((4, 4), (3, 3), (2, 2), "same") == ((2, 1), (2, 1))
    assert zero_insertion_pads((4, 4), (3, 3), (2, 2), "valid") == ((2, 2), (2, 2))   # 9 = 4 * 2 + 1 out


def test_correlate_is_a_plain_sliding_window_sum(rng):
    x, kernel = rng.standard_normal((2, 5, 6, 3)), rng.standard_normal((2, 3, 3, 4))
    z = correlate(x, kernel)
    reference = numpy.zeros((2, 4, 4, 4))
    for h in range(4):
        for w in range(4):
            reference[:, h, w] = numpy.einsum("nijc,ijcf->nf", x[:, h:h + 2, w:w + 3], kernel)
    numpy.testing.assert_allclose(z, reference, rtol=0, atol=1e-12)


@xp_settings(max_examples=60)
@given(seed=seeds, n=st.integers(1, 2), h=st.integers(1, 6), w=st.integers(1, 6), c=st.integers(1, 3),
       f=st.integers(1, 3), kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 4),
       sw=st.integers(1, 4), padding=paddings)
def test_zero_insertion_equals_conv2d_transpose(xp, seed, n, h, w, c, f, kh, kw, sh, sw, padding):
    rng = numpy.random.default_rng(seed)
    x = backend.to_device(normal_array(rng, (n, h, w, c)))
    kernel = backend.to_device(normal_array(rng, (kh, kw, f, c)))
    z = conv_transpose_by_zero_insertion(x, kernel, strides=(sh, sw), padding=padding)
    expected = layer_output(x, kernel, (sh, sw), padding)
    assert z.shape == expected.shape == (n, conv_transpose_output_size(h, kh, sh, padding),
                                         conv_transpose_output_size(w, kw, sw, padding), f)
    scale = max(1.0, float(xp.abs(expected).max()))
    assert float(xp.abs(z - expected).max()) <= 1e-12 * scale


def test_float32_agrees_to_float32_rounding(rng):
    x = rng.standard_normal((2, 4, 4, 8)).astype(numpy.float32)
    kernel = rng.standard_normal((2, 2, 8, 8)).astype(numpy.float32)
    with backend.use("cpu"):
        difference = numpy.abs(conv_transpose_by_zero_insertion(x, kernel) - layer_output(x, kernel, 2, "same"))
    assert conv_transpose_by_zero_insertion(x, kernel).dtype == numpy.float32
    assert difference.max() < 1e-5


def test_mismatched_channels_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"\(1, 4, 4, 2\).*\(2, 2, 1, 3\)"):
        conv_transpose_by_zero_insertion(numpy.zeros((1, 4, 4, 2)), numpy.zeros((2, 2, 1, 3)))
    with pytest.raises(ValueError, match="padding"):
        conv_transpose_by_zero_insertion(numpy.zeros((1, 4, 4, 1)), numpy.zeros((2, 2, 1, 1)), padding="full")
