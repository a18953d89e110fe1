"""A contact sheet: a grid of slices, each with its pancreas mask outlined in cyan.

For a person to look at the data (``python -m tinyunet data preview``): the
slices are spread evenly over the split, so one sheet shows cranial and caudal
levels of several subjects, and each tile carries the slice's name.

Example:
    >>> contact_sheet(data.test, columns=4, rows=3).save("sheet.png")
"""

import numpy
from PIL import Image, ImageDraw

CYAN = (0, 255, 255)


def contact_sheet(split, columns=4, rows=3, tile=None, fill=False):
    """A Pillow RGB image of up to columns x rows slices of ``split``, masks outlined in cyan.

    ``tile`` is the side of a tile in pixels (default: the image size); ``fill``
    tints the mask's inside as well as outlining it.
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
        sheet.paste(overlay(split.images[i, ..., 0], split.masks[i, ..., 0], fill).resize(
            (side, side), Image.NEAREST), (x, y))
        draw.text((x + 3, y + side + 1), str(split.names[i]), fill=(255, 255, 255))
    return sheet


def overlay(image, mask, fill=False):
    """An RGB Pillow image of one slice (H, W in [0, 1]) with its mask's edge (and inside) in cyan."""
    gray = numpy.clip(numpy.rint(numpy.asarray(image) * 255), 0, 255).astype(numpy.uint8)
    rgb = numpy.repeat(gray[..., None], 3, axis=2)
    inside = numpy.asarray(mask) > 0.5
    if fill:
        rgb[inside] = (0.6 * rgb[inside] + 0.4 * numpy.array(CYAN)).astype(numpy.uint8)
    rgb[inside & ~_eroded(inside)] = CYAN
    return Image.fromarray(rgb)


def _eroded(inside):
    """Pixels whose four neighbours are all inside too (so inside & ~eroded is the edge)."""
    p = numpy.pad(inside, 1)
    return p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
