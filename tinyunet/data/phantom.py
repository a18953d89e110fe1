"""The default data set: procedural abdominal CT slices with a pancreas mask (or liver, spleen, kidneys).

The article trains on TCIA Pancreas-CT (82 subjects, the slices that contain
pancreas, window 400 / level 40, 8-bit, 256 x 256), which cannot be downloaded
here.  ``make_phantom`` stands in for it: each subject draws its own anatomy
(``anatomy.Subject``), its slices run down the pancreas from the tail to the
uncinate process, and every slice goes

    labels  ->  Hounsfield units  ->  blur (partial volume)  ->  correlated noise
            ->  window 400 / level 40 onto 0..255  ->  8-bit

with tissue values, blur and noise drawn per subject around typical
portal-venous values of contrast CT.  The pancreas (85-115 HU) sits among
liver, spleen, bowel wall and collapsed bowel of the same density, so no
intensity window finds it (``baseline.threshold_baseline``): a model has to use
its shape and its place in front of the splenic vein, SMA and aorta.

``organ`` picks what the masks show (``organs.py``): "pancreas" (the article's
task), or the article's "relatively simple segmentation tasks" "liver",
"spleen" and "kidneys"; the slices then run over that organ and every slice
shows it.  A tuple of organs gives one class each: one-hot masks with the
background first, and slices that show any of them.

Every draw comes from ``seed``: subject i is the same whatever ``n_subjects``,
and the same seed gives the same bytes.

Example:
    >>> data = make_phantom(n_subjects=12, size=128, slices_per_subject=8, seed=3)
    >>> data.train.images.shape, data.train.names[0], data.train.subjects[0]
    ((64, 128, 128, 1), 's000_z000', 0)
"""

import numpy

from . import anatomy as an
from .organs import class_map, class_names, extent, masks_from_classes, organ_tuple
from .raster import gaussian_blur, gaussian_transfer, noise_gain
from .splits import DEFAULT_FRACTIONS, Split, Splits, split_subjects

WINDOW, LEVEL = 400.0, 40.0

# Typical portal-venous HU of each tissue: (centre, spread of the per-subject draw).
TISSUE_HU = {
    an.AIR: (-1000, 0), an.FAT: (-100, 12), an.MUSCLE: (50, 8), an.LIVER: (115, 10),
    an.SPLEEN: (115, 10), an.CORTEX: (175, 18), an.MEDULLA: (150, 18), an.FLUID: (12, 8),
    an.GAS: (-900, 40), an.WALL: (100, 12), an.FECES: (20, 15), an.PANCREAS: (100, 10),
    an.ARTERY: (180, 18), an.VEIN: (170, 18), an.BONE: (700, 100), an.MARROW: (230, 40),
    an.CSF: (20, 8), an.BILE: (10, 6), an.URINE: (15, 8),
}


def make_phantom(n_subjects=82, size=256, seed=0, slices_per_subject=(12, 24),
                 fractions=DEFAULT_FRACTIONS, organ="pancreas"):
    """Phantom CT slices with organ masks, split by subject into train / validation / test.

    Args:
        n_subjects: subjects in all (at least 3: one per split).
        size: image side in pixels (the article: 256).
        seed: the one seed every draw comes from.
        slices_per_subject: an int, or (lo, hi) to draw each subject's count from lo..hi.
        fractions: train / validation / test shares of the subjects (default 70 / 15 / 15).
        organ: "pancreas", "liver", "spleen" or "kidneys", or a tuple of them.

    Returns:
        ``Splits``; each split's ``images`` are (N, size, size, 1) float32, its ``masks``
        (N, size, size, 1) float32 in {0, 1} for one organ, one-hot (N, size, size, K)
        float32 for a tuple (K = 1 + its length, channel 0 the background; the
        channels sum to 1 at every pixel); ``class_names`` name the channels, e.g.
        ("pancreas",) or ("background", "liver", "spleen").  ``names`` are
        ``s<subject:03d>_z<slice:03d>`` (slice 0 is the most cranial of the subject's
        stack; a slice that shows none of the organs is left out, so its number is
        skipped) and ``subjects`` the subject index of each slice.  Every slice
        shows the organ (for a tuple: at least one of them).
    """
    organs = organ_tuple(organ)
    names_of_channels = class_names(organs)
    size = _check_int("size", size, 16)
    parts, draw = subject_draws(n_subjects, seed, slices_per_subject, fractions)
    splits = []
    for subjects in parts:
        images, masks, names, owners = [], [], [], []
        for s in subjects:
            rng, n_slices = draw(s)
            levels, classes = render_subject(rng, n_slices, size, organs)
            shown = numpy.flatnonzero(classes.reshape(n_slices, -1).any(axis=1))
            images.append(levels[shown])
            masks.append(classes[shown])
            names += [f"s{s:03d}_z{k:03d}" for k in shown]
            owners += [s] * len(shown)
        images = numpy.concatenate(images).astype(numpy.float32)[..., None] / numpy.float32(255)
        masks = masks_from_classes(numpy.concatenate(masks), len(names_of_channels))
        splits.append(Split(images, masks, names, owners, names_of_channels))
    return Splits(*splits)


def subject_draws(n_subjects, seed, slices_per_subject=(12, 24), fractions=DEFAULT_FRACTIONS):
    """The phantom's split and its subjects' generators: (parts, draw).

    ``parts`` are the train / validation / test lists of subject indices;
    ``draw(s)`` gives subject s's fresh generator and slice count, ready for
    ``render_subject`` (or ``render_subject_hu``), the same for every ``n_subjects``.
    """
    n_subjects = _check_int("n_subjects", n_subjects, 3)
    lo, hi = _slice_range(slices_per_subject)
    seeds = numpy.random.SeedSequence(seed).spawn(n_subjects + 1)
    parts = split_subjects(n_subjects, numpy.random.default_rng(seeds[-1]), fractions)

    def draw(s):
        rng = numpy.random.default_rng(seeds[s])
        return rng, int(rng.integers(lo, hi + 1))
    return parts, draw


def render_subject(rng, n_slices, size, organs=("pancreas",)):
    """One subject's run of slices over ``organs``: (uint8 levels, uint8 class maps), each (n_slices, size, size).

    The slices are spread evenly over the heights where the subject shows the
    organs (``organs.extent``); a class map is 0 for background and k where the
    slice shows the k-th organ (``organs.class_map``).  The levels are
    ``render_subject_hu``'s Hounsfield units in the window 400 / level 40.
    """
    hu, classes = render_subject_hu(rng, n_slices, size, organs)
    return hu_to_levels(hu), classes


def hu_to_levels(hu):
    """The phantom's 8-bit levels of Hounsfield units: rint((hu + 160) * 255 / 400), clipped to 0..255."""
    levels = numpy.clip(numpy.rint((hu - (LEVEL - WINDOW / 2)) * (255 / WINDOW)), 0, 255)
    return levels.astype(numpy.uint8)


def render_subject_hu(rng, n_slices, size, organs=("pancreas",)):
    """``render_subject`` before windowing: (float64 Hounsfield units, uint8 class maps), each (n_slices, size, size)."""
    subject = an.Subject(rng)
    hu_table = numpy.array([rng.normal(*TISSUE_HU[label]) for label in range(an.N_LABELS)],
                           dtype=numpy.float32)
    hu_table[an.AIR] = -1000
    blur = rng.uniform(0.5, 1.2) * size / 256
    noise_hu = rng.uniform(10, 24)
    grain = 0.8 * size / 256

    z0, z1 = extent(subject, organs)
    heights = z0 + (numpy.arange(n_slices) + 0.5) / n_slices * (z1 - z0)
    labels = numpy.stack([subject.labels(z, size) for z in heights])
    pancreas = labels == an.PANCREAS
    hu = hu_table[labels]
    for k, z in enumerate(heights):
        rows, cols = numpy.nonzero(pancreas[k])
        fat = subject.pancreas_fat(rows, cols, z, size)
        hu[k, rows, cols] += fat * (hu_table[an.FAT] - hu_table[an.PANCREAS])
    feces = labels == an.FECES
    if feces.any():   # stool: soft tissue mottled with gas bubbles
        mottle = gaussian_blur(rng.standard_normal(labels.shape, dtype=numpy.float32), 1.2 * size / 256 + 0.5)
        hu[feces & (mottle > 0.15)] = hu_table[an.GAS]
    # blur (partial volume) plus noise correlated over about a pixel, as CT noise is,
    # scaled to keep its standard deviation; both in one pass through the spectrum
    noise = rng.standard_normal(hu.shape, dtype=numpy.float32)
    shape = hu.shape[-2:]
    spectrum = numpy.fft.rfft2(hu) * gaussian_transfer(shape, blur)
    spectrum += numpy.fft.rfft2(noise) * (gaussian_transfer(shape, grain) * (noise_hu / noise_gain(shape, grain)))
    hu = numpy.fft.irfft2(spectrum, s=shape)
    return hu, class_map(labels, organs)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < minimum:
        raise ValueError(f"make_phantom: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _slice_range(slices_per_subject):
    if isinstance(slices_per_subject, (tuple, list)):
        if len(slices_per_subject) != 2:
            raise ValueError(f"make_phantom: slices_per_subject must be an int or (lo, hi), "
                             f"got {slices_per_subject!r}")
        lo = _check_int("slices_per_subject[0]", slices_per_subject[0], 1)
        hi = _check_int("slices_per_subject[1]", slices_per_subject[1], lo)
        return lo, hi
    n = _check_int("slices_per_subject", slices_per_subject, 1)
    return n, n
