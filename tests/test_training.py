"""fit, evaluate, predict, checkpoints, resuming, divergence, determinism."""

import json
import os

import numpy
import pytest

from tinyunet import backend
from tinyunet.losses import DiceLoss, dice_coefficient
from tinyunet.models import History, TrainingDiverged, UNet
from tinyunet.optimizers import SGD, Adam


def blobs(count, size=32, seed=0):
    """Images with one bright disc each and its mask: a task a U-Net learns in seconds."""
    rng = numpy.random.default_rng(seed)
    yy, xx = numpy.mgrid[:size, :size]
    images, masks = [], []
    for _ in range(count):
        cy, cx = rng.uniform(8, size - 8, 2)
        radius = rng.uniform(3, 6)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius ** 2).astype("float32")
        image = 0.3 + 0.4 * mask + 0.1 * rng.standard_normal((size, size))
        images.append(numpy.clip(image, 0, 1))
        masks.append(mask)
    return numpy.array(images, "float32")[..., None], numpy.array(masks, "float32")[..., None]


def test_training_lowers_the_loss_and_overfits_one_batch(xp):
    x, y = blobs(8)
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    history = model.fit(x, y, epochs=60, batch_size=8, optimizer=Adam(3e-3), verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 60 and losses[-1] < losses[0]
    result = model.evaluate(x, y)
    assert result["dice_global"] > 0.95, result
    assert result["dice_per_image"] > 0.9


def test_history_has_keras_keys_and_saves(tmp_path):
    x, y = blobs(6)
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    history = model.fit(x[:4], y[:4], validation_data=(x[4:], y[4:]), epochs=2, batch_size=3, verbose=0)
    assert set(history.history) == {"loss", "dice_coeff", "val_loss", "val_dice_coeff"}
    assert all(len(v) == 2 for v in history.history.values())
    history.save_json(tmp_path / "h.json")
    history.save_csv(tmp_path / "h.csv")
    assert History.load_json(tmp_path / "h.json").history == history.history
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,dice_coeff,val_loss,val_dice_coeff" and len(lines) == 3


def test_reported_dice_coefficients_are_the_batches_dice(xp):
    """dice_coeff is the mean soft Dice of the epoch's training batches (each taken before its
    step), val_dice_coeff that of the validation batches after the epoch: replayed by hand."""
    x, y = blobs(8)
    history = UNet("article", input_shape=(32, 32, 1), seed=1).fit(
        x[:4], y[:4], validation_data=(x[4:], y[4:]), epochs=2, batch_size=2, shuffle=False,
        optimizer=Adam(1e-2), verbose=0).history
    model, optimizer, loss = UNet("article", input_shape=(32, 32, 1), seed=1), Adam(1e-2), DiceLoss()
    for epoch in range(2):
        train = []
        for start in (0, 2):
            p = model.forward(x[start:start + 2])
            train.append(float(dice_coefficient(y[start:start + 2], p)))
            loss.forward(y[start:start + 2], p)
            model.backward(loss.backward())
            optimizer.step(model.params, model.grads)
        val = [float(dice_coefficient(y[start:start + 2], model.forward(x[start:start + 2]))) for start in (4, 6)]
        assert history["dice_coeff"][epoch] == pytest.approx(numpy.mean(train), abs=1e-5)
        assert history["val_dice_coeff"][epoch] == pytest.approx(numpy.mean(val), abs=1e-5)
        assert history["loss"][epoch] == pytest.approx(1 - numpy.mean(train), abs=1e-5)
        assert history["val_loss"][epoch] == pytest.approx(1 - numpy.mean(val), abs=1e-5)
    assert history["dice_coeff"][0] != pytest.approx(history["dice_coeff"][1], abs=1e-4)   # training moved


def test_fit_prints_keras_like_lines(capsys):
    x, y = blobs(4)
    UNet("article", input_shape=(32, 32, 1)).fit(x, y, validation_data=(x, y), epochs=1, batch_size=2, verbose=2)
    out = capsys.readouterr().out
    assert "Train on 4 samples, validate on 4 samples" in out
    assert "Epoch 1/1" in out
    assert "2/2 - " in out and "ms/step - loss: " in out and "val_dice_coeff: " in out


def test_same_seed_same_losses_on_cpu():
    x, y = blobs(6)
    runs = [UNet("article", input_shape=(32, 32, 1), seed=4).fit(x, y, epochs=2, batch_size=2, seed=9, verbose=0)
            for _ in range(2)]
    assert runs[0].history == runs[1].history


def test_checkpoint_keeps_best_and_model_ends_with_last(tmp_path):
    x, y = blobs(6)
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    path = tmp_path / "best.npz"
    history = model.fit(x[:4], y[:4], validation_data=(x[4:], y[4:]), epochs=4, batch_size=2,
                        optimizer=Adam(1e-2), checkpoint=path, verbose=0)
    best_epoch = int(numpy.argmin(history.history["val_loss"]))
    assert path.exists()
    last = model.predict(x)
    model.load_weights(path)
    loss = model.evaluate(x[4:], y[4:], batch_size=2)["loss"]
    assert loss == pytest.approx(history.history["val_loss"][best_epoch], abs=1e-5)
    if best_epoch != 3:
        assert not numpy.allclose(last, model.predict(x))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


def test_resume_continues_the_same_run(tmp_path):
    x, y = blobs(6)
    straight = UNet("article", input_shape=(32, 32, 1), seed=2)
    full = straight.fit(x, y, validation_data=(x[:2], y[:2]), epochs=4, batch_size=4, verbose=0,
                        checkpoint=tmp_path / "a.npz")
    first = UNet("article", input_shape=(32, 32, 1), seed=2)
    first.fit(x, y, validation_data=(x[:2], y[:2]), epochs=2, batch_size=4, verbose=0, checkpoint=tmp_path / "b.npz")
    # a new process would build a fresh model: start from other weights to prove they are restored
    second = UNet("article", input_shape=(32, 32, 1), seed=99)
    resumed = second.fit(x, y, validation_data=(x[:2], y[:2]), epochs=4, batch_size=4, verbose=0,
                         checkpoint=tmp_path / "b.npz", resume=True)
    assert resumed.epoch == [0, 1, 2, 3]
    for key in full.history:
        numpy.testing.assert_allclose(resumed.history[key], full.history[key], rtol=1e-6)
    numpy.testing.assert_allclose(second.predict(x), straight.predict(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        UNet("article", input_shape=(32, 32, 1)).fit(x, y, epochs=3, batch_size=2, verbose=0,
                                                     checkpoint=tmp_path / "b.npz", resume=True)


def test_the_epoch_loss_weights_each_batch_by_its_images():
    """Batches of 2, 2 and 1 images: the epoch's loss is (2 l1 + 2 l2 + l3) / 5, as Keras and
    the validation figures count it, not the plain mean of the three."""
    x, y = blobs(5)
    fitted = UNet("article", input_shape=(32, 32, 1), seed=2)
    history = fitted.fit(x, y, epochs=1, batch_size=2, shuffle=False, optimizer=Adam(1e-3), verbose=0)
    replay, optimizer, loss = UNet("article", input_shape=(32, 32, 1), seed=2), Adam(1e-3), DiceLoss()
    losses = []
    for start, stop in ((0, 2), (2, 4), (4, 5)):
        losses.append(float(loss.forward(y[start:stop], replay.forward(x[start:stop]))))
        replay.backward(loss.backward(), input_gradient=False)
        optimizer.step(replay.params, replay.grads)
    weighted = (2 * losses[0] + 2 * losses[1] + losses[2]) / 5
    assert history.history["loss"][0] == pytest.approx(weighted, rel=1e-6)
    assert abs(numpy.mean(losses) - weighted) > 1e-5 * weighted     # the plain mean would differ


def test_a_numpy_integer_seed_checkpoints_and_resumes_like_an_int(tmp_path):
    x, y = blobs(4)
    as_int = UNet("article", input_shape=(32, 32, 1), seed=2).fit(
        x, y, epochs=2, batch_size=2, seed=7, verbose=0, checkpoint=tmp_path / "a.npz")
    first = UNet("article", input_shape=(32, 32, 1), seed=2)
    first.fit(x, y, epochs=1, batch_size=2, seed=numpy.int64(7), verbose=0, checkpoint=tmp_path / "b.npz")
    resumed = UNet("article", input_shape=(32, 32, 1), seed=5).fit(
        x, y, epochs=2, batch_size=2, seed=numpy.int32(7), verbose=0, checkpoint=tmp_path / "b.npz", resume=True)
    numpy.testing.assert_allclose(resumed.history["loss"], as_int.history["loss"], rtol=1e-6)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_fit_refuses_a_seed_that_is_not_an_int_from_zero_before_training(seed):
    x, y = blobs(2)
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    before = {key: value.copy() for key, value in model.params.items()}
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        model.fit(x, y, epochs=1, batch_size=2, seed=seed, verbose=0)
    assert all(numpy.array_equal(before[key], value) for key, value in model.params.items())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path):
    x, y = blobs(4)
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    path = tmp_path / "best.npz"
    model.fit(x, y, epochs=1, batch_size=2, checkpoint=path, verbose=0)
    before = path.read_bytes()
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+/2"):
        model.fit(x, y, epochs=2, batch_size=2, optimizer=SGD(learning_rate=1e30), checkpoint=path, verbose=0)
    assert path.read_bytes() == before


def test_early_stopping_stops():
    x, y = blobs(4)
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    # a step too small to change a float32 weight: the loss stays exactly the same
    history = model.fit(x, y, epochs=20, batch_size=2, optimizer=SGD(learning_rate=1e-30), shuffle=False,
                        patience=2, verbose=0)
    assert len(history.epoch) == 3


@pytest.mark.parametrize("bad,match", [
    (dict(epochs=0), "epochs"), (dict(batch_size=0), "batch_size"),
    (dict(validation_data=(1, 2, 3)), "validation_data"), (dict(resume=True), "resume"),
])
def test_fit_argument_errors(bad, match):
    x, y = blobs(2)
    with pytest.raises(ValueError, match=match):
        UNet("article", input_shape=(32, 32, 1)).fit(x, y, verbose=0, **bad)


def test_fit_refuses_bad_masks():
    x, y = blobs(2)
    model = UNet("article", input_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="masks must have shape"):
        model.fit(x, y[:1], verbose=0)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        model.fit(x, y * 255, verbose=0)


def test_predict_batches_and_matches_forward(xp):
    x, _ = blobs(5)
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    whole = backend.asnumpy(model.forward(x))
    batched = model.predict(x, batch_size=2)
    assert isinstance(batched, numpy.ndarray) and batched.shape == (5, 32, 32, 1)
    numpy.testing.assert_allclose(batched, whole, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=0)


def test_one_step_by_hand_equals_fit_step():
    """One training step can be written by hand in five lines; fit does exactly that."""
    x, y = blobs(2)
    a = UNet("article", input_shape=(32, 32, 1), seed=5)
    b = UNet("article", input_shape=(32, 32, 1), seed=5)
    a.fit(x, y, epochs=1, batch_size=2, shuffle=False, optimizer=Adam(1e-3), verbose=0)
    loss, opt = DiceLoss(), Adam(1e-3)
    p = b.forward(x)
    loss.forward(y, p)
    b.backward(loss.backward())
    opt.step(b.params, b.grads)
    for key in a.params:
        numpy.testing.assert_allclose(backend.asnumpy(a.params[key]), backend.asnumpy(b.params[key]),
                                      rtol=1e-5, atol=1e-7)


def test_evaluate_reports_the_four_figures():
    x, y = blobs(4)
    model = UNet("article", input_shape=(32, 32, 1))
    result = model.evaluate(x, y, batch_size=3)
    assert set(result) == {"loss", "dice_coeff", "dice_global", "dice_per_image"}
    # the mean over the batches (3 images, then 1) weighted by their sizes
    p = model.predict(x)
    dice = (3 * float(dice_coefficient(y[:3], p[:3])) + float(dice_coefficient(y[3:], p[3:]))) / 4
    assert result["dice_coeff"] == pytest.approx(dice, abs=1e-5)
    assert result["loss"] == pytest.approx(1 - dice, abs=1e-5)
    json.dumps(result)


def small(seed=0):
    return UNet("notebook", input_shape=(16, 16, 1), seed=seed)


def test_empty_sets_are_refused_naming_the_set(tmp_path):
    x, y = blobs(4, size=16)
    model = small()
    with pytest.raises(ValueError, match="training set is empty"):
        model.fit(x[:0], y[:0], checkpoint=tmp_path / "best.npz", verbose=0)
    with pytest.raises(ValueError, match="validation set is empty"):
        model.fit(x, y, validation_data=(x[:0], y[:0]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="evaluate: no images"):
        model.evaluate(x[:0], y[:0])
    assert not list(tmp_path.iterdir())


def test_a_batch_of_zero_images_predicts_an_empty_result(xp):
    x, _ = blobs(2, size=16)
    model = small()
    assert model.predict(x[:0]).shape == (0, 16, 16, 1)
    assert tuple(model.forward(x[:0]).shape) == (0, 16, 16, 1)


def test_every_mask_empty_warns():
    x, y = blobs(2, size=16)
    with pytest.warns(UserWarning, match="every mask is empty: check the mask encoding"):
        small().fit(x, y * 0, epochs=1, verbose=0)


@pytest.mark.parametrize("where", ["a file", "read-only"])
def test_an_unwritable_checkpoint_folder_is_refused_before_training(tmp_path, where):
    x, y = blobs(2, size=16)
    if where == "a file":
        (tmp_path / "runs").write_text("a user's file")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "runs").mkdir()
        os.chmod(tmp_path / "runs", 0o555)
    path = tmp_path / "runs" / "best.npz"
    model = small()
    before = {k: backend.asnumpy(v).copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=r"checkpoint .*runs/best\.npz"):
        model.fit(x, y, epochs=1, checkpoint=path, verbose=0)
    assert all(numpy.array_equal(backend.asnumpy(model.params[k]), v) for k, v in before.items())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_saturated_outputs_and_a_flat_loss_stop_training(tmp_path):
    x, y = blobs(4, size=16)
    with pytest.raises(TrainingDiverged, match="smaller learning rate"):
        small().fit(x, y, epochs=5, batch_size=2, optimizer=Adam(1e3), checkpoint=tmp_path / "best.npz",
                    verbose=0)


def test_resume_refuses_other_data_or_other_settings(tmp_path):
    x, y = blobs(6, size=16)
    path = tmp_path / "best.npz"
    small().fit(x, y, validation_data=(x[:2], y[:2]), epochs=1, batch_size=2, optimizer=Adam(1e-3),
                checkpoint=path, verbose=0)
    other_x, other_y = blobs(6, size=16, seed=1)
    cases = [
        (dict(x=other_x, y=y), "training images"),
        (dict(x=x, y=other_y), "training masks"),
        (dict(x=x[:4], y=y[:4]), "training images"),
        (dict(validation_data=(x[2:4], y[2:4])), "validation images"),
        (dict(optimizer=Adam(1e-2)), "learning_rate"),
        (dict(optimizer=Adam(1e-3, beta_1=0.5)), "beta_1"),
    ]
    for change, match in cases:
        arguments = dict(x=x, y=y, validation_data=(x[:2], y[:2]), epochs=2, batch_size=2,
                         optimizer=Adam(1e-3), checkpoint=path, verbose=0, resume=True)
        arguments.update(change)
        with pytest.raises(ValueError, match=match):
            small().fit(**arguments)
    resumed = small().fit(x, y, validation_data=(x[:2], y[:2]), epochs=2, batch_size=2, optimizer=Adam(1e-3),
                          checkpoint=path, verbose=0, resume=True)
    assert resumed.epoch == [0, 1]
