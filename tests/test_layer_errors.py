"""The contract every layer keeps (Keras names and layouts): building once, checking its input, naming itself,
refusing bad arguments, and rebuilding itself from its config."""

import json
import re

import numpy
import pytest

from helpers import normal_array
from tinyunet import backend, initializers
from tinyunet.layers import (Concatenate, Conv2D, Conv2DTranspose, Layer, LayerNormalization, MaxPooling2D, ReLU,
                             Sigmoid, Softmax, UpSampling2D, deserialize, serialize)

LAYERS = {
    "Conv2D": lambda name: Conv2D(3, 3, name=name, seed=0),
    "Conv2DTranspose": lambda name: Conv2DTranspose(3, 2, name=name, seed=0),
    "MaxPooling2D": lambda name: MaxPooling2D(2, name=name),
    "UpSampling2D": lambda name: UpSampling2D(2, name=name),
    "UpSampling2D(bilinear)": lambda name: UpSampling2D(2, interpolation="bilinear", name=name),
    "LayerNormalization": lambda name: LayerNormalization(name=name),
    "LayerNormalization(scale, center)": lambda name: LayerNormalization(center=True, scale=True, name=name),
    "ReLU": lambda name: ReLU(name=name),
    "Sigmoid": lambda name: Sigmoid(name=name),
    "Softmax": lambda name: Softmax(name=name),
}
WEIGHTED = ("Conv2D", "Conv2DTranspose", "LayerNormalization(scale, center)")


def call(layer, x):
    """forward, with Concatenate's list calling convention kept out of the table."""
    return layer.forward(backend.to_device(x))


@pytest.fixture(params=sorted(LAYERS))
def kind(request):
    return request.param


@pytest.mark.parametrize("shape", [(4, 4), (4, 4, 2), (1, 1, 4, 4, 2), ()])
def test_wrong_rank_names_layer_and_shape(xp, kind, shape):
    layer = LAYERS[kind]("layer_x")
    with pytest.raises(ValueError, match=r"layer_x: .*rank 4.*" + re.escape(str(shape))):
        call(layer, numpy.zeros(shape))
    assert not layer.built


@pytest.mark.parametrize("bad", [numpy.nan, numpy.inf, -numpy.inf])
def test_nan_or_inf_names_layer_and_shape(xp, kind, bad):
    x = numpy.ones((1, 4, 4, 2))
    x[0, 3, 2, 1] = bad
    with pytest.raises(ValueError, match=r"layer_x: .*\(1, 4, 4, 2\).*NaN or inf"):
        call(LAYERS[kind]("layer_x"), x)


def test_channel_count_differing_from_the_built_weights(xp, kind):
    layer = LAYERS[kind]("layer_x")
    call(layer, numpy.ones((1, 4, 4, 2)))
    x = numpy.ones((1, 4, 4, 3))
    if kind in WEIGHTED:
        with pytest.raises(ValueError, match=r"layer_x: .*3 channels.*\(1, 4, 4, 3\).*2.*\(1, 4, 4, 2\)"):
            call(layer, x)
    else:
        assert call(layer, x).shape[-1] == 3  # no weights: any channel count


def test_build_never_rebuilds(xp, kind):
    layer = LAYERS[kind]("layer_x")
    layer.build((1, 4, 4, 2), dtype="float64")
    params = dict(layer.params)
    layer.build((2, 8, 8, 5), dtype="float32")
    assert layer.input_shape == (1, 4, 4, 2) and layer.dtype == numpy.float64
    assert all(layer.params[k] is v for k, v in params.items()) and set(layer.params) == set(params)
    y = call(layer, numpy.ones((2, 4, 4, 2), dtype=numpy.float32))  # forward does not rebuild either
    assert y.dtype == numpy.float64 and all(layer.params[k] is v for k, v in params.items())


def test_forward_builds_float32_weights_by_default(xp, kind):
    layer = LAYERS[kind]("layer_x")
    y = call(layer, numpy.ones((1, 4, 4, 2), dtype=numpy.float32))
    assert layer.built and y.dtype == numpy.float32
    assert all(p.dtype == numpy.float32 for p in layer.params.values())
    if kind in WEIGHTED:  # weighted layers compute in their weights' dtype, whatever the input
        assert LAYERS[kind]("l").forward(backend.to_device(numpy.ones((1, 4, 4, 2)))).dtype == numpy.float32


def test_backward_before_forward_and_wrong_gradient_shape(xp, kind):
    layer = LAYERS[kind]("layer_x")
    with pytest.raises(RuntimeError, match="layer_x: backward called before forward"):
        layer.backward(backend.to_device(numpy.ones((1, 4, 4, 2))))
    y = call(layer, numpy.ones((1, 4, 4, 2)))
    wrong = tuple(y.shape[:3]) + (y.shape[3] + 1,)
    with pytest.raises(ValueError, match=r"layer_x: .*" + r"\(" + ", ".join(map(str, wrong)) + r"\)"):
        layer.backward(backend.to_device(numpy.ones(wrong)))


def test_grads_keyed_like_params(xp, kind):
    layer = LAYERS[kind]("layer_x")
    y = call(layer, numpy.random.default_rng(0).standard_normal((1, 4, 4, 2)))
    layer.backward(backend.to_device(numpy.ones(y.shape)))
    assert set(layer.grads) == set(layer.params)
    for key, g in layer.grads.items():
        assert g.shape == layer.params[key].shape and g.dtype == layer.params[key].dtype


def test_build_rejects_bad_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"conv_x: .*\(4, 4, 1\)"):
        Conv2D(2, 3, name="conv_x").build((4, 4, 1))
    with pytest.raises(ValueError, match="conv_x: dtype.*int32"):
        Conv2D(2, 3, name="conv_x").build((1, 4, 4, 1), dtype="int32")


def test_concatenate_keeps_the_contract(xp):
    cat = Concatenate(name="cat_x")
    with pytest.raises(RuntimeError, match="cat_x: backward called before forward"):
        cat.backward(backend.to_device(numpy.ones((1, 2, 2, 2))))
    y = cat.forward([backend.to_device(numpy.ones((1, 2, 2, 1))), backend.to_device(numpy.ones((1, 2, 2, 1)))])
    with pytest.raises(ValueError, match=r"cat_x: .*\(1, 2, 2, 3\).*\(1, 2, 2, 2\)"):
        cat.backward(backend.to_device(numpy.ones((1, 2, 2, 3))))
    assert cat.params == {} and y.shape == (1, 2, 2, 2)


def test_complex_input_is_refused_naming_the_dtype(xp, kind):
    layer = LAYERS[kind](kind)
    with pytest.raises(ValueError, match=re.escape(kind) + ".*complex128"):
        call(layer, numpy.ones((1, 4, 4, 2), "complex128"))


@pytest.mark.parametrize("built", ["float16", "float64"])
@pytest.mark.parametrize("given", ["float16", "float32", "float64"])
def test_layers_without_weights_compute_in_the_dtype_they_were_built_with(xp, built, given):
    """The rule for every layer: it computes in its weights' dtype, and a layer without
    weights in the dtype it was built with, whatever the input's dtype."""
    x = numpy.random.default_rng(0).random((1, 4, 4, 2)).astype(given)
    for layer in (MaxPooling2D(2), UpSampling2D(2), UpSampling2D(2, interpolation="bilinear"), Softmax()):
        layer.build(x.shape, dtype=built)
        y = layer.forward(backend.to_device(x))
        assert y.dtype == built
        assert layer.backward(backend.xp.ones(y.shape, given)).dtype == built
    concat = Concatenate()
    concat.build(x.shape, dtype=built)
    y = concat.forward([backend.to_device(x), backend.to_device(x.astype("float32"))])
    assert y.dtype == built
    assert all(g.dtype == built for g in concat.backward(backend.xp.ones(y.shape, given)))
    lazy = MaxPooling2D(2)   # not built: the first input's float dtype is the one it is built with
    assert lazy.forward(backend.to_device(x)).dtype == given
    assert lazy.forward(backend.to_device(x.astype("float32"))).dtype == given


def test_bad_arguments_name_the_layer_and_the_argument():
    cases = [
        (lambda: UpSampling2D(2, interpolation="cubic", name="l"), r"l: interpolation.*'nearest', 'bilinear'"),
        (lambda: UpSampling2D((2, 0), name="l"), r"l: size.*\(2, 0\)"),
        (lambda: UpSampling2D(2.0, name="l"), "l: size"),
        (lambda: Softmax(axis=4, name="l"), "l: axis"),
        (lambda: Conv2D(3, 3, activation="tanh", name="l"), r"l: activation.*'softmax'.*'tanh'"),
        (lambda: Conv2DTranspose(3, 2, activation="elu", name="l"), "l: activation"),
        (lambda: Conv2D(3, 3, kernel_initializer="he_nromal", name="l"), "unknown initializer.*he_normal"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()


# --- configs: serialize / deserialize ---

CONFIGURED = [
    Conv2D(4, (3, 2), strides=(1, 2), padding="valid", activation="relu", use_bias=False,
           kernel_initializer="lecun_uniform", name="conv_c", seed=3),
    Conv2D(3, 1, activation="softmax", kernel_initializer=initializers.glorot_normal, bias_initializer="ones",
           name="conv_s", seed=4),
    Conv2DTranspose(2, 3, strides=2, padding="same", activation="sigmoid", kernel_initializer="he_uniform",
                    name="convt_c", seed=5),
    MaxPooling2D((2, 1), strides=(2, 1), name="pool_c"),
    UpSampling2D((2, 3), name="up_c"),
    UpSampling2D(2, interpolation="bilinear", name="up_b"),
    LayerNormalization(epsilon=1e-5, center=True, scale=True, name="norm_c"),
    ReLU(name="relu_c"),
    Sigmoid(name="sigmoid_c"),
    Softmax(axis=2, name="softmax_c"),
    Concatenate(axis=-1, name="cat_c"),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=lambda layer: layer.name)
def test_deserialize_of_serialize_rebuilds_the_same_layer(xp, layer):
    spec = json.loads(json.dumps(serialize(layer)))   # the config survives JSON as it is
    assert spec == serialize(layer) and spec["class_name"] == type(layer).__name__
    copy = deserialize(spec)
    assert type(copy) is type(layer) and copy is not layer and not copy.built
    assert copy.get_config() == layer.get_config() and copy.name == layer.name
    x = normal_array(0, (2, 4, 6, 3))
    inputs = [backend.to_device(x), backend.to_device(x[..., :2])] if isinstance(layer, Concatenate) \
        else backend.to_device(x)
    original = type(layer)(**layer.get_config())      # a fresh twin, so the test does not build CONFIGURED
    for each in (original, copy):
        each.build(x.shape, dtype="float64")
    numpy.testing.assert_array_equal(backend.asnumpy(copy.forward(inputs)), backend.asnumpy(original.forward(inputs)))


def test_configs_hold_keras_names_and_every_argument():
    config = CONFIGURED[1].get_config()
    assert config == {"name": "conv_s", "filters": 3, "kernel_size": [1, 1], "strides": [1, 1], "padding": "same",
                      "activation": "softmax", "use_bias": True, "kernel_initializer": "glorot_normal",
                      "bias_initializer": "ones", "seed": 4}
    assert UpSampling2D(2, interpolation="bilinear", name="u").get_config() == \
        {"name": "u", "size": [2, 2], "interpolation": "bilinear"}
    assert Softmax(name="s").get_config() == {"name": "s", "axis": -1}
    # a numpy Generator cannot be written down: the config says None (the weights come from a file)
    assert Conv2D(2, 3, seed=numpy.random.default_rng(0)).get_config()["seed"] is None
    assert Conv2D(2, 3, seed=numpy.int64(7)).get_config()["seed"] == 7


def test_a_config_cannot_name_a_users_initializer():
    def my_init(shape, seed=None, dtype="float32"):
        return initializers.ones(shape, seed, dtype)

    layer = Conv2D(2, 3, kernel_initializer=my_init, name="conv_u")
    with pytest.raises(ValueError, match="conv_u: kernel_initializer.*my_init.*not one of tinyunet.initializers"):
        layer.get_config()
    with pytest.raises(ValueError, match="conv_u: bias_initializer"):
        Conv2D(2, 3, bias_initializer=lambda shape, seed, dtype: None, name="conv_u").get_config()


def test_deserialize_refuses_bad_specs():
    good = serialize(ReLU(name="r"))
    cases = [
        ("not a dict", "keys 'class_name' and 'config'"),
        ({"class_name": "ReLU"}, "keys 'class_name' and 'config'"),
        ({**good, "weights": []}, "keys 'class_name' and 'config'"),
        ({"class_name": "Dense", "config": {}}, "unknown layer class 'Dense'.*Conv2D.*Softmax"),
        ({"class_name": "ReLU", "config": ["r"]}, "config of ReLU must be a dict"),
        ({"class_name": "ReLU", "config": {"name": "r", "alpha": 0.1}}, "ReLU config.*alpha"),
        ({"class_name": "Conv2D", "config": {"filters": 0, "kernel_size": 3}}, "filters must be a positive int"),
    ]
    for spec, message in cases:
        with pytest.raises(ValueError, match=message):
            deserialize(spec)
    with pytest.raises(ValueError, match="serialize: .*not a built-in layer"):
        serialize(type("MyLayer", (Layer,), {})())
