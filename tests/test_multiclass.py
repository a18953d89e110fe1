"""K classes: DiceLoss and dice_score on one-hot (N, H, W, K) masks, background in channel 0."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import to_numpy, xp_settings
from strategies import seeds
from tinyunet import backend
from tinyunet.gradcheck import gradcheck
from tinyunet.losses import DiceLoss, dice_coefficient
from tinyunet.metrics import dice_score


def one_hot(labels, classes):
    return numpy.eye(classes)[labels]


def softmax_like(rng, shape):
    z = numpy.exp(rng.normal(size=shape))
    return z / z.sum(axis=-1, keepdims=True)


def labelled(seed, n, side, classes):
    """One-hot masks in which every class shows at least once, and softmax-like probabilities."""
    rng = numpy.random.default_rng(seed)
    labels = rng.integers(0, classes, (n, side, side))
    labels.flat[:classes] = numpy.arange(classes)
    return one_hot(labels, classes), softmax_like(rng, (n, side, side, classes))


@xp_settings()
@given(seed=seeds, classes=st.integers(2, 5), side=st.integers(2, 6))
def test_loss_is_one_minus_the_mean_foreground_dice(xp, seed, classes, side):
    y, p = (backend.to_device(a) for a in labelled(seed, 2, side, classes))
    per_class = [float(dice_coefficient(y[..., k], p[..., k])) for k in range(1, classes)]
    assert float(DiceLoss().forward(y, p)) == pytest.approx(1 - numpy.mean(per_class), rel=1e-12)


def test_background_takes_no_part_in_the_loss(xp):
    y, p = (backend.to_device(a) for a in labelled(0, 2, 5, 3))
    loss = DiceLoss()
    before = float(loss.forward(y, p))
    assert float(to_numpy(loss.backward())[..., 0].max()) == 0 == float(to_numpy(loss.backward())[..., 0].min())
    q = p.copy()
    q[..., 0] = 0.123                     # any background probability: the same loss
    assert float(DiceLoss().forward(y, q)) == pytest.approx(before, rel=1e-12)


@xp_settings()
@given(seed=seeds, classes=st.integers(2, 4))
def test_loss_gradient(xp, seed, classes):
    y, p = labelled(seed, 2, 3, classes)
    result = gradcheck(DiceLoss(), p, y_true=y, directions=2, seed=seed % 1000)
    assert result.max_error < 1e-6, str(result)


def test_perfect_and_disjoint_predictions(xp):
    y, _ = labelled(1, 2, 6, 3)
    assert float(DiceLoss().forward(backend.to_device(y), backend.to_device(y))) == pytest.approx(0, abs=1e-6)
    shifted = numpy.roll(y, 1, axis=-1)   # every pixel given another class
    assert float(DiceLoss().forward(backend.to_device(y), backend.to_device(shifted))) == pytest.approx(1)


def hand_made():
    """Two 4 x 4 images of background (0), liver (1) and spleen (2): truth and an argmax guess."""
    truth = numpy.zeros((2, 4, 4), int)
    truth[0, :2, :2] = 1          # 4 liver pixels
    truth[0, 2:, 2:] = 2          # 4 spleen pixels
    truth[1, :2, :] = 1           # 8 liver pixels, no spleen
    guess = truth.copy()
    guess[0, 0, 0] = 0            # image 0: one liver pixel missed
    guess[1, 3, 3] = 2            # image 1: one background pixel called spleen
    return one_hot(truth, 3), 0.1 + 0.7 * one_hot(guess, 3)


def test_score_by_class_hand_computed(xp):
    y, p = (backend.to_device(a) for a in hand_made())
    names = ("background", "liver", "spleen")
    pooled = dice_score(y, p, class_names=names)
    liver = 2 * 11 / (12 + 11)                # 12 true liver pixels, 11 found, all right
    spleen = 2 * 4 / (4 + 5)                  # 4 true, 5 called spleen, 4 right
    assert pooled == pytest.approx({"liver": liver, "spleen": spleen, "mean": (liver + spleen) / 2})
    each = dice_score(y, p, reduce="per_image", class_names=names)
    liver_each = (2 * 3 / 7 + 1.0) / 2         # image 1 finds all 8
    spleen_each = (1.0 + 0.0) / 2              # image 0 all 4; image 1 none true, one called
    assert each == pytest.approx({"liver": liver_each, "spleen": spleen_each,
                                  "mean": (liver_each + spleen_each) / 2})
    assert all(type(v) is float for v in each.values())


def test_score_names_default_and_are_checked(xp):
    y, p = (backend.to_device(a) for a in hand_made())
    assert set(dice_score(y, p)) == {"class_1", "class_2", "mean"}
    with pytest.raises(ValueError, match="3 distinct names"):
        dice_score(y, p, class_names=("liver", "spleen"))


@xp_settings()
@given(seed=seeds, classes=st.integers(2, 5))
def test_score_properties(xp, seed, classes):
    y, p = (backend.to_device(a) for a in labelled(seed, 3, 5, classes))
    for reduce in ("global", "per_image"):
        scores = dice_score(y, p, reduce=reduce)
        assert len(scores) == classes and all(0.0 <= v <= 1.0 for v in scores.values())
        assert scores["mean"] == pytest.approx(numpy.mean([v for k, v in scores.items() if k != "mean"]))
        assert dice_score(y, y, reduce=reduce)["mean"] == 1.0
