"""What every figure draws with: Pillow's font, centred text, arrows, a legend, the shared colours, atomic saving.

A figure function builds a PIL ``Image`` and ends with ``finish(image, path)``:
given a path it writes the PNG atomically (a temporary file in the same folder,
then a rename), so a reader never sees a half-written figure and nothing but
``path`` is replaced.
"""

import math

from PIL import ImageFont

from ..fileio import atomic_write

WHITE, BLACK, GRAY = (255, 255, 255), (0, 0, 0), (120, 120, 120)


def font(size=14):
    """Pillow's own font at ``size`` pixels (Pillow >= 10.1), else its small bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def save(image, path):
    """Write ``image`` as PNG to ``path`` atomically: temporary file beside it, then rename."""
    return atomic_write(path, lambda stream: image.save(stream, format="PNG"))


def finish(image, path):
    """``image``, first saved to ``path`` when a path is given."""
    if path is not None:
        save(image, path)
    return image


def text_width(draw, text, typeface):
    """Width in pixels of ``text`` in ``typeface``."""
    return draw.textlength(text, font=typeface)


def centred_text(draw, xy, text, typeface, fill=BLACK):
    """``text`` with its top edge at y, centred on x."""
    x, y = xy
    draw.text((x - text_width(draw, text, typeface) / 2, y), text, font=typeface, fill=fill)


def arrow(draw, start, end, fill=BLACK, width=2, head=9):
    """A straight arrow from ``start`` to ``end`` with a filled head at ``end``."""
    (x0, y0), (x1, y1) = start, end
    angle = math.atan2(y1 - y0, x1 - x0)
    base = (x1 - head * math.cos(angle), y1 - head * math.sin(angle))
    draw.line([start, base], fill=fill, width=width)
    left = (base[0] + head * 0.5 * math.sin(angle), base[1] - head * 0.5 * math.cos(angle))
    right = (base[0] - head * 0.5 * math.sin(angle), base[1] + head * 0.5 * math.cos(angle))
    draw.polygon([end, left, right], fill=fill)


def legend(draw, xy, entries, typeface, box=14, spacing=22):
    """One row of (colour, name) entries, a filled square before each name, centred on x, top at y."""
    x, y = xy
    widths = [box + 6 + text_width(draw, name, typeface) for _, name in entries]
    left = x - (sum(widths) + spacing * (len(entries) - 1)) / 2
    for (colour, name), width in zip(entries, widths):
        draw.rectangle([left, y + 1, left + box, y + 1 + box], fill=colour, outline=BLACK)
        draw.text((left + box + 6, y), name, font=typeface, fill=BLACK)
        left += width + spacing
