"""Figure 9: where the errors are: true positives, false positives near and far, false negatives.

"It both selects pixels far from the expected location of the pancreas, as well as not
identifying pixels that are pancreas" (the article).  Each test image is drawn in grey with
every pixel of the thresholded prediction painted in one opaque colour by what it is
(diagnostics.error_map): found pancreas, a false positive within ``near`` pixels of the
true pancreas (a generous boundary), a false positive farther away (the article's "far from
the expected location"), and missed pancreas.  The colours are named in the legend and
each image is labelled with its four counts.  Under each whole slice, a zoom on the
pancreas (``zoom_window``: the square around the true and predicted pixels near it)
shows the boundary errors pixel by pixel.
"""

import numpy
from PIL import Image, ImageDraw

from .. import diagnostics
from ..data.intensity import to_levels
from .draw import WHITE, centred_text, finish, font, legend

ERROR_COLOURS = {diagnostics.TRUE_POSITIVE: ("true positive", (0, 200, 255)),
                 diagnostics.FALSE_POSITIVE_NEAR: ("false positive near", (255, 215, 0)),
                 diagnostics.FALSE_POSITIVE_FAR: ("false positive far", (230, 0, 0)),
                 diagnostics.FALSE_NEGATIVE: ("false negative (missed)", (200, 0, 220))}


def error_overlay(image, codes, scale=1):
    """RGB uint8 (H * scale, W * scale, 3): the grey ``image`` with each error code's colour, opaque."""
    levels = to_levels(numpy.asarray(image).reshape(codes.shape))
    rgb = numpy.repeat(levels[..., None], 3, axis=2)
    for code, (_, colour) in ERROR_COLOURS.items():
        rgb[codes == code] = colour
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else rgb


def zoom_window(codes, near, smallest=24):
    """(y0, x0, side): a square of ``codes`` (H, W) around its true pancreas pixels (TP and FN) and the
    near false positives, ``near`` pixels of margin, at least ``smallest`` pixels; the centre if none."""
    h, w = codes.shape
    side = min(h, w, smallest)
    points = numpy.argwhere(numpy.isin(codes, (diagnostics.TRUE_POSITIVE, diagnostics.FALSE_NEGATIVE,
                                               diagnostics.FALSE_POSITIVE_NEAR)))
    if not len(points):
        return (h - side) // 2, (w - side) // 2, side
    (y_lo, x_lo), (y_hi, x_hi) = points.min(axis=0), points.max(axis=0)
    side = int(min(h, w, max(side, y_hi - y_lo + 1 + 2 * near, x_hi - x_lo + 1 + 2 * near)))
    y0 = int(numpy.clip((y_lo + y_hi + 1 - side) // 2, 0, h - side))
    x0 = int(numpy.clip((x_lo + x_hi + 1 - side) // 2, 0, w - side))
    return y0, x0, side


def figure9_errors(images, codes, names=None, near=diagnostics.NEAR_PIXELS, threshold=0.5, organ="pancreas",
                   columns=4, panel=192, title=None, path=None):
    """Figure 9 from ``images`` (N, H, W[, 1]) and their ``codes`` (N, H, W), diagnostics.error_map's.

    ``image.info["panels"]`` lists (image index, "slice" | "zoom", (x, y), scale, (y0, x0,
    side)) of each panel, the last the part of the slice it shows; ``info["colours"]`` maps
    each error code to its RGB colour.
    """
    images, codes = numpy.asarray(images), numpy.asarray(codes)
    n, h, w = codes.shape
    if images.shape[:3] != codes.shape:
        raise ValueError(f"figure9_errors: images {images.shape} and error codes {codes.shape} do not match")
    title = title or f"Figure 9. Where the errors are (threshold {threshold:g}; near = within {near} px of the {organ})"
    scale = max(1, round(panel / max(h, w)))
    ph, pw = h * scale, w * scale
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    gap, margin, top, label_h, zoom_h = 14, 20, 96, 40, ph + 22
    title_font = font(17)
    width = max(2 * margin + columns * pw + (columns - 1) * gap, int(title_font.getlength(title)) + 2 * margin)
    left = (width - columns * pw - (columns - 1) * gap) // 2
    block = ph + label_h + zoom_h + gap
    height = top + rows * block + 4
    figure = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(figure)
    centred_text(draw, (width / 2, 12), title, title_font)
    distance = {diagnostics.FALSE_POSITIVE_NEAR: f" (<= {near} px)", diagnostics.FALSE_POSITIVE_FAR: f" (> {near} px)"}
    entries = [(colour, name + distance.get(code, "")) for code, (name, colour) in ERROR_COLOURS.items()]
    legend(draw, (width / 2, 48), entries[:2], font(13))
    legend(draw, (width / 2, 68), entries[2:], font(13))
    panels, small = [], font(12)
    for i in range(n):
        x = left + (i % columns) * (pw + gap)
        y = top + (i // columns) * block
        figure.paste(Image.fromarray(error_overlay(images[i], codes[i], scale)), (x, y))
        panels.append((i, "slice", (x, y), scale, (0, 0, h)))
        y0, x0, side = zoom_window(codes[i], near)
        zoom = max(1, ph // side)
        crop = (slice(y0, y0 + side), slice(x0, x0 + side))
        zx, zy = x + (pw - side * zoom) // 2, y + ph + label_h
        figure.paste(Image.fromarray(error_overlay(images[i][crop], codes[i][crop], zoom)), (zx, zy))
        panels.append((i, "zoom", (zx, zy), zoom, (y0, x0, side)))
        centred_text(draw, (x + pw / 2, zy + side * zoom + 3), f"zoom: rows {y0}-{y0 + side - 1}, "
                                                                 f"columns {x0}-{x0 + side - 1}", small)
        count = {code: int((codes[i] == code).sum()) for code in ERROR_COLOURS}
        name = names[i] if names is not None else f"image {i + 1}"
        centred_text(draw, (x + pw / 2, y + ph + 3), name, small)
        centred_text(draw, (x + pw / 2, y + ph + 19),
                     f"TP {count[diagnostics.TRUE_POSITIVE]}  FP near {count[diagnostics.FALSE_POSITIVE_NEAR]}  "
                     f"FP far {count[diagnostics.FALSE_POSITIVE_FAR]}  FN {count[diagnostics.FALSE_NEGATIVE]}", small)
    figure.info["panels"] = panels
    figure.info["colours"] = {code: colour for code, (_, colour) in ERROR_COLOURS.items()}
    return finish(figure, path)
