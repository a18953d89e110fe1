"""The kernels package: each CUDA twin against its readable xp twin (GPU), and the xp twins
against plain loops and the layers (CPU).

The GPU tests carry the ``gpu`` marker and are skipped, visibly, when no CUDA device
answers.  They draw fresh random inputs of several shapes, including the article
U-Net's, and compare the fast kernel with the xp form run on the same CuPy arrays.
"""

import numpy
import pytest

from helpers import normal_array, numerical_gradient
from tinyunet import backend, kernels
from tinyunet.kernels import normalization, optimizers, pooling, windows
from tinyunet.kernels.activation import activate
from tinyunet.layers import Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D
from tinyunet.shapes import conv_geometry

# (N, H, W, C), kernel, strides, padding: the article's first conv, a 3x3, the transposed 2x2,
# odd sizes with 'valid' padding and a remainder, and unequal strides
CONV_CASES = [((2, 32, 32, 1), (5, 5), (1, 1), "same"),
              ((2, 16, 16, 8), (3, 3), (1, 1), "same"),
              ((3, 8, 8, 16), (2, 2), (2, 2), "same"),
              ((2, 9, 7, 3), (3, 2), (2, 3), "valid"),
              ((1, 7, 10, 2), (4, 3), (2, 2), "same"),
              ((2, 5, 6, 4), (1, 1), (1, 1), "same")]

POOL_CASES = [((2, 16, 16, 8), (2, 2), (2, 2)),
              ((3, 8, 6, 5), (2, 2), (2, 2)),
              ((2, 7, 9, 3), (3, 3), (2, 2)),      # overlapping windows
              ((1, 9, 9, 2), (2, 3), (3, 2))]      # gaps and overlaps


def close(a, b, rtol, atol=0.0):
    numpy.testing.assert_allclose(backend.asnumpy(a), backend.asnumpy(b), rtol=rtol, atol=atol)


# ----------------------------------------------------------------- CPU: the xp twins

@pytest.mark.parametrize("shape, kernel_size, strides, padding", CONV_CASES)
def test_im2col_xp_matches_loops(shape, kernel_size, strides, padding, rng):
    x = normal_array(rng, shape)
    (ho, wo), pads = conv_geometry(shape[1:3], kernel_size, strides, padding)
    cols = windows.im2col_xp(x, kernel_size, strides, pads, (ho, wo))
    xpad = numpy.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    (kh, kw), (sh, sw) = kernel_size, strides
    for oh in range(ho):
        for ow in range(wo):
            window = xpad[:, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw, :]
            if window.shape[1:3] == (kh, kw):
                numpy.testing.assert_array_equal(cols[:, oh, ow], window)


@pytest.mark.parametrize("shape, kernel_size, strides, padding", CONV_CASES)
def test_col2im_xp_is_the_adjoint_of_im2col_xp(shape, kernel_size, strides, padding, rng):
    (ho, wo), pads = conv_geometry(shape[1:3], kernel_size, strides, padding)
    x = normal_array(rng, shape)
    c = normal_array(rng, (shape[0], ho, wo, *kernel_size, shape[3]))
    left = numpy.vdot(windows.im2col_xp(x, kernel_size, strides, pads, (ho, wo)), c)
    right = numpy.vdot(x, windows.col2im_xp(c, shape[1:3], strides, pads))
    assert left == pytest.approx(right, rel=1e-12)


@pytest.mark.parametrize("shape, pool_size, strides", POOL_CASES)
def test_max_pool_xp_matches_loops_and_routes_ties_to_the_first_maximum(shape, pool_size, strides, rng):
    x = rng.integers(0, 3, size=shape).astype("float64")       # many ties
    y, argmax = pooling.max_pool_xp(x, pool_size, strides)
    dy = normal_array(rng, y.shape)
    dx = pooling.max_pool_backward_xp(dy, argmax, x.shape, pool_size, strides)
    (ph, pw), (sh, sw) = pool_size, strides
    expected_dx = numpy.zeros_like(x)
    for n, oh, ow, c in numpy.ndindex(*y.shape):
        window = x[n, oh * sh:oh * sh + ph, ow * sw:ow * sw + pw, c]
        first = int(numpy.argmax(window.reshape(-1)))
        assert y[n, oh, ow, c] == window.max()
        assert argmax[n, oh, ow, c] == first
        expected_dx[n, oh * sh + first // pw, ow * sw + first % pw, c] += dy[n, oh, ow, c]
    numpy.testing.assert_allclose(dx, expected_dx, rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (1, 6, 5, 1), (3, 2, 2, 8)])
def test_layer_norm_xp_forward_and_backward(shape, rng):
    x = 3.0 + 2.0 * normal_array(rng, shape)
    xhat, sigma, d = normalization.layer_norm_xp(x, 1e-7)
    for n in range(shape[0]):
        numpy.testing.assert_allclose(xhat[n], (x[n] - x[n].mean()) / (x[n].std() + 1e-7), rtol=1e-10)
    # backward against central differences of <xhat(x), g>
    g = normal_array(rng, shape)
    dx = normalization.layer_norm_backward_xp(g, xhat, sigma, d)
    numeric = numerical_gradient(lambda: numpy.vdot(normalization.layer_norm_xp(x, 1e-7)[0], g), x)
    numpy.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-7)


def test_adam_update_all_xp_is_adam_update_per_tensor(rng):
    shapes = [(3, 3, 2, 4), (4,), (1, 1, 4, 1)]
    params = [normal_array(rng, s, "float32") for s in shapes]
    grads = [normal_array(rng, s, "float32") for s in shapes]
    ms, vs = [numpy.zeros(s, "float32") for s in shapes], [numpy.zeros(s, "float32") for s in shapes]
    expected = [(p.copy(), m.copy(), v.copy()) for p, m, v in zip(params, ms, vs)]
    for step in (1, 2, 3):
        optimizers.adam_update_all_xp(params, grads, ms, vs, step, 1e-3, 0.9, 0.999, 1e-7)
        for (p, m, v), g in zip(expected, grads):
            optimizers.adam_update(p, g, m, v, step, 1e-3, 0.9, 0.999, 1e-7)
    for (p, m, v), p2, m2, v2 in zip(expected, params, ms, vs):
        numpy.testing.assert_array_equal(p, p2)
        numpy.testing.assert_array_equal(m, m2)
        numpy.testing.assert_array_equal(v, v2)


def test_dispatchers_run_the_xp_twins_on_numpy(rng):
    x = normal_array(rng, (2, 8, 8, 3), "float32")
    y, argmax = kernels.max_pool(x, (2, 2), (2, 2))
    y2, argmax2 = pooling.max_pool_xp(x, (2, 2), (2, 2))
    numpy.testing.assert_array_equal(y, y2)
    numpy.testing.assert_array_equal(argmax, argmax2)
    numpy.testing.assert_array_equal(kernels.layer_norm(x, 1e-7)[0], normalization.layer_norm_xp(x, 1e-7)[0])
    assert not kernels.use_cuda(x)


def test_set_fast_returns_the_previous_setting():
    previous = kernels.set_fast(False)
    try:
        assert not kernels.fast_enabled()
        assert kernels.set_fast(True) is False
        assert kernels.fast_enabled()
    finally:
        kernels.set_fast(previous)


# ----------------------------------------------------------------- GPU: CUDA twin vs xp twin

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, kernel_size, strides, padding", CONV_CASES)
@pytest.mark.gpu
def test_im2col_and_col2im_cuda_match_xp(cupy, shape, kernel_size, strides, padding, dtype, rng):
    (ho, wo), pads = conv_geometry(shape[1:3], kernel_size, strides, padding)
    x = cupy.asarray(normal_array(rng, shape, dtype))
    close(windows.im2col_cuda(x, kernel_size, strides, pads, (ho, wo)),
          windows.im2col_xp(x, kernel_size, strides, pads, (ho, wo)), rtol=0)
    c = cupy.asarray(normal_array(rng, (shape[0], ho, wo, *kernel_size, shape[3]), dtype))
    close(windows.col2im_cuda(c, shape[1:3], strides, pads), windows.col2im_xp(c, shape[1:3], strides, pads),
          rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)


@pytest.mark.gpu
def test_im2col_cuda_at_the_article_first_layer(cupy, rng):
    x = cupy.asarray(normal_array(rng, (4, 256, 256, 1), "float32"))
    (ho, wo), pads = conv_geometry(x.shape[1:3], (5, 5), (1, 1), "same")
    close(windows.im2col_cuda(x, (5, 5), (1, 1), pads, (ho, wo)), windows.im2col_xp(x, (5, 5), (1, 1), pads, (ho, wo)), rtol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, pool_size, strides", POOL_CASES + [((4, 256, 256, 8), (2, 2), (2, 2))])
@pytest.mark.gpu
def test_max_pool_cuda_matches_xp(cupy, shape, pool_size, strides, dtype, rng):
    for values in (normal_array(rng, shape, dtype), rng.integers(0, 3, size=shape).astype(dtype)):   # ties too
        x = cupy.asarray(values)
        y, argmax = pooling.max_pool_cuda(x, pool_size, strides)
        y2, argmax2 = pooling.max_pool_xp(x, pool_size, strides)
        assert argmax.dtype == numpy.uint8
        close(y, y2, rtol=0)
        numpy.testing.assert_array_equal(backend.asnumpy(argmax).astype(numpy.int64), backend.asnumpy(argmax2))
        dy = cupy.asarray(normal_array(rng, y.shape, dtype))
        close(pooling.max_pool_backward_cuda(dy, argmax, x.shape, pool_size, strides),
              pooling.max_pool_backward_xp(dy, argmax2, x.shape, pool_size, strides), rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, loc", [((2, 8, 8, 3), 0.0), ((3, 5, 7, 2), 5.0), ((4, 256, 256, 8), 0.0),
                                        ((2, 16, 16, 128), 1000.0), ((1, 1, 1, 5), 0.0)])
@pytest.mark.gpu
def test_layer_norm_cuda_matches_xp(cupy, shape, loc, dtype, rng):
    x = cupy.asarray((loc + normal_array(rng, shape)).astype(dtype))
    # float64 xp statistics as the reference, so that the test measures the kernel's error
    xhat, sigma, d = normalization.layer_norm_cuda(x, 1e-7)
    ref = normalization.layer_norm_xp(x.astype("float64"), 1e-7)
    tol = 2e-4 if dtype == "float32" else 1e-10
    close(xhat, ref[0], rtol=tol, atol=tol)
    close(sigma, ref[1], rtol=tol)
    assert sigma.shape == d.shape == (shape[0], 1, 1, 1)
    g = cupy.asarray(normal_array(rng, shape, dtype))
    dx = normalization.layer_norm_backward_cuda(g, xhat, sigma, d)
    dx_ref = normalization.layer_norm_backward_xp(g.astype("float64"), *(a.astype("float64") for a in ref))
    close(dx, dx_ref, rtol=tol * 10, atol=tol * 10 * float(abs(dx_ref).max()))


@pytest.mark.gpu
def test_layer_norm_cuda_of_a_constant_sample(cupy):
    x = cupy.full((2, 4, 4, 3), 7.0, dtype="float32")
    xhat, sigma, d = normalization.layer_norm_cuda(x, 1e-7)
    assert float(abs(xhat).max()) == 0.0 and float(abs(sigma).max()) == 0.0
    g = cupy.ones_like(x)
    close(normalization.layer_norm_backward_cuda(g, xhat, sigma, d),
          normalization.layer_norm_backward_xp(g, xhat, sigma, d), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_adam_update_all_cuda_matches_xp(cupy, dtype, rng):
    shapes = [(5, 5, 1, 8), (8,), (3, 3, 16, 8), (1,), (2, 2, 128, 64), (1, 1, 8, 1)]
    state = {}
    for name in ("cuda", "xp"):
        r = numpy.random.default_rng(7)
        params = [cupy.asarray(normal_array(r, s, dtype)) for s in shapes]
        ms = [cupy.zeros(s, dtype) for s in shapes]
        vs = [cupy.zeros(s, dtype) for s in shapes]
        for step in (1, 2, 3):
            grads = [cupy.asarray(normal_array(r, s, dtype)) for s in shapes]
            update = optimizers.adam_update_all_cuda if name == "cuda" else optimizers.adam_update_all_xp
            update(params, grads, ms, vs, step, 1e-3, 0.9, 0.999, 1e-7)
        state[name] = (params, ms, vs)
    for fast, slow in zip(state["cuda"], state["xp"]):
        for a, b in zip(fast, slow):
            close(a, b, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-7)


# ----------------------------------------------------------------- GPU: layers with fast kernels on and off

def _layer_run(make, x, dy, fast):
    previous = kernels.set_fast(fast)
    try:
        layer = make()
        y = layer.forward(x)
        dx = layer.backward(dy)
        return y, dx, dict(layer.grads)
    finally:
        kernels.set_fast(previous)


LAYERS = [(lambda: Conv2D(8, 5, seed=0), (2, 32, 32, 1), (2, 32, 32, 8)),
          (lambda: Conv2D(16, 3, activation="relu", seed=0), (2, 16, 16, 16), (2, 16, 16, 16)),
          (lambda: Conv2DTranspose(8, 2, strides=2, seed=0), (2, 8, 8, 16), (2, 16, 16, 8)),
          (lambda: MaxPooling2D(2), (2, 16, 16, 8), (2, 8, 8, 8)),
          (lambda: LayerNormalization(), (3, 16, 16, 8), (3, 16, 16, 8))]


@pytest.mark.parametrize("make, x_shape, y_shape", LAYERS)
@pytest.mark.gpu
def test_layers_give_the_same_results_with_fast_kernels_on_and_off(cupy, make, x_shape, y_shape, rng):
    x = cupy.asarray(normal_array(rng, x_shape, "float32"))
    dy = cupy.asarray(normal_array(rng, y_shape, "float32"))
    fast, slow = _layer_run(make, x, dy, True), _layer_run(make, x, dy, False)
    close(fast[0], slow[0], rtol=1e-4, atol=1e-5)
    close(fast[1], slow[1], rtol=1e-4, atol=1e-5)
    for key in slow[2]:
        close(fast[2][key], slow[2][key], rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_unet_training_step_with_fast_kernels_on_and_off(cupy):
    from tinyunet.bench import make_batch, train_step
    from tinyunet.losses import DiceLoss
    from tinyunet.models import UNet
    from tinyunet.optimizers import Adam

    x, y = (cupy.asarray(a) for a in make_batch(2, 64))
    results = []
    for fast in (True, False):
        previous = kernels.set_fast(fast)
        try:
            model = UNet("article", input_shape=(64, 64, 1), seed=0)
            loss, optimizer = DiceLoss(), Adam(1e-3)
            values = [float(train_step(model, loss, optimizer, x, y))]
            first_grads = {k: backend.asnumpy(v).astype("float64") for k, v in model.grads.items()}
            values.append(float(train_step(model, loss, optimizer, x, y)))
            results.append((values, first_grads, {k: backend.asnumpy(v) for k, v in model.params.items()}))
        finally:
            kernels.set_fast(previous)
    (values_fast, grads_fast, params_fast), (values_slow, grads_slow, params_slow) = results
    numpy.testing.assert_allclose(values_fast, values_slow, rtol=1e-4)
    for key, slow in grads_slow.items():
        error = numpy.linalg.norm(grads_fast[key] - slow) / max(numpy.linalg.norm(slow), 1e-30)
        assert error < 1e-3, (key, error)
    # Adam moves each weight by about the learning rate per step whatever the gradient's size,
    # so a near-zero gradient whose sign differs may move it the other way: 2 steps x 2 x 1e-3
    for key in params_slow:
        numpy.testing.assert_allclose(params_fast[key], params_slow[key], rtol=0, atol=4.1e-3)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_activation_xp_is_add_then_activate(activation, with_bias, rng):
    z = normal_array(rng, (2, 3, 4, 5)) * 50
    bias = normal_array(rng, (5,)) if with_bias else None
    expected = activate(activation, z + (bias if with_bias else 0))
    close(kernels.bias_activation(z.copy(), bias, activation), expected, rtol=1e-15)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_bias_activation_cuda_matches_xp(cupy, activation, with_bias, dtype, rng):
    from tinyunet.kernels import activation as module
    z = cupy.asarray(normal_array(rng, (3, 17, 9, 7), dtype) * 30)
    bias = cupy.asarray(normal_array(rng, (7,), dtype)) if with_bias else None
    expected = module.bias_activation_xp(z.copy(), bias, activation)
    got = module.bias_activation(z.copy(), bias, activation)
    close(got, expected, rtol=1e-6 if dtype == "float32" else 1e-14, atol=1e-7)


# the capturable matrix product (kernels/gemm.py): the U-Net's product shapes at batch 2 and
# edge cases (one row, K below the slice depth, sizes that are not multiples of the tile)
GEMM_CASES = [(2 * 64 * 64, 288, 32), (2 * 16 * 16, 2304, 128), (1, 5, 3), (130, 7, 70), (65, 300, 1)]


@pytest.mark.parametrize("m, k, n", GEMM_CASES)
@pytest.mark.parametrize("transposes", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["AB", "AtB", "ABt", "AtBt"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_matmul_cuda_matches_the_product(cupy, m, k, n, transposes, dtype, rng):
    from tinyunet.kernels import gemm
    a = rng.standard_normal((k, m) if transposes[0] else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transposes[1] else (k, n)).astype(dtype)
    a, b = (a.T if transposes[0] else a), (b.T if transposes[1] else b)
    want = a.astype("float64") @ b.astype("float64")
    got = gemm.matmul_cuda(cupy.asarray(a) if not transposes[0] else cupy.asarray(a.T).T,
                           cupy.asarray(b) if not transposes[1] else cupy.asarray(b.T).T)
    assert got.dtype == dtype and got.shape == (m, n)
    tol = 1e-4 if dtype == "float32" else 1e-11
    close(got, want, rtol=tol, atol=tol * numpy.sqrt(k))
    again = gemm.matmul_cuda(cupy.asarray(a), cupy.asarray(b))
    numpy.testing.assert_array_equal(backend.asnumpy(again), backend.asnumpy(got))   # one fixed order


def test_matmul_cuda_refuses_what_it_cannot_multiply():
    from tinyunet.kernels import gemm
    with pytest.raises(ValueError, match=r"cannot multiply \(2, 3\) by \(4, 5\)"):
        gemm.matmul_cuda(numpy.zeros((2, 3)), numpy.zeros((4, 5)))
    with pytest.raises(ValueError, match="float32 or both float64"):
        gemm.matmul_cuda(numpy.zeros((2, 3), "float32"), numpy.zeros((3, 5)))
