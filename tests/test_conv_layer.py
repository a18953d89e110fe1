"""Conv2D and Conv2DTranspose as layers: live params, one build, seeds, bad input, and what
they keep for backward (im2col's matrix in slices, rebuilt when big; no output when linear)."""

import numpy
import pytest

from helpers import normal_array
from tinyunet import backend
from tinyunet.layers import Conv2D, Conv2DTranspose


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_params_are_live(xp, cls):
    layer = cls(3, 2, strides=2, seed=0)
    x = backend.to_device(normal_array(0, (1, 4, 4, 2)))
    y = layer.forward(x)
    assert y.dtype == numpy.float32
    layer.params["kernel"][...] = 0
    layer.params["bias"][...] = backend.to_device(numpy.array([1.0, 2.0, 3.0]), "float32")
    out = backend.asnumpy(layer.forward(x))
    numpy.testing.assert_array_equal(out, numpy.broadcast_to([1.0, 2.0, 3.0], out.shape))


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_build_never_rebuilds(xp, cls):
    layer = cls(3, 2, seed=0)
    layer.build((1, 4, 4, 2))
    kernel = layer.params["kernel"]
    layer.build((1, 4, 4, 5), dtype="float64")
    assert layer.params["kernel"] is kernel and layer.dtype == numpy.float32
    layer.forward(backend.to_device(normal_array(0, (2, 6, 6, 2))))
    assert layer.params["kernel"] is kernel


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_same_seed_same_weights(xp, cls):
    a, b = cls(4, 3, seed=11), cls(4, 3, seed=11)
    a.build((1, 4, 4, 2))
    b.build((1, 4, 4, 2))
    numpy.testing.assert_array_equal(backend.asnumpy(a.params["kernel"]), backend.asnumpy(b.params["kernel"]))
    assert a.params["kernel"].shape == ((3, 3, 2, 4) if cls is Conv2D else (3, 3, 4, 2))


# --- bad input ---


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_bad_input_raises_value_error_naming_layer_and_shapes(xp, cls):
    layer = cls(3, 2, name="conv_under_test", seed=0)
    with pytest.raises(ValueError, match=r"conv_under_test.*\(4, 4, 2\)"):
        layer.forward(backend.to_device(numpy.zeros((4, 4, 2))))
    layer.forward(backend.to_device(numpy.zeros((1, 4, 4, 2))))
    with pytest.raises(ValueError, match=r"conv_under_test.*\(1, 4, 4, 5\).*2"):
        layer.forward(backend.to_device(numpy.zeros((1, 4, 4, 5))))
    for bad in (numpy.nan, numpy.inf, -numpy.inf):
        x = numpy.zeros((1, 4, 4, 2))
        x[0, 1, 2, 1] = bad
        with pytest.raises(ValueError, match=r"conv_under_test.*\(1, 4, 4, 2\).*(NaN|inf)"):
            layer.forward(backend.to_device(x))


def test_valid_conv_larger_than_input_raises(xp):
    conv = Conv2D(2, 5, padding="valid", name="big_kernel")
    with pytest.raises(ValueError, match=r"big_kernel.*\(1, 4, 6, 1\).*\(5, 5\)"):
        conv.forward(backend.to_device(numpy.zeros((1, 4, 6, 1))))


def test_bad_arguments_raise_value_error():
    for kwargs in ({"filters": 0, "kernel_size": 3}, {"filters": 2, "kernel_size": 0},
                   {"filters": 2, "kernel_size": 3, "padding": "full"},
                   {"filters": 2, "kernel_size": 3, "activation": "tanh"},
                   {"filters": 2, "kernel_size": (3, 3, 3)}):
        for cls in (Conv2D, Conv2DTranspose):
            with pytest.raises(ValueError, match="conv"):
                cls(**kwargs)


def test_backward_checks_its_gradient(xp):
    conv = Conv2D(2, 3, name="c")
    with pytest.raises(RuntimeError, match="c: backward called before forward"):
        conv.backward(backend.to_device(numpy.zeros((1, 4, 4, 2))))
    conv.forward(backend.to_device(numpy.zeros((1, 4, 4, 1))))
    with pytest.raises(ValueError, match=r"c: .*\(1, 4, 4, 3\).*\(1, 4, 4, 2\)"):
        conv.backward(backend.to_device(numpy.zeros((1, 4, 4, 3))))


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
@pytest.mark.parametrize("strides", [1, 2])
def test_batch_slicing_of_im2col_changes_nothing(xp, monkeypatch, cls, strides):
    """A tiny COLS_BUDGET forces one image per im2col matrix: results equal the one-shot ones."""
    from tinyunet.kernels import conv as conv_module
    layer = cls(3, 3, strides=strides, activation="relu", seed=0)
    layer.build((5, 6, 6, 4), dtype="float64")
    x = backend.to_device(normal_array(1, (5, 6, 6, 4)))
    dy_shape = layer.output_shape(x.shape)
    dy = backend.to_device(normal_array(2, dy_shape))
    y, dx = backend.asnumpy(layer.forward(x)), backend.asnumpy(layer.backward(dy))
    dk = backend.asnumpy(layer.grads["kernel"])
    monkeypatch.setattr(conv_module, "COLS_BUDGET", 1)
    assert len(conv_module.image_chunks(5, 100)) == 5
    numpy.testing.assert_allclose(backend.asnumpy(layer.forward(x)), y, rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(backend.asnumpy(layer.backward(dy)), dx, rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(backend.asnumpy(layer.grads["kernel"]), dk, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("strides", [1, 2])
def test_a_big_im2col_matrix_is_rebuilt_in_backward_not_kept(xp, monkeypatch, strides):
    """Conv2D keeps im2col's matrix only up to kernels.conv.KEEP_COLS_BUDGET elements (where the
    path builds one: the xp forms and CuPy's im2col, not NumPy's blocks); the kernel gradient
    from the rebuilt matrix is the same."""
    from tinyunet import kernels
    layer = Conv2D(4, 3, strides=strides, padding="same", seed=0)
    layer.build((2, 6, 6, 3), dtype="float64")
    x = backend.to_device(normal_array(1, (2, 6, 6, 3)))
    dy = backend.to_device(normal_array(2, layer.output_shape(x.shape)))
    previous = kernels.set_fast(False)      # the readable path, which builds the matrix
    try:
        layer.forward(x)
        assert layer.cols is not None and layer.cols.size <= kernels.conv.KEEP_COLS_BUDGET
        dx, dk = backend.asnumpy(layer.backward(dy)), backend.asnumpy(layer.grads["kernel"])
        monkeypatch.setattr(kernels.conv, "KEEP_COLS_BUDGET", layer.cols.size - 1)
        layer.forward(x)
        assert layer.cols is None
        numpy.testing.assert_allclose(backend.asnumpy(layer.backward(dy)), dx, rtol=1e-12, atol=1e-12)
        numpy.testing.assert_allclose(backend.asnumpy(layer.grads["kernel"]), dk, rtol=1e-12, atol=1e-12)
    finally:
        kernels.set_fast(previous)


@pytest.mark.parametrize("kernel_size,padding", [(3, "same"), (4, "same"), (3, "valid"), (1, "same")])
def test_stride_one_adjoint_by_flipped_kernel_equals_col2im(xp, kernel_size, padding):
    """For stride 1 the input gradient is a convolution with the flipped kernel (used when F <= C)."""
    from tinyunet.kernels import conv as conv_module
    from tinyunet.shapes import conv_geometry
    kernel = backend.to_device(normal_array(3, (kernel_size, kernel_size, 6, 2)))
    dy_shape = (2, 7, 5, 2) if padding == "same" else (2, 7 - kernel_size + 1, 5 - kernel_size + 1, 2)
    dy = backend.to_device(normal_array(4, dy_shape))
    flipped = conv_module.conv2d_transpose(dy, kernel, (7, 5), (1, 1), padding)     # F=2 <= C=6
    cols = (dy.reshape(-1, 2) @ kernel.reshape(-1, 2).T).reshape(dy_shape[:3] + (kernel_size, kernel_size, 6))
    _, pads = conv_geometry((7, 5), (kernel_size, kernel_size), (1, 1), padding)
    reference = conv_module.col2im(cols, (7, 5), (1, 1), pads)
    numpy.testing.assert_allclose(backend.asnumpy(flipped), backend.asnumpy(reference), rtol=1e-12, atol=1e-12)


def test_input_gradient_can_be_skipped(xp):
    layer = Conv2D(2, 3, seed=0)
    layer.build((1, 4, 4, 1), dtype="float64")
    x = backend.to_device(normal_array(5, (1, 4, 4, 1)))
    dy = xp.ones((1, 4, 4, 2))
    layer.forward(x)
    layer.backward(dy)
    kernel_grad = backend.asnumpy(layer.grads["kernel"]).copy()
    layer.forward(x)
    assert layer.backward(dy, input_gradient=False) is None
    numpy.testing.assert_array_equal(backend.asnumpy(layer.grads["kernel"]), kernel_grad)


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_a_linear_convolution_keeps_only_its_output_shape(cls):
    """A 'linear' layer's backward needs no output, so it keeps none (its memory goes with the
    next layer); other activations keep y, which their derivatives are written in."""
    x = normal_array(1, (2, 4, 4, 3))
    for activation, keeps in (("linear", False), ("relu", True)):
        layer = cls(2, 2, strides=2, activation=activation, seed=0)
        layer.build(x.shape, dtype="float64")
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(numpy.zeros(layer.output_shape(x.shape)))
        y = layer.forward(x)
        assert (layer.y is not None) == keeps and layer.y_shape == y.shape
        with pytest.raises(ValueError, match="expected the forward output's shape"):
            layer.backward(numpy.zeros((1, *y.shape[1:])))
        assert layer.backward(numpy.ones(y.shape)).shape == x.shape
