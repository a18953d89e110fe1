"""Figure 7: the probabilities behind the masks, the threshold that turns them into masks, how binary they are.

"A sigmoid function is used to constrain values to a range of 0 to 1" and "we apply a
threshold of 0.5 to determine whether it predicts a pixel as pancreas or not" (the article).
Left, per test image: the truth (cyan), the probability map on the heat palette with its
colour bar, and the mask at the threshold (cyan).  Right, top: the validation Dice (all
pixels pooled) at each threshold 0.05 ... 0.95, the article's 0.5 marked in grey and the
best threshold in red.  Right, bottom: a histogram of the predicted probabilities, counts
on a log scale, so that a network whose outputs are nearly all 0 or 1 shows two tall
end bars.  K classes: the probability drawn is the foreground's, 1 - p(background).
"""

import math

import numpy
from PIL import Image, ImageDraw

from .. import diagnostics
from ..data.preview import CYAN, overlay
from .draw import BLACK, GRAY, WHITE, centred_text, finish, font, text_width
from .figure3_loss import BLUE, nice_ticks
from .heatmap import colour_bar, heat_colours

BEST = (214, 39, 40)    # the best threshold's line


def _axes(draw, box, xticks, yticks, to_px, xlabel, ylabel, tick_text=None):
    """A framed plot area with grid lines, ticks and labels; ``to_px(x, y)`` maps data to pixels."""
    small = font(12)
    for t in yticks:
        _, py = to_px(xticks[0], t)
        draw.line([(box[0], py), (box[2], py)], fill=(235, 235, 235))
        text = tick_text(t) if tick_text else f"{t:g}"
        draw.text((box[0] - 6 - text_width(draw, text, small), py - 7), text, font=small, fill=BLACK)
    for t in xticks:
        px, _ = to_px(t, yticks[0])
        draw.line([(px, box[3]), (px, box[3] + 4)], fill=BLACK)
        centred_text(draw, (px, box[3] + 6), f"{t:g}", small)
    draw.rectangle(box, outline=BLACK)
    centred_text(draw, ((box[0] + box[2]) / 2, box[3] + 24), xlabel, font(13))
    draw.text((box[0], box[1] - 20), ylabel, font=font(13), fill=BLACK)


def _dashed(draw, x, y0, y1, colour):
    for y in range(int(y0), int(y1), 8):
        draw.line([(x, y), (x, min(y + 4, y1))], fill=colour, width=2)


def _sweep_plot(draw, box, sweep, threshold):
    # the axis spans the curve to the next tenth either side: a flat curve is flat, not a line on 0.66
    lo = max(0.0, math.floor(float(sweep.dice.min()) * 10 - 1e-9) / 10)
    hi = min(1.0, math.floor(float(sweep.dice.max()) * 10 + 1) / 10)
    yticks = nice_ticks(lo, max(hi, lo + 0.1), 5)

    def to_px(t, d):
        return (box[0] + t * (box[2] - box[0]), box[3] - (d - yticks[0]) / (yticks[-1] - yticks[0]) * (box[3] - box[1]))

    _axes(draw, box, [0, 0.25, 0.5, 0.75, 1], yticks, to_px, "threshold", "validation Dice (all pixels pooled)")
    _dashed(draw, to_px(threshold, 0)[0], box[1], box[3], GRAY)
    _dashed(draw, to_px(sweep.best_threshold, 0)[0], box[1], box[3], BEST)
    points = [to_px(t, d) for t, d in zip(sweep.thresholds, sweep.dice)]
    draw.line(points, fill=BLUE, width=2)
    for px, py in points:
        draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=BLUE)


def _histogram_plot(draw, box, counts, edges, near_binary):
    top = max(1.0, math.log10(max(int(counts.max()), 1)))
    top = math.ceil(top)

    def to_px(x, logc):
        return box[0] + x * (box[2] - box[0]), box[3] - logc / top * (box[3] - box[1])

    _axes(draw, box, [0, 0.25, 0.5, 0.75, 1], list(range(0, top + 1)), to_px, "predicted probability",
          "pixels (log scale)", tick_text=lambda t: f"1e{t:g}")
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        if c > 0:
            x0, y = to_px(a, math.log10(c) if c > 1 else 0.05)
            x1, _ = to_px(b, 0)
            draw.rectangle([x0 + 1, y, x1 - 1, box[3] - 1], fill=BLUE)
    text = f"{near_binary:.1%} of the pixels below 0.05 or above 0.95"
    centred_text(draw, ((box[0] + box[2]) / 2, box[1] + 6), text, font(12))


def figure7_probabilities(images, masks, probabilities, sweep, histogram, threshold=0.5, names=None, panel=192,
                          organ="pancreas", title="Figure 7. Probabilities, the threshold and how binary the outputs are",
                          path=None):
    """Figure 7: test images (truth, probability, mask), the threshold sweep and the histogram.

    ``images`` NHWC, ``masks`` and ``probabilities`` (N, H, W, K) of the images shown;
    ``sweep`` a diagnostics.ThresholdSweep (on the validation set); ``histogram`` the
    (counts, edges, near_binary) of diagnostics.probability_histogram.  ``image.info``:
    "panels" lists (row, "truth" | "probability" | "mask", (x, y), scale); "sweep_box" and
    "histogram_box" are the two plot areas; "colour_bar" the bar's box.  ``organ`` names the
    cyan in the legend.
    """
    images = numpy.asarray(images)
    truth = diagnostics.foreground(masks) > 0.5
    probability = diagnostics.foreground(probabilities)
    n, h, w = probability.shape
    scale = max(1, round(panel / max(h, w)))
    ph, pw = h * scale, w * scale
    gap, margin, top, label_h, bar_room = 12, 20, 86, 24, 70
    plot_w, plot_h = 420, 250
    left_w = 3 * pw + 2 * gap
    width = margin + left_w + bar_room + 90 + plot_w + margin
    height = max(top + n * (ph + label_h + gap), top + 2 * plot_h + 150) + 10
    figure = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(figure)
    centred_text(draw, (width / 2, 12), title, font(18))
    head = font(14)
    columns = (("truth", "ground truth"), ("probability", "probability (heat map)"),
               ("mask", f"mask: probability > {threshold:g}"))
    for j, (_, text) in enumerate(columns):
        centred_text(draw, (margin + j * (pw + gap) + pw / 2, top - 24), text, head)
    panels = []
    for i in range(n):
        y = top + i * (ph + label_h + gap)
        heat = heat_colours(probability[i]).repeat(scale, axis=0).repeat(scale, axis=1)
        drawn = (overlay(images[i], truth[i], scale=scale), heat,
                 overlay(images[i], probability[i] > threshold, scale=scale))
        for j, ((kind, _), rgb) in enumerate(zip(columns, drawn)):
            x = margin + j * (pw + gap)
            figure.paste(Image.fromarray(rgb), (x, y))
            panels.append((i, kind, (x, y), scale))
        name = names[i] if names is not None else f"image {i + 1}"
        centred_text(draw, (margin + left_w / 2, y + ph + 4), f"{name}: max probability {probability[i].max():.2f}",
                     font(12))
    bar_x = margin + left_w + 14
    bar = (bar_x, top, bar_x + 16, top + min(ph * max(n, 1), 320))
    colour_bar(figure, bar, 0.0, 1.0, heat_colours, ticks=[0, 0.25, 0.5, 0.75, 1], label="probability")
    plot_x = margin + left_w + bar_room + 90
    sweep_box = (plot_x, top + 10, plot_x + plot_w, top + 10 + plot_h)
    _sweep_plot(draw, sweep_box, sweep, threshold)
    hist_box = (plot_x, sweep_box[3] + 80, plot_x + plot_w, sweep_box[3] + 80 + plot_h)
    _histogram_plot(draw, hist_box, *histogram)
    lx, ly = plot_x, hist_box[3] + 46
    at = f": validation Dice {sweep.dice_at(threshold):.3f}" if numpy.isclose(sweep.thresholds, threshold).any() else ""
    for k, (colour, text) in enumerate(((CYAN, f"{organ} (truth and mask)"),
                                        (BEST, f"best threshold {sweep.best_threshold:.2f}: validation Dice "
                                               f"{sweep.best_dice:.3f}"),
                                        (GRAY, f"threshold {threshold:g}{at}"))):
        draw.rectangle([lx, ly + 18 * k, lx + 12, ly + 12 + 18 * k], fill=colour, outline=BLACK)
        draw.text((lx + 18, ly - 1 + 18 * k), text, font=font(12), fill=BLACK)
    figure.info.update(panels=panels, sweep_box=sweep_box, histogram_box=hist_box, colour_bar=bar)
    return finish(figure, path)
