"""Lesson 2's data kept for the later lessons: ``data.npz`` in the run folder.

Images that are 8-bit grey levels / 255 (the phantom's and the notebook's PNGs) are stored
as their uint8 levels (``to_levels``) and read back exactly (``from_levels``); other images
are stored as float32.  Masks (N, H, W, K) are stored as uint8 0 / 1, names, subjects and
the K ``class_names`` as strings, and ``source`` says where the data came from ("phantom" or
"folders:<dir>").
"""

import zipfile

import numpy

from ..data.intensity import from_levels, to_levels
from ..data.splits import SPLIT_NAMES, Split, Splits
from ..fileio import atomic_write

FILE = "data.npz"


def save_data(run, splits, source):
    """Keep lesson 2's splits in ``data.npz`` (8-bit images stay 8-bit) with where they came from."""
    arrays = {}
    for name, split in splits.items():
        levels = to_levels(split.images)
        exact = numpy.array_equal(from_levels(levels), split.images)
        arrays[f"{name}_images"] = levels if exact else split.images
        arrays[f"{name}_masks"] = (split.masks > 0.5).astype(numpy.uint8)
        arrays[f"{name}_names"] = numpy.array(split.names, dtype=str)
        arrays[f"{name}_subjects"] = numpy.array([str(s) for s in split.subjects or []], dtype=str)
    arrays["class_names"] = numpy.array(splits.class_names, dtype=str)
    arrays["source"] = numpy.array(source)
    atomic_write(run.output(FILE), lambda file: numpy.savez(file, **arrays))


def load_data(run):
    """(splits, source) from ``data.npz``, running lesson 2 first when it is missing; a
    SystemExit that names the file when it cannot be read."""
    path = run.require(FILE, "lesson2_load_data.py")
    try:       # our own file object: numpy.load leaves the file it opened open when the zip is bad
        with open(path, "rb") as file, numpy.load(file, allow_pickle=False) as data:
            parts, source = _read_splits(data)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise SystemExit(f"{path}: not a readable data.npz of lesson 2 ({type(error).__name__}: {error}); "
                         f"running lesson2_load_data.py --out {run.folder} again rebuilds it") from None
    if run.args.data and source != f"folders:{run.args.data}":
        raise SystemExit(f"{run.path(FILE)} holds data from {source}, not {run.args.data}: "
                         "use another --out for other data")
    return Splits(**parts), source


def _read_splits(data):
    # a data.npz of one class from before class names were kept: Split's default names it
    class_names = tuple(str(c) for c in data["class_names"]) if "class_names" in data.files else None
    parts = {}
    for name in SPLIT_NAMES:
        images = data[f"{name}_images"]
        if images.dtype == numpy.uint8:
            images = from_levels(images)
        subjects = [str(s) for s in data[f"{name}_subjects"]] or None
        parts[name] = Split(images, data[f"{name}_masks"].astype(numpy.float32),
                            [str(n) for n in data[f"{name}_names"]], subjects, class_names)
    return parts, str(data["source"])
