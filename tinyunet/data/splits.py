"""Data sets as the lessons see them: a train, a validation and a test split.

A ``Split`` holds NHWC float32 arrays in tinyunet's conventions (docs/design.md):
``images`` (N, H, W, 1) in [0, 1] (the 8-bit level / 255) and ``masks`` in {0, 1},
plus one name and one subject per slice.  The masks have one channel per name
in ``class_names``: one organ gives (N, H, W, 1) and ``class_names`` such as
("pancreas",); K >= 2 classes give one-hot (N, H, W, K) with the background
first, ``class_names`` ("background", "liver", ...).  ``Splits`` bundles the
three splits; the phantom and the folder loader both return one, and
``export_folders`` writes one.

Splitting is by subject, never by slice: slices of one patient are nearly
copies of each other, so a subject in two splits would leak the test set into
training.  ``split_subjects`` draws that partition from a seed.

Example:
    >>> data = make_phantom(n_subjects=12, size=64)
    >>> data.train.images.shape, len(data.test), sorted(set(data.test.subjects))
"""

from dataclasses import dataclass

import numpy

SPLIT_NAMES = ("train", "validation", "test")

# Train / validation / test shares of the subjects: 82 subjects give 58 / 12 / 12.
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass
class Split:
    """One split: ``images`` (N, H, W, 1) and ``masks`` (N, H, W, K) float32, ``names`` and ``subjects`` per slice.

    ``names`` are file stems without extension (``s003_z007`` for the phantom);
    ``subjects`` is a list with one entry per slice, or None where the names
    carry no subject.  ``class_names`` names the K mask channels; None gives
    ("pancreas",) for one channel and ("background", "class_1", ...) for more.
    """

    images: numpy.ndarray
    masks: numpy.ndarray
    names: list
    subjects: list | None = None
    class_names: tuple | None = None

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.shape[-1] != 1:
            raise ValueError(f"Split: images must be (N, H, W, 1), got shape {self.images.shape}")
        if self.masks.ndim != 4 or self.masks.shape[:3] != self.images.shape[:3]:
            raise ValueError(f"Split: masks have shape {self.masks.shape} but images "
                             f"{self.images.shape}")
        channels = self.masks.shape[-1]
        if self.class_names is None:
            self.class_names = default_class_names(channels)
        self.class_names = tuple(self.class_names)
        if len(self.class_names) != channels:
            raise ValueError(f"Split: {len(self.class_names)} class names {self.class_names} for "
                             f"masks of {channels} channels")
        if len(self.names) != len(self.images):
            raise ValueError(f"Split: {len(self.names)} names for {len(self.images)} images")
        if self.subjects is not None and len(self.subjects) != len(self.images):
            raise ValueError(f"Split: {len(self.subjects)} subjects for {len(self.images)} images")

    def __len__(self):
        return len(self.images)


@dataclass
class Splits:
    """The three splits of a data set, as ``.train``, ``.validation`` and ``.test``."""

    train: Split
    validation: Split
    test: Split

    def __post_init__(self):
        names = {name: split.class_names for name, split in self.items()}
        if len(set(names.values())) != 1:
            raise ValueError(f"Splits: the splits' masks have different classes: {names}")

    @property
    def class_names(self):
        """The mask channels' names, the same in every split: ("pancreas",), ("background", "liver", ...)."""
        return self.train.class_names

    def items(self):
        """(name, split) pairs in the order train, validation, test."""
        return [(name, getattr(self, name)) for name in SPLIT_NAMES]


def default_class_names(channels):
    """Names for masks of ``channels`` channels that carry none: ("pancreas",), or ("background", "class_1", ...)."""
    if channels == 1:
        return ("pancreas",)
    return ("background", *(f"class_{k}" for k in range(1, channels)))


def split_counts(n_subjects, fractions=DEFAULT_FRACTIONS):
    """How many subjects go to train, validation and test; at least one each."""
    if n_subjects < 3:
        raise ValueError(f"need at least 3 subjects to fill train, validation and test, "
                         f"got n_subjects={n_subjects}")
    if len(fractions) != 3 or min(fractions) <= 0:
        raise ValueError(f"fractions must be three positive shares, got {fractions}")
    total = float(sum(fractions))
    n_validation = max(1, round(n_subjects * fractions[1] / total))
    n_test = max(1, round(n_subjects * fractions[2] / total))
    n_train = n_subjects - n_validation - n_test
    if n_train < 1:
        n_train, n_validation, n_test = n_subjects - 2, 1, 1
    return n_train, n_validation, n_test


def split_subjects(n_subjects, rng, fractions=DEFAULT_FRACTIONS):
    """Three sorted lists of subject indices (train, validation, test), disjoint, drawn with ``rng``."""
    n_train, n_validation, _ = split_counts(n_subjects, fractions)
    order = rng.permutation(n_subjects)
    parts = order[:n_train], order[n_train:n_train + n_validation], order[n_train + n_validation:]
    return tuple(sorted(int(s) for s in part) for part in parts)
