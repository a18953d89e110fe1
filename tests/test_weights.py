"""save_weights / load_weights: round trip, clear errors, nothing written on a mismatch, atomic saves."""

import gc
import os
import warnings

import numpy
import pytest

from tinyunet import backend
from tinyunet.models import UNet
from tinyunet.models import checkpoint


def snapshot(model):
    return {k: backend.asnumpy(v).copy() for k, v in model.params.items()}


def assert_unchanged(model, before):
    for key, value in model.params.items():
        numpy.testing.assert_array_equal(backend.asnumpy(value), before[key])


@pytest.fixture
def images():
    return numpy.random.default_rng(0).random((3, 32, 32, 1), dtype="float32")


def test_save_load_predict_identical(tmp_path, images, xp):
    source = UNet("article", input_shape=(32, 32, 1), seed=1)
    path = tmp_path / "w.npz"
    source.save_weights(path)
    target = UNet("article", input_shape=(32, 32, 1), seed=2)
    target.load_weights(path)
    numpy.testing.assert_array_equal(source.predict(images), target.predict(images))
    with numpy.load(path, allow_pickle=False) as data:   # no pickles: loads with pickles refused
        assert set(data.files) == set(source.params) | {checkpoint.META_KEY}


def test_notebook_preset_round_trip(tmp_path, images):
    a, b = UNet("notebook", input_shape=(32, 32, 1), seed=1), UNet("notebook", input_shape=(32, 32, 1), seed=3)
    a.save_weights(tmp_path / "n.npz")
    b.load_weights(tmp_path / "n.npz")
    numpy.testing.assert_array_equal(a.predict(images), b.predict(images))


def test_other_preset_is_refused_and_nothing_changes(tmp_path):
    UNet("notebook", input_shape=(32, 32, 1)).save_weights(tmp_path / "n.npz")
    model = UNet("article", input_shape=(32, 32, 1), seed=5)
    before = snapshot(model)
    with pytest.raises(ValueError, match="preset 'notebook'"):
        model.load_weights(tmp_path / "n.npz")
    assert_unchanged(model, before)


def test_shape_mismatch_names_the_weight_and_changes_nothing(tmp_path):
    UNet("article", input_shape=(32, 32, 3)).save_weights(tmp_path / "rgb.npz")
    model = UNet("article", input_shape=(32, 32, 1), seed=5)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"'down1_conv/kernel' has shape \(5, 5, 3, 8\)"):
        model.load_weights(tmp_path / "rgb.npz")
    assert_unchanged(model, before)


def test_missing_and_extra_weights_are_named(tmp_path):
    model = UNet("article", input_shape=(32, 32, 1), seed=5)
    params = snapshot(model)
    meta = {"format": checkpoint.FORMAT, "version": 1, "preset": "article", "dtype": "float32"}
    late = dict(params)
    late.pop("output/bias")
    checkpoint.save_arrays(tmp_path / "missing.npz", late, meta)
    with pytest.raises(ValueError, match="no weight 'output/bias'"):
        model.load_weights(tmp_path / "missing.npz")
    checkpoint.save_arrays(tmp_path / "extra.npz", {**params, "zzz/kernel": numpy.ones(2)}, meta)
    with pytest.raises(ValueError, match="'zzz/kernel'"):
        model.load_weights(tmp_path / "extra.npz")
    bad = dict(params)
    bad["output/bias"] = numpy.array([numpy.nan], "float32")
    checkpoint.save_arrays(tmp_path / "nan.npz", bad, meta)
    with pytest.raises(ValueError, match="finite"):
        model.load_weights(tmp_path / "nan.npz")
    assert_unchanged(model, params)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_corrupted_files_are_clear_errors(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    model = UNet("article", input_shape=(32, 32, 1), seed=5)
    before = snapshot(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(ValueError, match="broken.npz"):
            model.load_weights(path)
        gc.collect()
    assert_unchanged(model, before)
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], "the file was left open"


def test_truncated_real_file_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    UNet("article", input_shape=(32, 32, 1)).save_weights(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="w.npz"):
        UNet("article", input_shape=(32, 32, 1)).load_weights(path)


def test_missing_file_and_foreign_npz(tmp_path):
    with pytest.raises(ValueError, match="no such weights file"):
        UNet("article", input_shape=(32, 32, 1)).load_weights(tmp_path / "nope.npz")
    numpy.savez(tmp_path / "foreign.npz", a=numpy.ones(3))
    with pytest.raises(ValueError, match="not a tinyunet file"):
        UNet("article", input_shape=(32, 32, 1)).load_weights(tmp_path / "foreign.npz")


def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "best.npz"
    model = UNet("article", input_shape=(32, 32, 1), seed=1)
    model.save_weights(path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(numpy, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        UNet("article", input_shape=(32, 32, 1), seed=2).save_weights(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz"]


def test_files_that_are_not_weights_files_are_named(tmp_path):
    model = UNet("notebook", input_shape=(16, 16, 1), seed=5)
    before = snapshot(model)
    numpy.save(tmp_path / "array.npy", numpy.ones(3))
    os.replace(tmp_path / "array.npy", tmp_path / "array.npz")
    with pytest.raises(ValueError, match=r"array\.npz: .*\.npy"):
        model.load_weights(tmp_path / "array.npz")
    (tmp_path / "random.npz").write_bytes(numpy.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"random\.npz: not an \.npz") as error:
        model.load_weights(tmp_path / "random.npz")
    assert "allow_pickle" not in str(error.value)
    numpy.savez(tmp_path / "list.npz", __tinyunet__=numpy.array("[1, 2]"))
    with pytest.raises(ValueError, match=r"list\.npz: its __tinyunet__ entry is not a JSON object"):
        model.load_weights(tmp_path / "list.npz")
    assert_unchanged(model, before)
