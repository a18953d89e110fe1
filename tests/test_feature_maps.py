"""model.feature_maps: every layer's output for a batch, with no effect on training state."""

import numpy
import pytest

from helpers import to_numpy
from tinyunet.layers import Conv2D, LayerNormalization, MaxPooling2D, UpSampling2D
from tinyunet.losses import DiceLoss
from tinyunet.models import Sequential, UNet


def unet():
    return UNet("article", input_shape=(32, 32, 1), seed=1, filters=[4, 8, 8])


def chain():
    return Sequential([Conv2D(4, 3, activation="relu", name="c1", seed=1), MaxPooling2D(2, name="p"),
                       LayerNormalization(name="n"), UpSampling2D(2, name="u"),
                       Conv2D(1, 1, activation="sigmoid", name="out", seed=2)], input_shape=(32, 32, 1))


def batch(seed, n=2):
    rng = numpy.random.default_rng(seed)
    return rng.random((n, 32, 32, 1), dtype="float32"), (rng.random((n, 32, 32, 1)) > 0.7).astype("float32")


@pytest.mark.parametrize("make", [unet, chain])
def test_every_layer_in_order_with_its_shape(xp, make):
    model = make()
    x, _ = batch(0, n=3)
    maps = model.feature_maps(x)
    assert list(maps) == [layer.name for layer in model.layers]
    for name, value in maps.items():
        assert isinstance(value, numpy.ndarray) and value.shape == (3,) + tuple(model.shapes[name][1:]), name
    numpy.testing.assert_array_equal(maps[model.layers[-1].name], to_numpy(model.forward(x)))


def test_the_u_from_256_to_8_pixels(xp):
    maps = UNet("article", input_shape=(256, 256, 1)).feature_maps(numpy.zeros((1, 256, 256, 1), "float32"),
                                                                    layers=["down1_conv", "down5_pool", "up1_conv"])
    assert {k: v.shape for k, v in maps.items()} == {"down1_conv": (1, 256, 256, 8), "down5_pool": (1, 8, 8, 128),
                                                     "up1_conv": (1, 256, 256, 8)}


@pytest.mark.parametrize("make", [unet, chain])
def test_a_following_backward_is_untouched(xp, make):
    """forward(x1), feature_maps(x2), backward: the gradients of x1, as without the call."""
    x1, y1 = batch(1)
    x2, _ = batch(2)
    grads = []
    for look_inside in (False, True):
        model, loss = make(), DiceLoss()
        p = model.forward(x1)
        loss.forward(y1, p)
        if look_inside:
            model.feature_maps(x2)
        model.backward(loss.backward())
        grads.append({key: to_numpy(value).copy() for key, value in model.grads.items()})
    for key in grads[0]:
        numpy.testing.assert_array_equal(grads[1][key], grads[0][key], err_msg=key)


def test_names_are_checked(xp):
    with pytest.raises(ValueError, match="no layer 'down9_conv'; the layers are down1_conv"):
        unet().feature_maps(batch(0)[0], layers=["down9_conv"])
    assert list(unet().feature_maps(batch(0)[0], layers="up1_concat")) == ["up1_concat"]
    with pytest.raises(ValueError, match="0 samples"):
        unet().feature_maps(numpy.zeros((0, 32, 32, 1), "float32"))
