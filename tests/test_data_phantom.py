"""The phantom: determinism, subject splits, valid slices, and the intensity baseline it must defeat."""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyunet.data import make_phantom, threshold_baseline
from tinyunet.data.splits import split_counts


@pytest.fixture(scope="module")
def small():
    return make_phantom(n_subjects=12, size=64, seed=0, slices_per_subject=(4, 8))


def _bytes(splits):
    return b"".join(s.images.tobytes() + s.masks.tobytes() for _, s in splits.items())


def test_same_seed_same_bytes_other_seed_differs():
    a = make_phantom(n_subjects=4, size=32, seed=5, slices_per_subject=3)
    b = make_phantom(n_subjects=4, size=32, seed=5, slices_per_subject=3)
    c = make_phantom(n_subjects=4, size=32, seed=6, slices_per_subject=3)
    assert _bytes(a) == _bytes(b)
    assert a.train.names == b.train.names and a.test.subjects == b.test.subjects
    assert _bytes(a) != _bytes(c)


def test_a_subject_does_not_depend_on_how_many_there_are():
    few = make_phantom(n_subjects=3, size=32, seed=2, slices_per_subject=3)
    many = make_phantom(n_subjects=6, size=32, seed=2, slices_per_subject=3)
    def slices(splits, subject):
        return numpy.concatenate([s.images[[k for k, x in enumerate(s.subjects) if x == subject]]
                                  for _, s in splits.items()])
    assert numpy.array_equal(slices(few, 1), slices(many, 1))


def test_no_subject_in_two_splits(small):
    sets = [set(s.subjects) for _, s in small.items()]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set().union(*sets) == set(range(12))


def test_default_proportions():
    assert split_counts(82) == (58, 12, 12)
    assert split_counts(3) == (1, 1, 1)
    with pytest.raises(ValueError, match="n_subjects must be an integer >= 3"):
        make_phantom(n_subjects=2)


def test_conventions_names_and_masks(small):
    for name, split in small.items():
        assert split.images.dtype == numpy.float32 and split.masks.dtype == numpy.float32
        assert split.images.shape[1:] == (64, 64, 1) and split.masks.shape == split.images.shape
        levels = split.images * 255
        assert numpy.array_equal(levels, numpy.rint(levels)) and levels.min() >= 0 and levels.max() <= 255
        assert set(numpy.unique(split.masks)) <= {0.0, 1.0}
        # every phantom slice is a pancreas slice, as in the article's data
        assert split.masks.reshape(len(split), -1).max(axis=1).min() == 1
        for slice_name, subject in zip(split.names, split.subjects):
            assert slice_name.startswith(f"s{subject:03d}_z")


def test_pancreas_appears_changes_and_disappears():
    data = make_phantom(n_subjects=3, size=128, seed=1, slices_per_subject=16)
    split = data.train
    areas = split.masks.reshape(len(split), -1).sum(axis=1)
    # the end slices cut the tips of the gland; the middle ones its body or head
    assert areas[0] < areas[3:13].max() and areas[15] < areas[3:13].max()
    centres = [numpy.argwhere(m[..., 0])[:, 1].mean() for m in split.masks[:16]]
    assert centres[0] > centres[-1]   # tail on the image's right (patient's left), head on its left


def test_looks_like_ct(small):
    levels = numpy.rint(small.train.images * 255)
    pancreas = levels[small.train.masks > 0]
    assert 140 < numpy.median(pancreas) < 185          # soft tissue, 85-115 HU
    assert (levels == 0).mean() > 0.1                  # air around the body
    assert (levels >= 250).any()                       # bone


def test_intensity_window_cannot_find_the_pancreas():
    for seed in (0, 1, 2):
        data = make_phantom(n_subjects=12, size=64, seed=seed, slices_per_subject=(4, 8))
        result = threshold_baseline(data)
        assert 0 <= result.lo <= result.hi <= 255
        assert result.test_dice < 0.3


def test_threshold_baseline_finds_an_easy_window():
    from tinyunet.data import Split, Splits
    rng = numpy.random.default_rng(0)
    masks = (rng.random((4, 16, 16, 1)) < 0.3).astype(numpy.float32)
    images = numpy.where(masks > 0, 200, 50).astype(numpy.float32) / 255
    easy = Split(images, masks, [str(i) for i in range(4)])
    result = threshold_baseline(Splits(easy, easy, easy))
    assert result.lo <= 200 <= result.hi and result.lo > 50 and result.test_dice == 1.0


@settings(max_examples=8)
@given(n_subjects=st.integers(3, 5), size=st.integers(16, 72), seed=st.integers(0, 2**32 - 1),
       lo=st.integers(1, 4), extra=st.integers(0, 3))
def test_any_valid_parameters_give_valid_slices(n_subjects, size, seed, lo, extra):
    data = make_phantom(n_subjects=n_subjects, size=size, seed=seed, slices_per_subject=(lo, lo + extra))
    total = 0
    for _, split in data.items():
        assert split.images.shape[1:] == (size, size, 1)
        assert numpy.isfinite(split.images).all() and split.images.min() >= 0 and split.images.max() <= 1
        assert set(numpy.unique(split.masks)) <= {0.0, 1.0}
        assert split.masks.reshape(len(split), -1).max(axis=1).min() == 1
        total += len(split)
    assert n_subjects * lo <= total <= n_subjects * (lo + extra)


@pytest.mark.parametrize("kwargs", [dict(size=8), dict(size=64.0), dict(slices_per_subject=0),
                                    dict(slices_per_subject=(5, 2)), dict(n_subjects=True)])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError, match="make_phantom"):
        make_phantom(**{"n_subjects": 3, **kwargs})
