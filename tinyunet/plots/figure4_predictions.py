"""Figure 4: one row per test image, ground truth beside the thresholded prediction, pancreas in cyan.

With ``probabilities=True`` a third column shows the probability map the mask was cut
from, on the heat palette with a colour bar (off by default: the article's two columns).

One class: masks and predictions (N, H, W, 1), the prediction binarised at
``threshold``, the organ in the article's translucent cyan.  K >= 2 classes
(one-hot masks with the background first, softmax predictions (N, H, W, K)): each
pixel takes its most probable class, each organ has its own colour
(``class_colours``), and a legend under the title names them.
"""

import numpy
from PIL import Image, ImageDraw

from .. import diagnostics, metrics
from ..data.intensity import to_levels
from ..data.preview import CYAN, overlay
from .draw import WHITE, centred_text, finish, font, legend
from .heatmap import colour_bar, heat_colours

# the article shows the pancreas in cyan; the other organs of the phantom get colours far from it
ORGAN_COLOURS = {"pancreas": CYAN, "liver": (255, 140, 0), "spleen": (230, 0, 230), "kidneys": (255, 230, 0)}
SPARE_COLOURS = ((0, 200, 0), (255, 40, 40), (60, 90, 255), (150, 80, 0), (0, 130, 130), (130, 0, 200))


def class_colours(class_names):
    """One RGB colour per foreground class of ``class_names`` (channel 0, the background, has none)."""
    spare = iter(SPARE_COLOURS * len(class_names))
    return [ORGAN_COLOURS.get(name) or next(spare) for name in class_names[1:]]


def label_overlay(image, labels, colours, alpha=0.45, scale=1):
    """An RGB uint8 array: the gray ``image`` (H, W) with colours[k - 1] blended where ``labels`` == k.

    Each class k >= 1 is blended as ``overlay`` blends the cyan: (1 - alpha) * level +
    alpha * colour; label 0 (background) stays gray.  Shape (H * scale, W * scale, 3).
    """
    levels = to_levels(numpy.asarray(image).reshape(image.shape[:2]))
    rgb = numpy.repeat(levels[..., None], 3, axis=2).astype(numpy.float64)
    for k, colour in enumerate(colours, start=1):
        inside = labels == k
        rgb[inside] = (1 - alpha) * rgb[inside] + alpha * numpy.array(colour, dtype=numpy.float64)
    rgb = numpy.rint(rgb).astype(numpy.uint8)
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else rgb


def figure4_predictions(images, masks, predictions, threshold=0.5, names=None, class_names=None,
                        title=None, panel=256, probabilities=False, path=None):
    """Figure 4: one row per test image, ground truth beside the prediction.

    ``images``: NHWC (or NHW); ``masks`` and ``predictions`` (N, H, W, K) (or NHW for
    K = 1).  K = 1: the predictions are probabilities binarised at ``threshold``, drawn
    in cyan.  K >= 2: masks one-hot, predictions per-class probabilities, each pixel
    drawn in the colour of its most probable class; ``class_names`` (default
    "background", "class_1", ...) name the classes in a legend.  Each row is labelled
    with the Dice of that image (``metrics.dice_per_image``; for K >= 2 the mean over the
    organs of ``metrics.dice_score``).  Panels are enlarged by pixel repetition to about
    ``panel`` pixels.  ``probabilities``: a third column, the probability map (for K >= 2
    the foreground's, 1 - p(background)) on the heat palette, with a colour bar.
    ``image.info["panels"]`` lists (row, "truth" | "prediction" | "probability", (x, y),
    scale) for each panel.
    """
    images, masks, predictions = (numpy.asarray(a) for a in (images, masks, predictions))
    if title is None:
        title = ("Figure 4. Test images: ground truth, prediction and probability" if probabilities else
                 "Figure 4. Test images: ground truth (left) and prediction (right)")
    n, h, w = images.shape[:3]
    classes = masks.shape[-1] if masks.ndim == 4 else 1
    scale = max(1, round(panel / max(h, w)))
    ph, pw = h * scale, w * scale
    gap, left, top, label_h = 16, 16, 78, 24
    if classes == 1:
        binary = (predictions > threshold).astype(numpy.float32)
        dices = metrics.dice_per_image(masks.reshape(n, h, w, -1), binary.reshape(n, h, w, -1))
        drawn = [(overlay(images[i], masks[i], scale=scale), overlay(images[i], binary[i], scale=scale))
                 for i in range(n)]
    else:
        class_names = tuple(class_names or ("background", *(f"class_{k}" for k in range(1, classes))))
        if len(class_names) != classes:
            raise ValueError(f"figure4_predictions: {len(class_names)} class_names {class_names} for "
                             f"masks of {classes} channels")
        colours = class_colours(class_names)
        dices = [metrics.dice_score(masks[i:i + 1], predictions[i:i + 1], class_names=class_names)["mean"]
                 for i in range(n)]
        drawn = [tuple(label_overlay(images[i], labels.argmax(axis=-1), colours, scale=scale)
                       for labels in (masks[i], predictions[i])) for i in range(n)]
        top += 26
    kinds = ("truth", "prediction", "probability") if probabilities else ("truth", "prediction")
    if probabilities:
        heat = heat_colours(diagnostics.foreground(predictions)).repeat(scale, axis=1).repeat(scale, axis=2)
        drawn = [(*pair, heat[i]) for i, pair in enumerate(drawn)]
    bar_room = 70 if probabilities else 0
    columns = len(kinds)
    title_font = font(17)
    width = max(left * 2 + columns * pw + (columns - 1) * gap + bar_room, int(title_font.getlength(title)) + 2 * left)
    left = (width - columns * pw - (columns - 1) * gap - bar_room) // 2
    height = top + n * (ph + label_h + gap) + 8
    figure = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(figure)
    centred_text(draw, (width / 2, 12), title, title_font)
    head = font(15)
    if classes > 1:
        legend(draw, (width / 2, 40), list(zip(colours, class_names[1:])), head)
    kind = "prediction (> %g)" % threshold if classes == 1 else "prediction (most probable class)"
    centred_text(draw, (left + pw / 2, top - 26), "ground truth", head)
    centred_text(draw, (left + pw + gap + pw / 2, top - 26), kind, head)
    if probabilities:
        centred_text(draw, (left + 2 * (pw + gap) + pw / 2, top - 26), "probability", head)
        bar_x = left + 3 * pw + 2 * gap + 12
        colour_bar(figure, (bar_x, top, bar_x + 16, top + min(n * ph, 300)), 0.0, 1.0, heat_colours,
                   ticks=[0, 0.25, 0.5, 0.75, 1])
    panels = []
    for i in range(n):
        y = top + i * (ph + label_h + gap)
        for j, kind in enumerate(kinds):
            x = left + j * (pw + gap)
            figure.paste(Image.fromarray(drawn[i][j]), (x, y))
            panels.append((i, kind, (x, y), scale))
        name = f"{names[i]}: " if names is not None else f"image {i + 1}: "
        centred_text(draw, (left + (columns * pw + (columns - 1) * gap) / 2, y + ph + 3),
                     f"{name}Dice = {dices[i]:.2f}", head)
    figure.info["panels"] = panels
    return finish(figure, path)
