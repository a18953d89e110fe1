"""The U-Net presets: structure, parameter counts, shapes, summary, errors, gradients."""

import numpy
import pytest

from tinyunet import backend
from tinyunet.gradcheck import gradcheck
from tinyunet.layers import Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D, UpSampling2D
from tinyunet.models import UNet


def count(shape):
    return int(numpy.prod(shape))


def test_article_parameter_count_is_the_articles():
    model = UNet("article", input_shape=(256, 256, 1))
    assert model.count_params() == 600_761
    assert sum(count(p.shape) for p in model.params.values()) == 600_761


def test_article_structure_is_the_articles_u():
    model = UNet("article", input_shape=(64, 64, 1))
    kinds = [type(layer) for layer in model.layers]
    assert kinds.count(MaxPooling2D) == 5
    assert kinds.count(Conv2DTranspose) == 5
    assert kinds.count(Concatenate) == 5
    assert kinds.count(LayerNormalization) == 6   # levels 1, 3, 5, down and up
    downs = [layer for layer in model.layers if layer.name.startswith("down") and isinstance(layer, Conv2D)]
    assert [c.filters for c in downs] == [8, 16, 32, 64, 128]
    assert [c.kernel_size for c in downs] == [(5, 5)] + [(3, 3)] * 4
    assert [c.activation for c in downs] == ["linear", "relu", "linear", "relu", "linear"]
    ups = [layer for layer in model.layers if isinstance(layer, Conv2DTranspose)]
    assert [u.filters for u in ups] == [128, 64, 32, 16, 8]
    assert all(u.kernel_size == (2, 2) and u.strides == (2, 2) for u in ups)
    assert model.layers[-1].name == "output" and model.layers[-1].activation == "sigmoid"
    # the order forward runs them: the first up layer directly follows the last pool
    names = [layer.name for layer in model.layers]
    assert names.index("up5_transpose") == names.index("down5_pool") + 1
    assert names[names.index("up5_transpose"):names.index("up5_conv") + 1] == [
        "up5_transpose", "up5_norm", "up5_concat", "up5_conv"]


def test_article_output_shapes_at_256():
    model = UNet("article", input_shape=(256, 256, 1))
    assert model.shapes["down5_pool"][1:] == (8, 8, 128)
    expected = {5: (16, 16, 128), 4: (32, 32, 64), 3: (64, 64, 32), 2: (128, 128, 16), 1: (256, 256, 8)}
    for level, shape in expected.items():
        assert model.shapes[f"up{level}_conv"][1:] == shape
    assert model.shapes["output"][1:] == (256, 256, 1)


def test_notebook_preset_is_cell_4():
    model = UNet("notebook", input_shape=(256, 256, 1))
    by_name = {layer.name: layer for layer in model.layers}
    assert sum(isinstance(layer, MaxPooling2D) for layer in model.layers) == 4
    assert by_name["conv5"].filters == 72 and by_name["conv5"].activation == "relu"
    assert [by_name[f"conv{i}"].filters for i in range(1, 11)] == [8, 16, 32, 64, 72, 64, 32, 16, 8, 1]
    assert isinstance(by_name["up6_upsample"], UpSampling2D) and by_name["up6"].kernel_size == (2, 2)
    assert {n for n, layer in by_name.items() if isinstance(layer, LayerNormalization)} == {
        "conv1_norm", "conv3_norm", "up6_norm", "up8_norm"}
    assert [by_name[f"up{i}"].activation for i in range(6, 10)] == ["linear", "relu", "linear", "relu"]
    assert model.layers[-1].kernel_size == (1, 1) and model.layers[-1].activation == "sigmoid"
    expected = sum(count(p.shape) for p in model.params.values())
    assert model.count_params() == expected
    # conv1 5x5x1x8+8, conv2..conv5, the four ups (2x2), conv6..conv9 over the concatenations, conv10
    by_hand = (25 * 8 + 8) + (9 * 8 * 16 + 16) + (9 * 16 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 72 + 72) \
        + (4 * 72 * 64 + 64) + (9 * 128 * 64 + 64) + (4 * 64 * 32 + 32) + (9 * 64 * 32 + 32) \
        + (4 * 32 * 16 + 16) + (9 * 32 * 16 + 16) + (4 * 16 * 8 + 8) + (9 * 16 * 8 + 8) + (8 + 1)
    assert model.count_params() == by_hand


@pytest.mark.parametrize("preset", ["article", "notebook"])
def test_summary_totals_match(preset):
    model = UNet(preset, input_shape=(64, 64, 1))
    text = model.summary(print_fn=None)
    assert f"Total params: {model.count_params():,}" in text
    for layer in model.layers:
        assert layer.name in text
    skip = model.skip_sources()
    assert len(skip) == model.levels


@pytest.mark.parametrize("preset,factor", [("article", 32), ("notebook", 16)])
def test_sizes_not_divisible_are_refused_with_sizes_that_work(preset, factor):
    with pytest.raises(ValueError, match=f"multiples of {factor}.*try"):
        UNet(preset, input_shape=(factor + 8, factor * 2, 1))
    model = UNet(preset, input_shape=(factor * 2, factor * 2, 1))
    with pytest.raises(ValueError, match="multiples"):
        model.forward(numpy.zeros((1, factor * 2 + 4, factor * 2, 1), "float32"))
    with pytest.raises(ValueError, match="channels"):
        model.forward(numpy.zeros((1, factor * 2, factor * 2, 3), "float32"))
    with pytest.raises(ValueError, match="NaN"):
        model.forward(numpy.full((1, factor * 2, factor * 2, 1), numpy.nan, "float32"))
    with pytest.raises(ValueError, match="preset"):
        UNet("resnet")


def test_fully_convolutional_any_divisible_size(xp):
    model = UNet("article", input_shape=(64, 64, 1))
    y = model.forward(numpy.random.default_rng(0).random((3, 32, 96, 1), dtype="float32"))
    assert y.shape == (3, 32, 96, 1)
    values = backend.asnumpy(y)
    assert ((values >= 0) & (values <= 1)).all()


def test_same_seed_same_weights_other_seed_differs():
    a, b, c = (UNet("article", input_shape=(32, 32, 1), seed=s) for s in (7, 7, 8))
    for key in a.params:
        numpy.testing.assert_array_equal(backend.asnumpy(a.params[key]), backend.asnumpy(b.params[key]))
    assert any(not numpy.array_equal(backend.asnumpy(a.params[k]), backend.asnumpy(c.params[k]))
               for k in a.params if k.endswith("kernel"))


@pytest.mark.parametrize("preset", ["article", "notebook"])
@pytest.mark.parametrize("seed", [0, 1])
def test_whole_model_gradients_match_finite_differences(xp, preset, seed):
    model = UNet(preset, input_shape=(32, 32, 1), seed=seed, dtype="float64")
    x = numpy.random.default_rng(seed).random((2, 32, 32, 1))
    result = gradcheck(model, x, directions=2, seed=seed)
    assert len(result.rows) == 1 + len(model.params)
    assert result.ok, str(result)


def test_float32_model_agrees_with_float64(xp):
    x = numpy.random.default_rng(3).random((2, 64, 64, 1))
    y32 = UNet("article", input_shape=(64, 64, 1), seed=3).forward(x.astype("float32"))
    y64 = UNet("article", input_shape=(64, 64, 1), seed=3, dtype="float64").forward(x)
    y32, y64 = backend.asnumpy(y32).astype("float64"), backend.asnumpy(y64)
    assert numpy.linalg.norm(y32 - y64) / numpy.linalg.norm(y64) < 1e-4


def test_backward_adds_the_skip_and_pool_gradients_of_every_down_level():
    """Each down level's output feeds both its pool and its skip: the gradient of every down
    convolution's kernel must be the sum of both paths, as central differences of
    L = <model(x), dy> along a random direction show (one path alone fails)."""
    model = UNet("article", input_shape=(32, 32, 1), seed=0, dtype="float64")
    x = numpy.random.default_rng(0).random((1, 32, 32, 1))
    dy = numpy.random.default_rng(1).standard_normal((1, 32, 32, 1))
    model.forward(x)
    model.backward(dy)
    keys = [key for key in model.params if key.startswith("down") and key.endswith("conv/kernel")]
    assert len(keys) == model.levels
    grads = {key: model.grads[key].copy() for key in keys}
    directions = numpy.random.default_rng(2)
    eps = 1e-6
    for key in keys:
        kernel = model.params[key]
        v = directions.standard_normal(kernel.shape)
        original = kernel.copy()
        kernel[...] = original + eps * v
        plus = float((model.forward(x) * dy).sum())
        kernel[...] = original - eps * v
        minus = float((model.forward(x) * dy).sum())
        kernel[...] = original
        numerical = (plus - minus) / (2 * eps)
        analytic = float((grads[key] * v).sum())
        assert analytic == pytest.approx(numerical, rel=1e-5), key


@pytest.mark.parametrize("shape", [(64, 64, 0), (64, 64, -1)])
def test_no_channels_is_refused_at_construction(shape):
    with pytest.raises(ValueError, match=f"channels must be at least 1, got {shape[2]}"):
        UNet("notebook", input_shape=shape)


def test_complex_images_are_refused_naming_the_dtype(xp):
    model = UNet("notebook", input_shape=(16, 16, 1))
    x = numpy.zeros((1, 16, 16, 1), "complex64")
    for call in (model.forward, model.predict):
        with pytest.raises(ValueError, match="complex64"):
            call(x)
