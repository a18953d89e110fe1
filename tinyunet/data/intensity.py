"""CT intensities to 8-bit grey levels, and 8-bit levels to the network's [0, 1] images.

    window(hu, level, width) = round(clip((hu - (level - width / 2)) / width, 0, 1) * 255)
    to_levels(images)        = round(clip(images, 0, 1) * 255)          (as uint8)
    from_levels(levels)      = levels / 255                             (as float32)

The article shows CT in the abdomen soft-tissue window: width 400 HU centred on
level 40 HU, so -160 HU (fat and darker) is black, 240 HU (contrast-filled vessels,
bone) is white, and each of the 256 grey levels spans about 1.6 HU.
``from_levels(to_levels(x)) == x`` for any x that is already a multiple of 1 / 255.
"""

import numpy

LEVEL = 40      # HU at the centre of the abdomen soft-tissue window
WIDTH = 400     # HU from black to white


def window(hu, level=LEVEL, width=WIDTH):
    """Hounsfield units (any shape) to uint8 grey levels of the window [level - width/2, level + width/2]."""
    if width <= 0:
        raise ValueError(f"window: width must be positive, got {width!r}")
    hu = numpy.asarray(hu, dtype=numpy.float64)
    return numpy.rint(numpy.clip((hu - (level - width / 2)) / width, 0, 1) * 255).astype(numpy.uint8)


def to_levels(images):
    """Images in [0, 1] (any shape) to uint8 grey levels 0..255, rounded to the nearest level."""
    return numpy.clip(numpy.rint(numpy.asarray(images) * 255), 0, 255).astype(numpy.uint8)


def from_levels(levels):
    """uint8 grey levels to float32 images in [0, 1]."""
    return numpy.asarray(levels).astype(numpy.float32) / numpy.float32(255)
