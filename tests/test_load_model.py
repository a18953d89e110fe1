"""load_model: a network rebuilt from its weights file alone; weights files compare architectures."""

import json
import os
import subprocess
import sys

import numpy
import pytest

from tinyunet import backend
from tinyunet.layers import Conv2D, MaxPooling2D, UpSampling2D
from tinyunet.models import Sequential, UNet, load_model
from tinyunet.models import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = numpy.random.default_rng(0).random((2, 16, 16, 1), dtype="float32")

FRESH = """
import sys, numpy
from tinyunet.models import load_model
model = load_model(sys.argv[1])
numpy.save(sys.argv[2], model.predict(numpy.load(sys.argv[3])))
"""


def predict_in_a_fresh_process(tmp_path, weights):
    numpy.save(tmp_path / "x.npy", IMAGES)
    env = {**os.environ, "PYTHONPATH": ROOT}
    subprocess.run([sys.executable, "-c", FRESH, str(weights), str(tmp_path / "p.npy"), str(tmp_path / "x.npy")],
                   check=True, env=env, cwd=tmp_path, timeout=120)
    return numpy.load(tmp_path / "p.npy")


def variant():
    return UNet("article", input_shape=(16, 16, 1), seed=3, filters=[4, 8, 8], normalization="every",
                upsampling="bilinear", kernel_initializer="glorot_normal", classes=3)


def chain():
    return Sequential([Conv2D(4, 3, activation="relu", name="c1", seed=1), MaxPooling2D(2, name="p"),
                       UpSampling2D(2, interpolation="bilinear", name="u"),
                       Conv2D(1, 1, activation="sigmoid", name="out", seed=2)], input_shape=(16, 16, 1))


@pytest.mark.parametrize("make", [variant, chain])
def test_a_fresh_process_predicts_what_the_saver_did(tmp_path, make):
    model = make()
    for value in model.params.values():          # weights no seed would draw: they must come from the file
        value += 0.01
    model.save_weights(tmp_path / "w.npz")
    numpy.testing.assert_array_equal(predict_in_a_fresh_process(tmp_path, tmp_path / "w.npz"),
                                     model.predict(IMAGES))


def test_load_model_in_process_gives_the_same_network(tmp_path):
    model = variant()
    model.save_weights(tmp_path / "w.npz")
    again = load_model(tmp_path / "w.npz")
    assert type(again) is UNet and again.config == model.config
    numpy.testing.assert_array_equal(again.predict(IMAGES), model.predict(IMAGES))


def test_a_file_of_tinyunet_0_1_still_loads(tmp_path):
    model = UNet("notebook", input_shape=(32, 32, 1), seed=5)
    old = {"format": checkpoint.FORMAT, "version": 1, "preset": "notebook", "dtype": "float32"}
    checkpoint.save_arrays(tmp_path / "old.npz", model.params, old)
    again = load_model(tmp_path / "old.npz")
    assert again.preset == "notebook" and again.count_params() == 193_409
    x = numpy.random.default_rng(1).random((1, 32, 32, 1), dtype="float32")
    numpy.testing.assert_array_equal(again.predict(x), model.predict(x))
    other = UNet("notebook", input_shape=(32, 32, 1), seed=6)
    other.load_weights(tmp_path / "old.npz")
    numpy.testing.assert_array_equal(other.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="preset 'notebook'"):
        UNet("article", input_shape=(32, 32, 1)).load_weights(tmp_path / "old.npz")


def test_same_weights_other_network_is_refused_and_nothing_changes(tmp_path):
    """normalization="none" and "every" have the same weights (LayerNormalization has none here):
    only the recorded architecture tells the files apart."""
    UNet("article", input_shape=(32, 32, 1), normalization="every").save_weights(tmp_path / "every.npz")
    model = UNet("article", input_shape=(32, 32, 1), normalization="none", seed=1)
    before = {k: backend.asnumpy(v).copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match="normalization"):
        model.load_weights(tmp_path / "every.npz")
    for key, value in model.params.items():
        numpy.testing.assert_array_equal(backend.asnumpy(value), before[key])
    with pytest.raises(ValueError, match="Sequential"):
        chain().load_weights(tmp_path / "every.npz")


def test_the_initializer_and_seed_do_not_stop_a_load(tmp_path):
    UNet("article", input_shape=(32, 32, 1), seed=1, kernel_initializer="lecun_normal").save_weights(
        tmp_path / "w.npz")
    UNet("article", input_shape=(64, 64, 1), seed=9).load_weights(tmp_path / "w.npz")


def test_a_model_without_a_config_saves_weights_and_says_why_it_cannot_rebuild(tmp_path):
    def mine(shape, seed, dtype):
        return numpy.full(shape, 0.02, dtype)
    model = UNet("article", input_shape=(32, 32, 1), kernel_initializer=mine)
    model.save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="no configuration.*kernel_initializer.*load_weights"):
        load_model(tmp_path / "w.npz")
    UNet("article", input_shape=(32, 32, 1), kernel_initializer=mine).load_weights(tmp_path / "w.npz")


def test_broken_configurations_are_named(tmp_path):
    model = UNet("article", input_shape=(32, 32, 1))
    meta = {"format": checkpoint.FORMAT, "version": 2, "model": "UNet", "dtype": "float32",
            "architecture": model.architecture_summary(), "config": {**model.config, "filters": "many"}}
    checkpoint.save_arrays(tmp_path / "bad.npz", model.params, meta)
    with pytest.raises(ValueError, match="bad.npz: cannot rebuild its UNet.*filters"):
        load_model(tmp_path / "bad.npz")
    meta.update(model="ResNet", config=model.config)
    checkpoint.save_arrays(tmp_path / "other.npz", model.params, meta)
    with pytest.raises(ValueError, match="other.npz.*ResNet"):
        load_model(tmp_path / "other.npz")


def test_the_file_records_class_config_and_architecture(tmp_path):
    chain().save_weights(tmp_path / "s.npz")
    with numpy.load(tmp_path / "s.npz") as data:
        meta = json.loads(str(data[checkpoint.META_KEY]))
    assert meta["model"] == "Sequential" and [s["class_name"] for s in meta["config"]["layers"]] == [
        "Conv2D", "MaxPooling2D", "UpSampling2D", "Conv2D"]
    assert all("seed" not in config for _, config in meta["architecture"]["layers"])
