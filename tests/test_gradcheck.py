"""tinyunet.gradcheck: it passes correct gradients, catches wrong ones, and names them."""

import numpy
import pytest

from helpers import normal_array, to_numpy
from tinyunet import backend, gradcheck as gradcheck_module
from tinyunet.gradcheck import GradcheckResult, gradcheck
from tinyunet.layers import Concatenate, Conv2D, Layer
from tinyunet.losses import DiceLoss


class Scale(Layer):
    """y = a * x with a learnable scalar a; ``wrong`` breaks one gradient on purpose."""

    weighted = True

    def __init__(self, wrong=None):
        super().__init__(name="scale")
        self.wrong = wrong

    def make_params(self, input_shape):
        return {"a": backend.xp.full((1,), 1.5, dtype=self.dtype)}

    def forward(self, x):
        self.x = self.prepare_input(x)
        return self.params["a"] * self.x

    def backward(self, dy):
        self.grads["a"] = (dy * self.x).sum(keepdims=True).reshape(1)
        dx = dy * self.params["a"]
        if self.wrong == "a":
            self.grads["a"] = self.grads["a"] * 1.001
        if self.wrong == "x":
            dx = dx.copy()
            dx[0, 0, 0, 0] += 1.0
        return dx


def test_a_layer_passes_with_a_row_per_input_and_param(xp):
    result = gradcheck(Conv2D(3, 3, activation="sigmoid", seed=0), normal_array(0, (2, 5, 5, 2)))
    assert isinstance(result, GradcheckResult) and result.ok
    assert [row.name for row in result.rows] == ["x", "kernel", "bias"]
    assert [row.kind for row in result.rows] == ["input", "param", "param"]
    assert result["kernel"].shape == (3, 3, 2, 3) and result["kernel"].checks == 3
    assert result.max_error < 1e-6 and result.max_error == result.worst.max_error


@pytest.mark.parametrize("wrong", ["a", "x"])
def test_a_wrong_gradient_fails_and_is_named(xp, wrong):
    result = gradcheck(Scale(wrong=wrong), normal_array(1, (2, 3, 3, 1)))
    assert not result.ok
    assert result.worst.name == wrong
    assert result[{"a": "x", "x": "a"}[wrong]].max_error < 1e-6
    assert "FAIL" in str(result) and "FAILED" in str(result)


def test_full_jacobian_mode(xp):
    result = gradcheck(Conv2D(2, 2, strides=2, padding="valid", seed=1), normal_array(2, (1, 4, 4, 1)), jacobian=True)
    assert result.ok, str(result)
    assert result["kernel"].checks == (1 * 2 * 2 * 2) * (2 * 2 * 1 * 2)   # outputs x entries
    assert not gradcheck(Scale(wrong="x"), normal_array(3, (1, 2, 2, 1)), jacobian=True).ok


def test_a_list_input(xp):
    result = gradcheck(Concatenate(), [normal_array(4, (2, 3, 3, 2)), normal_array(5, (2, 3, 3, 1))])
    assert result.ok and [row.name for row in result.rows] == ["x[0]", "x[1]"]


def test_a_loss(xp):
    rng = numpy.random.default_rng(6)
    y, p = (rng.random((2, 3, 3, 1)) > 0.5).astype(float), rng.uniform(0.1, 0.9, (2, 3, 3, 1))
    result = gradcheck(DiceLoss(), p, y_true=y)
    assert result.ok and [row.name for row in result.rows] == ["y_pred"]


def test_a_model_with_layer_slash_param_keys(xp):
    from tinyunet.models import UNet

    model = UNet("notebook", input_shape=(16, 16, 1), dtype="float64", seed=0)
    result = gradcheck(model, numpy.random.default_rng(7).random((1, 16, 16, 1)), directions=1)
    assert result.ok, str(result)
    assert "conv1/kernel" in [row.name for row in result.rows]


def test_unbuilt_layers_are_built_in_float64_and_float32_is_refused(xp):
    layer = Conv2D(2, 3, seed=0)
    gradcheck(layer, normal_array(8, (1, 4, 4, 1)))
    assert layer.params["kernel"].dtype == numpy.float64
    float32_layer = Conv2D(2, 3, seed=0)
    float32_layer.build((1, 4, 4, 1))
    with pytest.raises(ValueError, match="float64"):
        gradcheck(float32_layer, normal_array(8, (1, 4, 4, 1)))


def test_checked_arrays_are_restored_exactly(xp):
    layer = Conv2D(2, 3, seed=0)
    layer.build((1, 4, 4, 1), dtype="float64")
    kernel = to_numpy(layer.params["kernel"]).copy()
    x = normal_array(9, (1, 4, 4, 1))
    gradcheck(layer, x)
    gradcheck(layer, x, jacobian=True)
    numpy.testing.assert_array_equal(to_numpy(layer.params["kernel"]), kernel)
    numpy.testing.assert_array_equal(x, normal_array(9, (1, 4, 4, 1)))


def test_the_table_reads_well(xp):
    text = str(gradcheck(Scale(), normal_array(10, (1, 2, 2, 1))))
    lines = text.splitlines()
    assert lines[0].startswith("Scale 'scale': 3 random directions")
    assert "gradient of" in lines[1] and "max rel. error" in lines[1]
    assert lines[2].split()[:2] == ["x", "input"] and lines[3].split()[:2] == ["a", "param"]
    assert lines[-1].strip().startswith("worst") and lines[-1].endswith("OK")


def test_main_checks_every_layer_and_loss(capsys):
    with backend.use("cpu"):
        assert gradcheck_module.main(["--directions", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("Conv2D", "Conv2DTranspose", "MaxPooling2D", "UpSampling2D", "LayerNormalization",
                 "ReLU", "Sigmoid", "Concatenate", "DiceLoss", "BinaryCrossentropy"):
        assert name in out
    assert out.rstrip().endswith("every gradient agrees")


def test_projection_is_not_the_users_input_drawn_from_the_same_seed():
    """LayerNorm is scale-invariant: its gradient along x itself is 0, so w == x would hide errors."""
    from tinyunet.layers import LayerNormalization
    x = normal_array(0, (2, 3, 3, 2))
    assert gradcheck(LayerNormalization(), x, seed=0).ok
