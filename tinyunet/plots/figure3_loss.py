"""Figure 3: training and validation Dice loss per epoch, the best epoch marked.

Blue for training and orange for validation, as in the article; each epoch is a
dot of exactly its series colour, joined by a paler line of the same hue.
"""

import math

import numpy
from PIL import Image, ImageDraw

from .draw import BLACK, GRAY, WHITE, centred_text, finish, font, text_width

BLUE, ORANGE = (31, 119, 180), (255, 127, 14)   # the article's train / validation colours


def nice_ticks(low, high, count=6):
    """Round tick values covering [low, high], about ``count`` of them."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _tint(colour, amount=0.55):
    return tuple(int(round(c + (255 - c) * amount)) for c in colour)


def figure3_loss(history, title="Figure 3. Dice loss per epoch", path=None):
    """Figure 3: training and validation loss per epoch, best epoch marked.

    ``history`` is a Keras-like dict (``History.history``) with ``loss`` and optionally
    ``val_loss``.  Each epoch is a dot of exactly the series colour (blue for training,
    orange for validation, as in the article) joined by a paler line; the best epoch
    (lowest ``val_loss``, else ``loss``) gets a dashed line and a ring.
    ``image.info["plot_box"]`` is the plot area (x0, y0, x1, y1).
    """
    series = [("training loss", history["loss"], BLUE)]
    if history.get("val_loss"):
        series.append(("validation loss", history["val_loss"], ORANGE))
    epochs = len(series[0][1])
    if epochs == 0:
        raise ValueError("figure3_loss: the history has no epochs")
    width, height = 900, 560
    left, right, top, bottom = 86, 30, 60, 70
    box = (left, top, width - right, height - bottom)
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    label_font, tick_font = font(16), font(13)
    values = [float(v) for _, s, _ in series for v in s]
    low, high = min(values), max(values)
    margin = max((high - low) * 0.08, 0.01)
    if 0 <= low and high <= 1:                   # a Dice loss: keep the axis inside [0, 1]
        yticks = nice_ticks(max(low - margin, 0.0), min(high + margin, 1.0))
    else:
        yticks = nice_ticks(low - margin, high + margin)
    y_lo, y_hi = yticks[0], yticks[-1]
    x_lo, x_hi = 0.5, epochs + 0.5

    def to_px(epoch, value):
        x = box[0] + (epoch - x_lo) / (x_hi - x_lo) * (box[2] - box[0])
        y = box[3] - (value - y_lo) / (y_hi - y_lo) * (box[3] - box[1])
        return x, y

    for t in yticks:
        _, py = to_px(x_lo, t)
        draw.line([(box[0], py), (box[2], py)], fill=(235, 235, 235))
        draw.line([(box[0] - 5, py), (box[0], py)], fill=BLACK)
        text = f"{t:g}"
        draw.text((box[0] - 9 - text_width(draw, text, tick_font), py - 8), text, font=tick_font, fill=BLACK)
    xstep = 1 if epochs <= 20 else next(s for s in (5, 10, 20, 25, 50, 100, 10 ** 9) if epochs / s <= 12)
    for e in [1] + list(range(xstep, epochs + 1, xstep)) if xstep > 1 else range(1, epochs + 1):
        px, _ = to_px(e, y_lo)
        draw.line([(px, box[3]), (px, box[3] + 5)], fill=BLACK)
        centred_text(draw, (px, box[3] + 8), str(e), tick_font)
    draw.rectangle(box, outline=BLACK)
    centred_text(draw, ((box[0] + box[2]) / 2, height - 34), "epoch", label_font)
    text = "Dice loss (1 - Dice)"
    ylabel = Image.new("RGB", (int(text_width(draw, text, label_font)) + 2, 22), WHITE)
    ImageDraw.Draw(ylabel).text((0, 0), text, font=label_font, fill=BLACK)
    ylabel = ylabel.rotate(90, expand=True)             # read bottom to top, as on any plot
    image.paste(ylabel, (12, int((box[1] + box[3]) / 2 - ylabel.height / 2)))
    centred_text(draw, (width / 2, 16), title, font(20))

    key = history.get("val_loss") or history["loss"]
    best = int(numpy.argmin(numpy.asarray(key, dtype=float))) + 1
    bx, by = to_px(best, float(key[best - 1]))
    for yy in range(int(box[1]), int(box[3]), 10):
        draw.line([(bx, yy), (bx, min(yy + 5, box[3]))], fill=GRAY)
    radius = 4 if epochs <= 40 else 2
    for _, values_, colour in series:
        points = [to_px(e + 1, float(v)) for e, v in enumerate(values_)]
        if len(points) > 1:
            draw.line(points, fill=_tint(colour), width=2)
    for _, values_, colour in series:
        for e, v in enumerate(values_):
            px, py = to_px(e + 1, float(v))
            draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=colour)
    draw.ellipse([bx - 10, by - 10, bx + 10, by + 10], outline=BLACK, width=2)
    which = "val loss" if history.get("val_loss") else "loss"
    note = f"best epoch {best}: {which} {float(key[best - 1]):.3f}"
    note_w = text_width(draw, note, tick_font)
    note_x = bx + 14 if bx + 14 + note_w < box[2] - 4 else bx - 14 - note_w
    note_y = by + 12 if by + 30 < box[3] else by - 30
    draw.text((note_x, note_y), note, font=tick_font, fill=BLACK)

    lx, ly = box[2] - 190, box[1] + 16
    draw.rectangle([lx - 10, ly - 8, box[2] - 10, ly + 22 * len(series)], fill=WHITE, outline=GRAY)
    for i, (label, _, colour) in enumerate(series):
        yy = ly + i * 22 + 6
        draw.line([(lx, yy), (lx + 30, yy)], fill=_tint(colour), width=3)
        draw.rectangle([lx + 11, yy - 4, lx + 19, yy + 4], fill=_tint(colour, 0.2))
        draw.text((lx + 40, yy - 8), label, font=tick_font, fill=BLACK)
    image.info["plot_box"] = box
    return finish(image, path)
