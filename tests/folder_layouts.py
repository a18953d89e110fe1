"""Hand-made data sets in the notebook's folder layout, for the load_folders and export_folders tests.

``tiny_layout`` writes a whole data set (every split holds the same names),
``write_png`` one 8-bit image, ``square_mask`` a 0 / 255 mask with a 3x3
square, and ``snapshot`` every file's hash and mtime below a folder, so a test
can show that a call wrote nothing.
"""

import hashlib
import os

import numpy
from PIL import Image

FOLDERS = ["trainimages", "trainmasks", "validationimages", "validationmasks", "testimages", "testmasks"]


def write_png(path, array, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(numpy.asarray(array, dtype=numpy.uint8)).convert(mode).save(path)


def square_mask(size=8):
    mask = numpy.zeros((size, size), numpy.uint8)
    mask[2:5, 3:6] = 255
    return mask


def tiny_layout(root, names=("a",), image_ext=".png", mask_name="{}{}", flat=False, size=8):
    """A hand-made data set: every split holds ``names``."""
    for split in ("train", "validation", "test"):
        for i, name in enumerate(names):
            image = numpy.full((size, size), 10 * i + 20, numpy.uint8)
            write_png(root / f"{split}images" / f"{name}{image_ext}", image)
            folder = root / (f"{split}images" if flat else f"{split}masks")
            write_png(folder / mask_name.format(name, image_ext), square_mask(size))
    return root


def snapshot(root):
    out = {}
    for folder, _, files in os.walk(root):
        for f in files:
            p = os.path.join(folder, f)
            with open(p, "rb") as file:
                out[p] = (hashlib.sha256(file.read()).hexdigest(), os.stat(p).st_mtime_ns)
    return out
