"""The configurable U-Net: every experiment the article invites is one argument, and config rebuilds it."""

import json

import numpy
import pytest

from tinyunet import backend, initializers
from tinyunet.gradcheck import gradcheck
from tinyunet.layers import Conv2D, Conv2DTranspose, LayerNormalization, UpSampling2D
from tinyunet.models import UNet

SMALL = {"filters": [2, 4, 4], "input_shape": (16, 16, 1)}


def names_of(model, kind):
    return [layer.name for layer in model.layers if isinstance(layer, kind)]


@pytest.mark.parametrize("preset,count", [("article", 600_761), ("notebook", 193_409)])
def test_config_rebuilds_the_preset_exactly(preset, count):
    model = UNet(preset, seed=4)
    config = json.loads(json.dumps(model.config))          # JSON-able, and survives the round trip
    again = UNet(**config)
    assert again.count_params() == model.count_params() == count
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    for key, value in model.params.items():
        numpy.testing.assert_array_equal(backend.asnumpy(again.params[key]), backend.asnumpy(value))


def test_arguments_left_none_are_the_presets():
    explicit = UNet("notebook", input_shape=(32, 32, 1), filters=[8, 16, 32, 64], kernel_sizes=[5, 3, 3, 3],
                    normalization={"down": [1, 3], "up": [4, 2]}, upsampling="nearest",
                    kernel_initializer="he_normal", bottleneck_filters=72, classes=1)
    assert explicit.config == UNet("notebook", input_shape=(32, 32, 1)).config


def test_filters_set_the_levels_and_the_size_rule():
    model = UNet("article", input_shape=(32, 32, 1), filters=[4, 8, 16, 32])
    assert model.levels == 4 and len(names_of(model, Conv2DTranspose)) == 4
    assert [layer.filters for layer in model.layers if layer.name.endswith("_conv") and layer.name[:4] == "down"] \
        == [4, 8, 16, 32]
    UNet("article", input_shape=(16, 16, 1), filters=[4, 8, 16, 32])       # 2 ** 4 divides 16
    with pytest.raises(ValueError, match=r"4 levels.*multiples of 16"):
        UNet("article", input_shape=(24, 24, 1), filters=[4, 8, 16, 32])
    with pytest.raises(ValueError, match="multiples of 64"):
        UNet("article", input_shape=(32, 32, 1), filters=[2, 2, 2, 2, 2, 2])


def test_kernel_sizes_for_the_down_path_only():
    model = UNet("article", input_shape=(32, 32, 1), kernel_sizes=7)
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    assert {c.kernel_size for c in convs if c.name.startswith("down")} == {(7, 7)}
    assert {c.kernel_size for c in convs if c.name.startswith("up")} == {(3, 3)}


def test_normalization_choices():
    none = UNet("article", input_shape=(32, 32, 1), normalization="none")
    assert names_of(none, LayerNormalization) == []
    assert all(c.activation == "relu" for c in none.layers if isinstance(c, (Conv2D, Conv2DTranspose))
               and c is not none.output)
    every = UNet("article", input_shape=(32, 32, 1), normalization="every")
    assert len(names_of(every, LayerNormalization)) == 10
    mixed = UNet("article", input_shape=(32, 32, 1), normalization={"down": [1], "up": [2, 4]})
    assert names_of(mixed, LayerNormalization) == ["down1_norm", "up4_norm", "up2_norm"]
    assert UNet("article", input_shape=(32, 32, 1), normalization=([1], [2, 4])).config == mixed.config
    # the same parameters (LayerNormalization has none here), but not the same network
    assert none.count_params() == every.count_params()


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_then_a_two_by_two_convolution(interpolation):
    model = UNet("article", input_shape=(32, 32, 1), upsampling=interpolation)
    ups = [layer for layer in model.layers if isinstance(layer, UpSampling2D)]
    assert len(ups) == 5 and {u.interpolation for u in ups} == {interpolation}
    names = [layer.name for layer in model.layers]
    assert names[names.index("up3_upsample"):names.index("up3_conv") + 1] == [
        "up3_upsample", "up3_upconv", "up3_norm", "up3_concat", "up3_conv"]
    assert {type(layer) for layer in model.layers}.isdisjoint({Conv2DTranspose})


def test_kernel_initializer_reaches_every_convolution_but_the_output():
    model = UNet("article", input_shape=(32, 32, 1), kernel_initializer="lecun_uniform")
    convs = [layer for layer in model.layers if isinstance(layer, (Conv2D, Conv2DTranspose))]
    assert all(c.kernel_initializer is initializers.lecun_uniform for c in convs[:-1])
    assert convs[-1].kernel_initializer is initializers.glorot_uniform
    limit = numpy.sqrt(3 / (5 * 5 * 1))                     # lecun_uniform of the 5 x 5 first kernel
    first = backend.asnumpy(model.params["down1_conv/kernel"])
    assert numpy.abs(first).max() <= limit and numpy.abs(first).max() > 0.8 * limit
    assert model.config["kernel_initializer"] == "lecun_uniform"


def test_a_callable_initializer_has_no_config_name():
    def mine(shape, seed, dtype):
        return numpy.full(shape, 0.01, dtype)
    model = UNet("article", input_shape=(32, 32, 1), kernel_initializer=mine)
    assert float(backend.asnumpy(model.params["down1_conv/kernel"]).max()) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="kernel_initializer"):
        model.config


def test_bottleneck():
    assert "conv5" not in [layer.name for layer in UNet("notebook", input_shape=(32, 32, 1),
                                                        bottleneck_filters=0).layers]
    model = UNet("article", input_shape=(32, 32, 1), bottleneck_filters=16)
    assert model.layers[model.layers.index(model.down[-1].pool) + 1].name == "bottleneck_conv"


def test_classes_give_a_softmax_over_k_channels(xp):
    model = UNet("article", classes=3, **SMALL)
    assert model.output.filters == 3 and model.output.activation == "softmax" and model.classes == 3
    p = backend.asnumpy(model.forward(numpy.random.default_rng(0).random((2, 16, 16, 1), dtype="float32")))
    assert p.shape == (2, 16, 16, 3)
    numpy.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match="one-hot"):
        model.check_masks(numpy.zeros((2, 16, 16, 1), "float32"), (2, 16, 16, 1))


@pytest.mark.parametrize("arguments,message", [
    ({"filters": [8]}, "1 levels"), ({"filters": [2] * 7}, "7 levels"), ({"filters": [8, 0]}, "positive ints"),
    ({"kernel_sizes": [3, 3]}, "2 entries for 5 levels"), ({"normalization": {"down": [6], "up": []}}, r"\[6\]"),
    ({"normalization": "some"}, "normalization must be"), ({"upsampling": "cubic"}, "upsampling must be"),
    ({"kernel_initializer": "he_nromal"}, "he_normal"), ({"classes": 0}, "classes must be"),
    ({"bottleneck_filters": -1}, "bottleneck_filters"), ({"preset": "resnet"}, "preset must be")])
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        UNet(**{"input_shape": (64, 64, 1), **arguments})


@pytest.mark.parametrize("arguments", [{"normalization": "none"}, {"normalization": "every"},
                                       {"upsampling": "bilinear"}, {"classes": 3},
                                       {"preset": "notebook", "upsampling": "transpose"}])
def test_variant_gradients_match_finite_differences(xp, arguments):
    model = UNet(**{**SMALL, "seed": 2, "dtype": "float64", **arguments})
    rng = numpy.random.default_rng(2)
    # zero biases put a ReLU exactly on its kink wherever a dead ReLU before it feeds it zeros,
    # and central differences across a kink measure 1/2, not the derivative: draw them apart
    for name, value in model.params.items():
        if name.endswith("bias"):
            value[...] = backend.to_device(rng.uniform(0.05, 0.2, value.shape))
    x = rng.random((2, 16, 16, 1))
    result = gradcheck(model, x, directions=2, seed=2)
    assert len(result.rows) == 1 + len(model.params)
    assert result.ok, str(result)
