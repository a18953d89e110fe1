"""metrics.dice_score: thresholded Dice, pooled ("global") or averaged per image."""

import numpy
import pytest
from hypothesis import given

from helpers import xp_settings
from strategies import nhwc_shapes, seeds
from tinyunet import backend
from tinyunet.metrics import dice_per_image, dice_score


def masks(*rows):
    """(N, 1, W, 1) float32 masks on the active device, one row of values per image."""
    return backend.to_device(numpy.array(rows, dtype=numpy.float32)[:, None, :, None])


def test_global_and_per_image_differ_as_hand_computed(xp):
    y = masks([1, 1, 1, 1], [1, 0, 0, 0])
    p = masks([1, 1, 1, 1], [0, 1, 0, 0])
    # global: 2 * 4 / (5 + 5); per image: (1 + 0) / 2
    assert dice_score(y, p) == pytest.approx(0.8)
    assert dice_score(y, p, reduce="per_image") == pytest.approx(0.5)
    numpy.testing.assert_allclose(dice_per_image(y, p), [1.0, 0.0])


def test_returns_python_floats(xp):
    y = masks([1, 0])
    assert type(dice_score(y, y)) is float
    assert type(dice_score(y, y, reduce="per_image")) is float


def test_empty_masks_count_as_perfect(xp):
    empty = masks([0, 0, 0], [0, 0, 0])
    assert dice_score(empty, empty) == 1.0
    assert dice_score(empty, empty, reduce="per_image") == 1.0
    # one image with nothing to find and nothing found, one with half found
    y = masks([0, 0, 0, 0], [1, 1, 0, 0])
    p = masks([0, 0, 0, 0], [1, 0, 0, 0])
    assert dice_score(y, p, reduce="per_image") == pytest.approx((1.0 + 2 / 3) / 2)
    assert dice_score(y, p) == pytest.approx(2 / 3)


def test_empty_truth_with_a_false_positive_scores_zero(xp):
    assert dice_score(masks([0, 0]), masks([0, 1])) == 0.0
    assert dice_score(masks([0, 0]), masks([0, 1]), reduce="per_image") == 0.0


def test_threshold_is_strictly_greater(xp):
    y = masks([1, 1, 0, 0])
    p = masks([0.9, 0.5, 0.51, 0.2])
    # 0.5 is not > 0.5: P = {0, 2}, T = {0, 1}
    assert dice_score(y, p) == pytest.approx(0.5)
    assert dice_score(y, p, threshold=0.4) == pytest.approx(2 * 2 / (2 + 3))
    assert dice_score(y, p, threshold=0.95) == 0.0


def test_soft_truth_is_binarised_too(xp):
    assert dice_score(masks([0.8, 0.2]), masks([1, 0])) == 1.0


@xp_settings()
@given(seed=seeds, shape=nhwc_shapes(max_side=6, max_channels=1))   # K >= 2: test_multiclass.py
def test_properties(xp, seed, shape):
    rng = numpy.random.default_rng(seed)
    y = backend.to_device((rng.random(shape) > 0.5).astype(numpy.float32))
    p = backend.to_device(rng.random(shape).astype(numpy.float32))
    for reduce in ("global", "per_image"):
        d = dice_score(y, p, reduce=reduce)
        assert 0.0 <= d <= 1.0
        assert d == pytest.approx(dice_score(p, y, reduce=reduce))
        assert dice_score(y, y, reduce=reduce) == 1.0
        assert dice_score(y, 1 - y, reduce=reduce) == 0.0


def test_per_image_is_the_mean_of_dice_per_image(xp):
    rng = numpy.random.default_rng(5)
    y = backend.to_device((rng.random((4, 3, 3, 1)) > 0.5).astype(numpy.float32))
    p = backend.to_device(rng.random((4, 3, 3, 1)).astype(numpy.float32))
    per_image = dice_per_image(y, p)
    assert isinstance(per_image, numpy.ndarray) and per_image.shape == (4,)
    assert dice_score(y, p, reduce="per_image") == pytest.approx(float(per_image.mean()))


def test_numpy_truth_with_device_prediction(xp):
    y = numpy.ones((1, 2, 2, 1), dtype=numpy.float32)
    assert dice_score(y, backend.to_device(y)) == 1.0


def test_shape_mismatch_names_both_shapes(xp):
    with pytest.raises(ValueError, match=r"\(1, 1, 2, 1\).*\(1, 1, 3, 1\)"):
        dice_score(masks([1, 0]), masks([1, 0, 0]))


def test_unknown_reduce_and_empty_set(xp):
    with pytest.raises(ValueError, match="reduce"):
        dice_score(masks([1]), masks([1]), reduce="mean")
    with pytest.raises(ValueError, match="at least one image"):
        dice_score(xp.zeros((0, 2, 2, 1)), xp.zeros((0, 2, 2, 1)))
