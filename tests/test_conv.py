"""Conv2D and Conv2DTranspose: hand cases, nested-loop references, gradients, adjointness."""

import numpy
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import layer_gradient_errors, normal_array, relative_error, xp_settings
from strategies import activations, paddings, seeds
from tinyunet import backend
from tinyunet.layers import Conv2D, Conv2DTranspose
from tinyunet.layers.activations import check_activation
from tinyunet.shapes import conv_output_size, conv_transpose_output_size

# --- plain nested-loop references (float64, TensorFlow padding written out here, not imported) ---


def conv2d_reference(x, kernel, bias, strides, padding, activation):
    """y[n, oh, ow, :] = act(b + sum_{i, j} xpad[n, oh*sh + i - top, ow*sw + j - left, :] @ K[i, j])."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    if padding == "same":
        ho, wo = -(-h // sh), -(-w // sw)
        top = max((ho - 1) * sh + kh - h, 0) // 2
        left = max((wo - 1) * sw + kw - w, 0) // 2
    else:
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        top = left = 0
    y = numpy.zeros((n, ho, wo, f))
    for b in range(n):
        for oh in range(ho):
            for ow in range(wo):
                total = numpy.zeros(f) if bias is None else bias.astype(numpy.float64).copy()
                for i in range(kh):
                    for j in range(kw):
                        r, c = oh * sh + i - top, ow * sw + j - left
                        if 0 <= r < h and 0 <= c < w:
                            total += x[b, r, c, :] @ kernel[i, j, :, :]
                y[b, oh, ow] = total
    return activate_reference(y, activation)


def conv2d_transpose_reference(x, kernel, bias, strides, padding, activation):
    """The scatter definition: input pixel (ih, iw) adds K[i, j] @ x[ih, iw] at (ih*sh + i, iw*sw + j),
    then the canvas is cropped to Keras's output size (same: the max(k - s, 0) overlap, smaller half on top)."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    sh, sw = strides
    extra_h, extra_w = max(kh - sh, 0), max(kw - sw, 0)
    if padding == "same":
        ho, wo, top, left = h * sh, w * sw, extra_h // 2, extra_w // 2
    else:
        ho, wo, top, left = h * sh + extra_h, w * sw + extra_w, 0, 0
    canvas = numpy.zeros((n, max((h - 1) * sh + kh, top + ho), max((w - 1) * sw + kw, left + wo), f))
    for b in range(n):
        for ih in range(h):
            for iw in range(w):
                for i in range(kh):
                    for j in range(kw):
                        canvas[b, ih * sh + i, iw * sw + j] += kernel[i, j] @ x[b, ih, iw]
    y = canvas[:, top:top + ho, left:left + wo]
    if bias is not None:
        y = y + bias
    return activate_reference(y, activation)


def activate_reference(z, activation):
    if activation == "relu":
        return numpy.where(z > 0, z, 0.0)
    if activation == "sigmoid":
        return 1 / (1 + numpy.exp(-z))
    return z


def make_layer(cls, filters, kernel_size, strides, padding, activation, use_bias, x_shape, seed,
               dtype="float64"):
    """A built layer with a random kernel and a random, non-zero bias."""
    layer = cls(filters, kernel_size, strides=strides, padding=padding, activation=activation,
                use_bias=use_bias, seed=seed)
    layer.build(x_shape, dtype=dtype)
    if use_bias:
        rng = numpy.random.default_rng(seed + 1)
        bias = rng.uniform(0.2, 1.0, filters) * rng.choice([-1.0, 1.0], filters)
        layer.params["bias"][...] = backend.to_device(bias, dtype)
    return layer


def params_numpy(layer):
    return {k: backend.asnumpy(v).astype(numpy.float64) for k, v in layer.params.items()}


# --- hand-computed cases ---


def test_conv2d_hand_computed(xp):
    # x = [[1 2 3], [4 5 6], [7 8 9]], K = 2 x 2 ones: each output sums a 2 x 2 window.
    # valid: [[1+2+4+5, 2+3+5+6], [4+5+7+8, 5+6+8+9]] = [[12, 16], [24, 28]]
    # same (TF: total pad 1, all of it after): the last row/column sees the zero padding:
    #   [[12, 16, 3+6], [24, 28, 6+9], [7+8, 8+9, 9]] = [[12, 16, 9], [24, 28, 15], [15, 17, 9]]
    x = backend.to_device(numpy.arange(1, 10, dtype=numpy.float64).reshape(1, 3, 3, 1))
    for padding, expected in [("valid", [[12, 16], [24, 28]]),
                              ("same", [[12, 16, 9], [24, 28, 15], [15, 17, 9]])]:
        conv = Conv2D(1, 2, padding=padding, use_bias=False)
        conv.build(x.shape, dtype="float64")
        conv.params["kernel"][...] = 1
        y = backend.asnumpy(conv.forward(x))[0, :, :, 0]
        numpy.testing.assert_array_equal(y, expected)
    # stride 2, same, 3 x 3 ones, bias 1: out = ceil(3 / 2) = 2, total pad = (2-1)*2 + 3 - 3 = 2, 1 each side
    # windows centred on (0, 0), (0, 2), (2, 0), (2, 2): [[1+2+4+5, 2+3+5+6], [4+5+7+8, 5+6+8+9]] + 1
    conv = Conv2D(1, 3, strides=2, padding="same", activation="relu")
    conv.build(x.shape, dtype="float64")
    conv.params["kernel"][...] = 1
    conv.params["bias"][...] = 1
    numpy.testing.assert_array_equal(backend.asnumpy(conv.forward(x))[0, :, :, 0], [[13, 17], [25, 29]])


def test_conv2d_transpose_hand_computed(xp):
    # kernel 2, stride 2, K = ones: each input pixel paints a 2 x 2 block of itself
    x = backend.to_device(numpy.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1))
    up = Conv2DTranspose(1, 2, strides=2, use_bias=False)
    up.build(x.shape, dtype="float64")
    up.params["kernel"][...] = 1
    expected = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    numpy.testing.assert_array_equal(backend.asnumpy(up.forward(x))[0, :, :, 0], expected)
    # kernel 3, stride 1, valid, one pixel of value 2: the output is 2 * K (3 x 3, = 1 * 1 + max(3 - 1, 0))
    up = Conv2DTranspose(1, 3, strides=1, padding="valid", use_bias=False)
    up.build((1, 1, 1, 1), dtype="float64")
    k = numpy.arange(9.0).reshape(3, 3, 1, 1)
    up.params["kernel"][...] = backend.to_device(k)
    y = up.forward(backend.to_device(numpy.full((1, 1, 1, 1), 2.0)))
    numpy.testing.assert_array_equal(backend.asnumpy(y)[0, :, :, 0], 2 * k[:, :, 0, 0])
    # kernel 3, stride 2, same on a 1 x 2 row [1, 10], K = [[1 2 3]] (1 x 3): canvas 1 x 5
    # [1, 2, 3 + 10, 20, 30], cropped from (3 - 2) // 2 = 0 to width 2 * 2 = 4: [1, 2, 13, 20]
    up = Conv2DTranspose(1, (1, 3), strides=2, use_bias=False)
    up.build((1, 1, 2, 1), dtype="float64")
    up.params["kernel"][...] = backend.to_device(numpy.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1))
    y = up.forward(backend.to_device(numpy.array([1.0, 10.0]).reshape(1, 1, 2, 1)))
    numpy.testing.assert_array_equal(backend.asnumpy(y)[0, 0, :, 0], [1, 2, 13, 20])


# --- forward against the references ---


def assert_forward_matches_reference(cls, reference, x_np, kernel_size, strides, padding, seed):
    """cls(2, ...).forward(x) equals reference(x) to 1e-10, for every activation, with and without a bias."""
    x = backend.to_device(x_np)
    stride_pair = strides if isinstance(strides, tuple) else (strides, strides)
    for activation in (None, "relu", "sigmoid"):
        for use_bias in (True, False):
            layer = make_layer(cls, 2, kernel_size, strides, padding, activation, use_bias, x.shape, seed=seed)
            p = params_numpy(layer)
            expected = reference(x_np, p["kernel"], p.get("bias"), stride_pair, padding, activation)
            y = backend.asnumpy(layer.forward(x))
            assert y.shape == expected.shape == layer.output_shape(x.shape)
            numpy.testing.assert_allclose(y, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2, (1, 2)])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5, 6, 7, (3, 2)])
def test_conv2d_forward_matches_reference(xp, kernel_size, strides, padding):
    assert_forward_matches_reference(Conv2D, conv2d_reference, normal_array(0, (2, 9, 8, 3)), kernel_size,
                                     strides, padding, seed=3)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2, (2, 1)])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, (2, 3)])
def test_conv2d_transpose_forward_matches_reference(xp, kernel_size, strides, padding):
    assert_forward_matches_reference(Conv2DTranspose, conv2d_transpose_reference, normal_array(1, (2, 3, 4, 3)),
                                     kernel_size, strides, padding, seed=4)


# --- gradients against central differences ---


@st.composite
def conv_cases(draw, transpose=False):
    """(filters, kernel_size, strides, padding, activation, use_bias, x_shape, seed)."""
    kh, kw = (draw(st.integers(1, 4 if transpose else 7)) for _ in range(2))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(paddings)
    activation = draw(activations)
    use_bias = True if activation == "relu" else draw(st.booleans())  # a bias moves ReLU off its kink
    low = 1 if transpose or padding == "same" else 0
    h = draw(st.integers(1, 3 if transpose else 5)) + (0 if low else kh - 1)
    w = draw(st.integers(1, 3 if transpose else 5)) + (0 if low else kw - 1)
    shape = (draw(st.integers(1, 2)), h, w, draw(st.integers(1, 3)))
    return draw(st.integers(1, 3)), (kh, kw), strides, padding, activation, use_bias, shape, draw(seeds)


def assume_off_relu_kink(layer, x):
    """Reject examples whose ReLU pre-activations come within 1e-3 of 0."""
    if layer.activation == "relu":
        layer.activation = "linear"
        z = backend.asnumpy(layer.forward(x))
        layer.activation = "relu"
        assume(numpy.abs(z).min() > 1e-3)


@xp_settings(max_examples=60)
@given(case=conv_cases())
def test_conv2d_gradients(xp, case):
    filters, kernel_size, strides, padding, activation, use_bias, shape, seed = case
    conv = make_layer(Conv2D, filters, kernel_size, strides, padding, activation, use_bias, shape, seed % 1000)
    x = backend.to_device(normal_array(seed, shape))
    assume_off_relu_kink(conv, x)
    errors = layer_gradient_errors(conv, x, seed + 1)
    assert set(errors) == {"x", "kernel"} | ({"bias"} if use_bias else set())
    assert max(errors.values()) < 1e-6, errors


@xp_settings(max_examples=60)
@given(case=conv_cases(transpose=True))
def test_conv2d_transpose_gradients(xp, case):
    filters, kernel_size, strides, padding, activation, use_bias, shape, seed = case
    up = make_layer(Conv2DTranspose, filters, kernel_size, strides, padding, activation, use_bias, shape,
                    seed % 1000)
    x = backend.to_device(normal_array(seed, shape))
    assume_off_relu_kink(up, x)
    errors = layer_gradient_errors(up, x, seed + 1)
    assert set(errors) == {"x", "kernel"} | ({"bias"} if use_bias else set())
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("cls, kernel_size", [(Conv2D, k) for k in range(1, 8)] +
                         [(Conv2DTranspose, k) for k in range(1, 5)])
def test_gradients_every_size_stride_padding_activation(xp, cls, kernel_size, strides, padding):
    # the sweep hypothesis may not reach in its bounded examples; relu gets a non-zero bias
    # (in the gaps of a stride-2 transpose with kernel 1 the pre-activation is the bias alone)
    shape = (2, kernel_size + 1, kernel_size + 2, 2) if cls is Conv2D else (1, 3, 2, 2)
    for activation in (None, "relu", "sigmoid"):
        for k in range(50):  # the first input whose pre-activations stay 1e-3 away from 0
            layer = make_layer(cls, 2, kernel_size, strides, padding, activation, True, shape, seed=k)
            x = backend.to_device(normal_array(10 + k, shape))
            layer.activation = "linear"
            z = backend.asnumpy(layer.forward(x))
            layer.activation = check_activation(activation)
            if numpy.abs(z).min() > 1e-3:
                break
        errors = layer_gradient_errors(layer, x, 20 + k)
        assert max(errors.values()) < 1e-6, (activation, errors)


# --- properties ---


@xp_settings()
@given(kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 2), sw=st.integers(1, 2),
       padding=paddings, ho=st.integers(1, 4), wo=st.integers(1, 4), c=st.integers(1, 3),
       f=st.integers(1, 3), seed=seeds)
def test_conv2d_transpose_is_the_adjoint_of_conv2d(xp, kh, kw, sh, sw, padding, ho, wo, c, f, seed):
    # the convolution's input size is the transposed convolution's Keras output size
    h = conv_transpose_output_size(ho, kh, sh, padding)
    w = conv_transpose_output_size(wo, kw, sw, padding)
    assert (conv_output_size(h, kh, sh, padding), conv_output_size(w, kw, sw, padding)) == (ho, wo)
    conv = Conv2D(f, (kh, kw), strides=(sh, sw), padding=padding, use_bias=False, seed=seed % 1000)
    up = Conv2DTranspose(c, (kh, kw), strides=(sh, sw), padding=padding, use_bias=False)
    conv.build((2, h, w, c), dtype="float64")
    up.build((2, ho, wo, f), dtype="float64")
    up.params["kernel"] = conv.params["kernel"]  # (kh, kw, C, F) is the transpose's (kh, kw, filters=C, in=F)
    x = backend.to_device(normal_array(seed, (2, h, w, c)))
    y = backend.to_device(normal_array(seed + 1, (2, ho, wo, f)))
    lhs = float((conv.forward(x) * y).sum())
    rhs = float((x * up.forward(y)).sum())
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), (lhs, rhs)
    # and each layer's input gradient is the other's forward
    numpy.testing.assert_allclose(backend.asnumpy(conv.backward(y)), backend.asnumpy(up.forward(y)), atol=1e-12)
    numpy.testing.assert_allclose(backend.asnumpy(up.backward(x)), backend.asnumpy(conv.forward(x)), atol=1e-12)


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_float32_agrees_with_float64(xp, cls, activation):
    x64 = normal_array(5, (2, 6, 5, 3))
    ref = make_layer(cls, 4, 3, 2, "same", activation, True, x64.shape, seed=6)
    single = cls(4, 3, strides=2, padding="same", activation=activation, seed=6)
    single.build(x64.shape)
    assert single.params["kernel"].dtype == numpy.float32
    for key, value in ref.params.items():
        single.params[key][...] = value.astype(numpy.float32)
    x = backend.to_device(x64)
    y64, y32 = ref.forward(x), single.forward(x.astype(numpy.float32))
    assert y32.dtype == numpy.float32
    assert relative_error(y32, y64) < 1e-4
    dy = backend.to_device(normal_array(7, y64.shape))
    dx64, dx32 = ref.backward(dy), single.backward(dy.astype(numpy.float32))
    assert dx32.dtype == numpy.float32
    assert relative_error(dx32, dx64) < 1e-4
    for key in ref.grads:
        assert single.grads[key].dtype == numpy.float32
        assert relative_error(single.grads[key], ref.grads[key]) < 1e-4, key
