"""Figure 4: one row per test image, ground truth beside the thresholded prediction, pancreas in cyan."""

import numpy
from PIL import Image, ImageDraw

from .. import metrics
from ..data.preview import overlay
from .draw import WHITE, centred_text, finish, font


def figure4_predictions(images, masks, predictions, threshold=0.5, names=None,
                        title="Figure 4. Test images: ground truth (left) and prediction (right)",
                        panel=256, path=None):
    """Figure 4: one row per test image, ground truth beside thresholded prediction.

    ``images``, ``masks``, ``predictions``: NHWC (or NHW) arrays; the predictions are
    probabilities and are binarised at ``threshold``.  Each row is labelled with the Dice
    of that image (``metrics.dice_per_image``).  Panels are enlarged by pixel repetition
    to about ``panel`` pixels.  ``image.info["panels"]`` lists
    (row, "truth" | "prediction", (x, y), scale) for each panel.
    """
    images, masks, predictions = (numpy.asarray(a) for a in (images, masks, predictions))
    n, h, w = images.shape[:3]
    scale = max(1, round(panel / max(h, w)))
    ph, pw = h * scale, w * scale
    gap, left, top, label_h = 16, 16, 78, 24
    binary = (predictions > threshold).astype(numpy.float32)
    dices = metrics.dice_per_image(masks.reshape(n, h, w, -1), binary.reshape(n, h, w, -1))
    title_font = font(17)
    width = max(left * 2 + 2 * pw + gap, int(title_font.getlength(title)) + 2 * left)
    left = (width - 2 * pw - gap) // 2
    height = top + n * (ph + label_h + gap) + 8
    figure = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(figure)
    centred_text(draw, (width / 2, 12), title, title_font)
    head = font(15)
    centred_text(draw, (left + pw / 2, top - 26), "ground truth", head)
    centred_text(draw, (left + pw + gap + pw / 2, top - 26), "prediction (> %g)" % threshold, head)
    panels = []
    for i in range(n):
        y = top + i * (ph + label_h + gap)
        for j, (kind, mask) in enumerate((("truth", masks[i]), ("prediction", binary[i]))):
            x = left + j * (pw + gap)
            figure.paste(Image.fromarray(overlay(images[i], mask, scale=scale)), (x, y))
            panels.append((i, kind, (x, y), scale))
        name = f"{names[i]}: " if names is not None else f"image {i + 1}: "
        centred_text(draw, (width / 2, y + ph + 3), f"{name}Dice = {dices[i]:.2f}", head)
    figure.info["panels"] = panels
    return finish(figure, path)
