"""Figure 1: truth and prediction at no, small and full overlap, each with its Dice.

    Dice = 2 |X and Y| / (|X| + |Y|)      X the truth, Y the prediction (0: no overlap, 1: perfect)
"""

import numpy
from PIL import Image, ImageDraw

from .. import metrics
from ..data.preview import outline
from .draw import BLACK, GRAY, WHITE, centred_text, finish, font

TRUTH, PREDICTION = (0, 160, 90), (200, 40, 160)


def _ellipse_mask(size, centre, radii):
    yy, xx = numpy.mgrid[0:size, 0:size]
    return (((xx - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2 <= 1).astype(numpy.float32)


def overlap_cases(size=220, target_small=0.1):
    """The three mask pairs of Figure 1, (name, truth, prediction), as float32 (size, size).

    The small case shifts the prediction until its Dice is the closest to ``target_small``.
    """
    radii = (size * 0.2, size * 0.27)
    centre = size / 2
    truth = _ellipse_mask(size, (centre - radii[0] * 0.55, centre), radii)
    far = _ellipse_mask(size, (centre + radii[0] * 1.35, centre), radii)
    truth_far = _ellipse_mask(size, (centre - radii[0] * 1.35, centre), radii)
    shifts = numpy.arange(0, 2 * radii[0], 0.5)
    candidates = [_ellipse_mask(size, (centre - radii[0] * 0.55 + s, centre), radii) for s in shifts]
    dices = [metrics.dice_score(truth, c) for c in candidates]
    small = candidates[int(numpy.argmin(numpy.abs(numpy.array(dices) - target_small)))]
    return [("no overlap", truth_far, far), ("small overlap", truth, small), ("full overlap", truth, truth.copy())]


def _two_masks(truth, prediction, alpha=0.35):
    """White canvas with the truth and the prediction filled translucently and outlined."""
    canvas = numpy.full(truth.shape + (3,), 255.0)
    for mask, colour in ((truth, TRUTH), (prediction, PREDICTION)):
        m = mask.astype(bool)[..., None]
        canvas = numpy.where(m, (1 - alpha) * canvas + alpha * numpy.array(colour), canvas)
    for mask, colour in ((truth, TRUTH), (prediction, PREDICTION)):
        canvas[outline(mask, width=2)] = colour
    return Image.fromarray(canvas.round().astype(numpy.uint8))


def figure1_dice(cases=None, path=None):
    """Figure 1: truth and prediction at no, small and full overlap, each with its Dice.

    ``cases`` is a list of (name, truth, prediction) 2-D masks (``overlap_cases()`` by
    default); each Dice is ``metrics.dice_score`` of the pair, the number that is printed.
    """
    cases = overlap_cases() if cases is None else cases
    size = max(c[1].shape[0] for c in cases)
    big, normal, small = font(20), font(16), font(14)
    pad, top, bottom = 24, 84, 64
    width = pad + len(cases) * (size + pad)
    image = Image.new("RGB", (width, top + size + bottom), WHITE)
    draw = ImageDraw.Draw(image)
    centred_text(draw, (width / 2, 10), "Figure 1. Dice similarity coefficient", big)
    centred_text(draw, (width / 2, 38), "Dice = 2 |X and Y| / (|X| + |Y|)   (0 = no overlap, 1 = perfect)", small)
    for i, (name, truth, prediction) in enumerate(cases):
        x = pad + i * (size + pad)
        image.paste(_two_masks(truth, prediction), (x, top))
        draw.rectangle([x - 1, top - 1, x + truth.shape[1], top + truth.shape[0]], outline=GRAY)
        dice = metrics.dice_score(truth, prediction)
        centred_text(draw, (x + size / 2, top + size + 8), f"({'abc'[i % 3]}) {name}", normal)
        centred_text(draw, (x + size / 2, top + size + 30), f"Dice = {dice:.2f}", normal)
    legend_y = top - 22
    for j, (label, colour) in enumerate((("X: truth", TRUTH), ("Y: prediction", PREDICTION))):
        lx = width / 2 - 130 + j * 140
        draw.rectangle([lx, legend_y, lx + 14, legend_y + 14], fill=colour)
        draw.text((lx + 20, legend_y - 1), label, font=small, fill=BLACK)
    return finish(image, path)
