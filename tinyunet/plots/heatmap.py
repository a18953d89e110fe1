"""Heat maps and grey maps with their colour bars: probabilities (0 to 1) and signed weights.

    heat_colours(values, low=0, high=1)     RGB uint8 (..., 3): a dark-to-bright palette
                                            (black, purple, red, orange, pale yellow), so a
                                            probability reads as brightness in colour or grey
    grey_levels(values, low, high)          RGB uint8 (..., 3): low black, high white
    colour_bar(image, box, low, high, ...)  a vertical bar in ``box`` with ticks and a label

``colour_bar`` paints the bar with the very function that painted the map, so each
colour of the map can be read off the bar.

Example:
    >>> rgb = heat_colours(probabilities[0, ..., 0])              # (H, W, 3)
    >>> colour_bar(figure, (x, y, x + 16, y + 200), 0, 1, heat_colours, label="probability")
"""

import numpy
from PIL import ImageDraw

from .draw import BLACK, font, text_width

# anchors of the palette from 0 to 1, evenly spaced; dark to bright, as the "inferno" colour map
HEAT_ANCHORS = numpy.array([(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)],
                           dtype=numpy.float64)


def _unit(values, low, high):
    values = numpy.asarray(values, dtype=numpy.float64)
    span = high - low if high > low else 1.0
    return numpy.clip((values - low) / span, 0.0, 1.0)


def heat_colours(values, low=0.0, high=1.0):
    """RGB uint8 of ``values`` on the heat palette, ``low`` the darkest and ``high`` the brightest."""
    position = _unit(values, low, high) * (len(HEAT_ANCHORS) - 1)
    below = numpy.minimum(position.astype(int), len(HEAT_ANCHORS) - 2)
    part = (position - below)[..., None]
    rgb = (1 - part) * HEAT_ANCHORS[below] + part * HEAT_ANCHORS[below + 1]
    return numpy.rint(rgb).astype(numpy.uint8)


def grey_levels(values, low, high):
    """RGB uint8 of ``values`` as grey, ``low`` black and ``high`` white."""
    level = numpy.rint(_unit(values, low, high) * 255).astype(numpy.uint8)
    return numpy.repeat(level[..., None], 3, axis=-1)


def colour_bar(image, box, low, high, colours, ticks=None, label=None, digits=2):
    """A vertical bar from ``low`` (bottom) to ``high`` (top) in ``box`` (x0, y0, x1, y1), ticks on its right.

    ``colours(values, low, high)`` is the map's own colour function; ``ticks`` default
    to low, the middle and high; ``label`` is written above the bar.
    """
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    draw = ImageDraw.Draw(image)
    rows = numpy.linspace(high, low, y1 - y0)
    strip = colours(rows, low, high)
    for k, colour in enumerate(strip):
        draw.line([(x0, y0 + k), (x1, y0 + k)], fill=tuple(int(c) for c in colour))
    draw.rectangle([x0, y0, x1, y1], outline=BLACK)
    tick_font = font(12)
    ticks = [low, (low + high) / 2, high] if ticks is None else ticks
    for value in ticks:
        y = y1 - (value - low) / ((high - low) or 1.0) * (y1 - y0)
        draw.line([(x1, y), (x1 + 4, y)], fill=BLACK)
        draw.text((x1 + 6, y - 7), f"{value:.{digits}g}", font=tick_font, fill=BLACK)
    if label:
        draw.text(((x0 + x1) / 2 - text_width(draw, label, tick_font) / 2, y0 - 18), label, font=tick_font,
                  fill=BLACK)
