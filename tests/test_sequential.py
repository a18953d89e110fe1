"""Sequential: one layer per line, the same fit as the U-Net, gradients, summary, errors."""

import numpy
import pytest

from tinyunet import backend
from tinyunet.gradcheck import gradcheck
from tinyunet.layers import Concatenate, Conv2D, LayerNormalization, MaxPooling2D, Softmax, UpSampling2D
from tinyunet.models import Model, Sequential, UNet
from tinyunet.optimizers import Adam


def small(dtype="float32", input_shape=(16, 16, 1), interpolation="bilinear"):
    return Sequential([
        Conv2D(4, 3, activation="relu", name="c1", seed=1),
        MaxPooling2D(2, name="p1"),
        Conv2D(4, 3, name="c2", seed=2),
        LayerNormalization(name="n2"),
        UpSampling2D(2, interpolation=interpolation, name="u1"),
        Conv2D(1, 1, activation="sigmoid", name="out", seed=3),
    ], input_shape=input_shape, dtype=dtype)


def test_one_layer_per_line_builds_and_runs(xp):
    model = small()
    y = model.forward(numpy.random.default_rng(0).random((3, 16, 16, 1), dtype="float32"))
    assert y.shape == (3, 16, 16, 1) and model.classes == 1
    assert set(model.params) == {"c1/kernel", "c1/bias", "c2/kernel", "c2/bias", "out/kernel", "out/bias"}
    assert model.count_params() == (9 * 4 + 4) + (9 * 4 * 4 + 4) + (4 + 1)
    text = model.summary(print_fn=None)
    assert "c2 (Conv2D)" in text and "(None, 8, 8, 4)" in text and f"Total params: {model.count_params():,}" in text


def test_built_on_the_first_batch_when_no_input_shape():
    model = Sequential([Conv2D(2, 3, name="a", seed=0), Conv2D(1, 1, activation="sigmoid", name="b", seed=0)])
    with pytest.raises(ValueError, match="not built yet"):
        model.summary(print_fn=None)
    model.forward(numpy.zeros((1, 8, 8, 3), "float32"))
    assert model.params["a/kernel"].shape == (3, 3, 3, 2) and model.input_shape == (8, 8, 3)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_gradients_match_finite_differences(xp, interpolation):
    model = small("float64", interpolation=interpolation)
    for name, value in model.params.items():        # biases off zero: no ReLU sits on its kink
        if name.endswith("bias"):
            value[...] = 0.1
    result = gradcheck(model, numpy.random.default_rng(4).random((2, 16, 16, 1)), directions=2, seed=4)
    assert len(result.rows) == 1 + len(model.params)
    assert result.ok, str(result)


def test_a_sequential_trains_with_the_same_fit(xp):
    assert Sequential.fit is UNet.fit is Model.fit            # one training loop for every model
    rng = numpy.random.default_rng(0)
    # 2 x 2 blocks of one value, masks where it exceeds 0.6: what the pooling keeps, the upsampling restores
    x = rng.random((16, 8, 8, 1), dtype="float32").repeat(2, axis=1).repeat(2, axis=2)
    y = (x > 0.6).astype("float32")
    model = Sequential([Conv2D(4, 3, name="c", seed=1), MaxPooling2D(2, name="p"), UpSampling2D(2, name="u"),
                        Conv2D(1, 1, activation="sigmoid", name="out", seed=3)], input_shape=(16, 16, 1))
    before = model.evaluate(x, y)
    history = model.fit(x, y, epochs=40, batch_size=4, optimizer=Adam(3e-2), verbose=0)
    assert len(history.history["loss"]) == 40
    after = model.evaluate(x, y)
    assert before["loss"] > 0.5 and after["loss"] < 0.15 and after["dice_global"] > 0.9


def test_softmax_output_for_k_classes(xp):
    model = Sequential([Conv2D(3, 1, name="logits", seed=0), Softmax(name="softmax")], input_shape=(4, 4, 1))
    assert model.classes == 3
    p = backend.asnumpy(model.predict(numpy.ones((2, 4, 4, 1), "float32")))
    numpy.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-6)


@pytest.mark.parametrize("layers,message", [
    ([], "at least one layer"), ([Conv2D(2, 3), "relu"], "not a tinyunet layer"),
    ([Conv2D(2, 3), Concatenate(name="cat")], "cat.*two inputs"),
    ([Conv2D(2, 3, name="x"), Conv2D(2, 3, name="x")], "x used more than once")])
def test_bad_layer_lists_are_named(layers, message):
    with pytest.raises(ValueError, match=message):
        Sequential(layers)


def test_a_size_a_layer_cannot_take_is_named_by_that_layer(xp):
    with pytest.raises(ValueError, match=r"p1: input \(1, 15, 16, 4\) is not tiled.*14x16"):
        small().forward(numpy.zeros((1, 15, 16, 1), "float32"))


def test_masks_must_match_the_output():
    model = small()
    with pytest.raises(ValueError, match=r"\(1, 16, 16, 1\)"):
        model.check_masks(numpy.zeros((1, 16, 16, 2), "float32"), (1, 16, 16, 1))
