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


# --- other organs, and several at once ---

ORGANS = ("pancreas", "liver", "spleen", "kidneys")


def test_pancreas_is_the_phantom_as_it_was_before_organs():
    # recorded from make_phantom before it took ``organ``: the default task keeps its bytes
    import hashlib
    for data in (make_phantom(n_subjects=3, size=32, seed=0, slices_per_subject=5),
                 make_phantom(n_subjects=3, size=32, seed=0, slices_per_subject=5, organ=("pancreas",))):
        digest = hashlib.sha256()
        for _, split in data.items():
            digest.update(split.images.tobytes() + split.masks.tobytes() + " ".join(split.names).encode())
        assert digest.hexdigest() == "a22f17e46f179768203087b0378df621f0bc8771f62c95ac0fcd42d2dce0490c"
        assert data.class_names == ("pancreas",) and data.test.class_names == ("pancreas",)


@pytest.mark.parametrize("organ", ORGANS)
def test_each_organ_gives_exactly_the_slices_that_show_it(organ):
    from tinyunet.data.phantom import render_subject
    data = make_phantom(n_subjects=3, size=16, seed=4, slices_per_subject=6, organ=organ)
    assert data.class_names == (organ,)
    # rebuild subject 0's stack: the kept slices are those whose label map shows the organ
    subject_rng = numpy.random.default_rng(numpy.random.SeedSequence(4).spawn(4)[0])
    n_slices = int(subject_rng.integers(6, 7))
    levels, classes = render_subject(subject_rng, n_slices, 16, (organ,))
    shows = classes.reshape(n_slices, -1).any(axis=1)
    split = next(s for _, s in data.items() if 0 in s.subjects)
    kept = [k for k, s in enumerate(split.subjects) if s == 0]
    assert split.names[kept[0]:kept[-1] + 1] == [f"s000_z{k:03d}" for k in numpy.flatnonzero(shows)]
    assert numpy.array_equal(split.masks[kept, ..., 0], classes[shows] == 1)
    assert numpy.array_equal(split.images[kept, ..., 0], levels[shows] / numpy.float32(255))
    assert all(split.masks[k].any() for k in kept)


@pytest.mark.parametrize("organ", ORGANS[1:])
def test_other_organs_keep_determinism_and_the_subject_split(organ):
    a = make_phantom(n_subjects=4, size=32, seed=7, slices_per_subject=3, organ=organ)
    b = make_phantom(n_subjects=4, size=32, seed=7, slices_per_subject=3, organ=organ)
    assert _bytes(a) == _bytes(b) and a.train.names == b.train.names
    pancreas = make_phantom(n_subjects=4, size=32, seed=7, slices_per_subject=3)
    for (_, s), (_, p) in zip(a.items(), pancreas.items()):
        assert set(s.subjects) == set(p.subjects)          # the same subjects in the same splits
        assert s.masks.shape[-1] == 1 and s.masks.reshape(len(s), -1).max(axis=1).min() == 1


def test_several_organs_give_one_hot_masks_with_the_background_first():
    organs = ("liver", "spleen", "pancreas")
    data = make_phantom(n_subjects=3, size=32, seed=1, slices_per_subject=6, organ=organs)
    assert data.class_names == ("background", *organs)
    for _, split in data.items():
        assert split.class_names == data.class_names
        assert split.masks.shape == (len(split), 32, 32, 4) and split.masks.dtype == numpy.float32
        assert set(numpy.unique(split.masks)) <= {0.0, 1.0}
        assert (split.masks.sum(axis=-1) == 1).all()     # labels are exclusive: one class a pixel
        assert split.masks[..., 1:].reshape(len(split), -1).max(axis=1).min() == 1
    coverage = data.train.masks[..., 1:].mean(axis=(0, 1, 2))
    assert coverage[0] > coverage[1] > 0 and coverage[2] > 0     # the liver is the largest


def test_bad_organs():
    for organ in ("heart", ("liver", "lung"), (), ("liver", "liver"), 3):
        with pytest.raises(ValueError, match="make_phantom") as error:
            make_phantom(n_subjects=3, size=16, organ=organ)
        if organ in ("heart", ("liver", "lung")):
            assert "pancreas, liver, spleen, kidneys" in str(error.value)


def test_threshold_baseline_for_the_liver_and_for_several_classes():
    liver = threshold_baseline(make_phantom(n_subjects=6, size=32, seed=0, slices_per_subject=4, organ="liver"))
    assert 0 <= liver.lo <= liver.hi <= 255 and liver.per_class is None
    assert liver.test_dice > 0.6          # the liver, unlike the pancreas, has a window of its own
    several = make_phantom(n_subjects=6, size=32, seed=0, slices_per_subject=4, organ=("liver", "pancreas"))
    result = threshold_baseline(several)
    assert result.lo is None and list(result.per_class) == ["liver", "pancreas"]
    assert result.test_dice == pytest.approx(numpy.mean([b.test_dice for b in result.per_class.values()]))
    assert result.per_class["liver"].test_dice > result.per_class["pancreas"].test_dice


def test_split_class_names_must_match_the_channels():
    from tinyunet.data import Split, Splits
    images = numpy.zeros((2, 8, 8, 1), numpy.float32)
    one_hot = numpy.zeros((2, 8, 8, 3), numpy.float32)
    assert Split(images, images, ["a", "b"]).class_names == ("pancreas",)
    assert Split(images, one_hot, ["a", "b"]).class_names == ("background", "class_1", "class_2")
    with pytest.raises(ValueError, match="2 class names"):
        Split(images, one_hot, ["a", "b"], None, ("background", "liver"))
    with pytest.raises(ValueError, match="different classes"):
        Splits(Split(images, images, ["a", "b"]), Split(images, images, ["a", "b"], None, ("liver",)),
               Split(images, images, ["a", "b"]))
