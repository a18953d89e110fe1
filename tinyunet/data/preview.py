"""A contact sheet of slices with their masks outlined, and the overlay the figures share.

For a person to look at the data (``python -m tinyunet data preview``): the
slices are spread evenly over the split, so one sheet shows cranial and caudal
levels of several subjects, and each tile carries the slice's name.
``overlay`` and ``outline`` also draw Figure 4 and Figure 1 (``tinyunet.plots``).

Example:
    >>> contact_sheet(data.test, columns=4, rows=3).save("sheet.png")
"""

import numpy
from PIL import Image, ImageDraw

from .intensity import to_levels

CYAN = (0, 255, 255)   # the article's mask colour
# one colour per foreground class of one-hot masks (class k has the (k - 1)-th, cycling)
CLASS_COLOURS = {"cyan": CYAN, "red": (255, 60, 60), "yellow": (255, 220, 0), "green": (60, 220, 60),
                 "magenta": (255, 0, 255), "orange": (255, 140, 0)}


def contact_sheet(split, columns=4, rows=3, tile=None, fill=False):
    """A Pillow RGB image of up to columns x rows slices of ``split``, masks outlined in cyan.

    ``tile`` is the side of a tile in pixels (default: the image size); ``fill``
    tints the mask's inside as well as outlining it.  One-hot masks of K >= 2
    classes outline each foreground class in its own colour (``class_colour``).
    """
    if len(split) == 0:
        raise ValueError("contact_sheet: the split holds no slices")
    count = min(columns * rows, len(split))
    picks = numpy.unique(numpy.linspace(0, len(split) - 1, count).round().astype(int))
    side = tile or split.images.shape[1]
    label_h = 14
    columns = min(columns, len(picks))
    rows = -(-len(picks) // columns)
    sheet = Image.new("RGB", (columns * side, rows * (side + label_h)), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    for n, i in enumerate(picks):
        x, y = (n % columns) * side, (n // columns) * (side + label_h)
        tile_rgb = _tile(split.images[i, ..., 0], split.masks[i], alpha=0.4 if fill else 0.0)
        sheet.paste(Image.fromarray(tile_rgb).resize((side, side), Image.NEAREST), (x, y))
        draw.text((x + 3, y + side + 1), str(split.names[i]), fill=(255, 255, 255))
    return sheet


def class_colour(k):
    """(name, RGB) of the colour that marks foreground class k >= 1 of one-hot masks."""
    return list(CLASS_COLOURS.items())[(k - 1) % len(CLASS_COLOURS)]


def _tile(image, masks, alpha):
    """One slice (H, W) with its masks (H, W, K): cyan for one class, ``class_colour(k)`` for class k."""
    if masks.shape[-1] == 1:
        return overlay(image, masks[..., 0], alpha=alpha, edge=True)
    rgb = overlay(image, numpy.zeros(image.shape), alpha=0.0).astype(numpy.float64)
    for k in range(1, masks.shape[-1]):
        inside = masks[..., k] > 0.5
        colour = numpy.array(class_colour(k)[1], dtype=numpy.float64)
        rgb[inside] = (1 - alpha) * rgb[inside] + alpha * colour
        rgb[outline(inside)] = colour
    return numpy.rint(rgb).astype(numpy.uint8)


def overlay(image, mask, alpha=0.45, scale=1, edge=False):
    """An RGB uint8 array: the gray ``image`` (H, W) in [0, 1] with cyan blended where ``mask`` > 0.5.

    Outside the mask R = G = B = the image's 8-bit level; inside, each channel is
    (1 - alpha) * level + alpha * CYAN, so R drops below G = B on any gray level.
    ``edge`` paints the mask's outline in pure cyan; ``scale`` enlarges by pixel
    repetition.  Shape (H * scale, W * scale, 3).
    """
    levels = to_levels(numpy.asarray(image).reshape(image.shape[:2]))
    rgb = numpy.repeat(levels[..., None], 3, axis=2).astype(numpy.float64)
    inside = numpy.asarray(mask).reshape(mask.shape[:2]) > 0.5
    rgb[inside] = (1 - alpha) * rgb[inside] + alpha * numpy.array(CYAN, dtype=numpy.float64)
    if edge:
        rgb[outline(inside)] = CYAN
    rgb = numpy.rint(rgb).astype(numpy.uint8)
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return rgb


def outline(mask, width=1):
    """The edge of ``mask`` (H, W) as bool: pixels inside with a 4-neighbour outside (or off the image).

    ``width`` > 1 widens it by as many pixels down and to the right.
    """
    inside = numpy.asarray(mask) > 0.5
    p = numpy.pad(inside, 1)
    edge = inside & ~(p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:])
    for _ in range(width - 1):
        grown = edge.copy()
        grown[1:, :] |= edge[:-1, :]
        grown[:, 1:] |= edge[:, :-1]
        edge = grown
    return edge
