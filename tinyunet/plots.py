"""The article's four figures, drawn with Pillow as PNG (no plotting library needed).

    figure1_dice(...)                      Fig 1: Dice at no, small and full overlap
    figure2_unet(model)                    Fig 2: the U-Net drawn from the model's own layers
    figure3_loss(history)                  Fig 3: train and validation loss per epoch
    figure4_predictions(images, ...)       Fig 4: ground truth beside prediction, pancreas in cyan

Each returns a PIL ``Image``; given ``path=`` it also writes the PNG atomically
(a temporary file in the same folder, then a rename), so a reader never sees a
half-written figure and nothing but ``path`` is replaced.  Where a test needs to
find what was drawn, the image's ``info`` dict says where (``plot_box``,
``panels``, ``blocks``); Pillow does not write these keys into the PNG.

Example:
    >>> from tinyunet import plots
    >>> plots.figure3_loss(history.history, path="runs/cpu/figure3_loss.png")
"""

import math

import numpy
from PIL import Image, ImageDraw, ImageFont

from . import metrics
from .fileio import atomic_write
from .layers import (Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D,
                     UpSampling2D)

WHITE, BLACK, GRAY = (255, 255, 255), (0, 0, 0), (120, 120, 120)
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)          # the article's train / validation colours
TRUTH, PREDICTION = (0, 160, 90), (200, 40, 160)       # Figure 1
CYAN = (0, 255, 255)                                   # Figure 4, as the article
DOWN_FILL, UP_FILL = (214, 230, 247), (220, 241, 214)  # Figure 2
BOTTOM_FILL, IO_FILL, SKIP = (233, 222, 245), (236, 236, 236), (90, 90, 200)


def font(size=14):
    """Pillow's own font at ``size`` pixels (Pillow >= 10.1), else its small bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def save(image, path):
    """Write ``image`` as PNG to ``path`` atomically: temporary file beside it, then rename."""
    return atomic_write(path, lambda stream: image.save(stream, format="PNG"))


def _finish(image, path):
    if path is not None:
        save(image, path)
    return image


def _text_width(draw, text, typeface):
    return draw.textlength(text, font=typeface)


def _centred_text(draw, xy, text, typeface, fill=BLACK):
    x, y = xy
    draw.text((x - _text_width(draw, text, typeface) / 2, y), text, font=typeface, fill=fill)


def _arrow(draw, start, end, fill=BLACK, width=2, head=9):
    """A straight arrow from ``start`` to ``end`` with a filled head at ``end``."""
    (x0, y0), (x1, y1) = start, end
    angle = math.atan2(y1 - y0, x1 - x0)
    base = (x1 - head * math.cos(angle), y1 - head * math.sin(angle))
    draw.line([start, base], fill=fill, width=width)
    left = (base[0] + head * 0.5 * math.sin(angle), base[1] - head * 0.5 * math.cos(angle))
    right = (base[0] - head * 0.5 * math.sin(angle), base[1] + head * 0.5 * math.cos(angle))
    draw.polygon([end, left, right], fill=fill)


# --------------------------------------------------------------------------- Figure 1

def _ellipse_mask(size, centre, radii):
    yy, xx = numpy.mgrid[0:size, 0:size]
    return (((xx - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2 <= 1).astype(numpy.float32)


def overlap_cases(size=220, target_small=0.1):
    """The three masks pairs of Figure 1, (name, truth, prediction), as float32 (size, size).

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


def _outline(mask):
    inner = mask.astype(bool)
    eroded = inner.copy()
    eroded[1:, :] &= inner[:-1, :]
    eroded[:-1, :] &= inner[1:, :]
    eroded[:, 1:] &= inner[:, :-1]
    eroded[:, :-1] &= inner[:, 1:]
    edge = inner & ~eroded
    thick = edge.copy()
    thick[1:, :] |= edge[:-1, :]
    thick[:, 1:] |= edge[:, :-1]
    return thick


def _two_masks(truth, prediction, alpha=0.35):
    """White canvas with the truth and the prediction filled translucently and outlined."""
    canvas = numpy.full(truth.shape + (3,), 255.0)
    for mask, colour in ((truth, TRUTH), (prediction, PREDICTION)):
        m = mask.astype(bool)[..., None]
        canvas = numpy.where(m, (1 - alpha) * canvas + alpha * numpy.array(colour), canvas)
    for mask, colour in ((truth, TRUTH), (prediction, PREDICTION)):
        canvas[_outline(mask)] = colour
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
    _centred_text(draw, (width / 2, 10), "Figure 1. Dice similarity coefficient", big)
    _centred_text(draw, (width / 2, 38), "Dice = 2 |X and Y| / (|X| + |Y|)   (0 = no overlap, 1 = perfect)", small)
    for i, (name, truth, prediction) in enumerate(cases):
        x = pad + i * (size + pad)
        image.paste(_two_masks(truth, prediction), (x, top))
        draw.rectangle([x - 1, top - 1, x + truth.shape[1], top + truth.shape[0]], outline=GRAY)
        dice = metrics.dice_score(truth, prediction)
        _centred_text(draw, (x + size / 2, top + size + 8), f"({'abc'[i % 3]}) {name}", normal)
        _centred_text(draw, (x + size / 2, top + size + 30), f"Dice = {dice:.2f}", normal)
    legend_y = top - 22
    for j, (label, colour) in enumerate((("X: truth", TRUTH), ("Y: prediction", PREDICTION))):
        lx = width / 2 - 130 + j * 140
        draw.rectangle([lx, legend_y, lx + 14, legend_y + 14], fill=colour)
        draw.text((lx + 20, legend_y - 1), label, font=small, fill=BLACK)
    return _finish(image, path)


# --------------------------------------------------------------------------- Figure 2

class Block:
    """One box of Figure 2: a run of layers at one resolution on one side of the U."""

    def __init__(self, kind, level):
        self.kind, self.level = kind, level          # kind: input, down, bottom, up, output
        self.rows = []                               # (description, output shape)
        self.skip_from = None                        # level of the down block feeding a concat
        self.last = None

    def __repr__(self):
        return f"Block({self.kind!r}, level={self.level}, rows={len(self.rows)})"


def describe_layer(layer):
    """A short label for a layer, in the article's vocabulary (Conv, Norm, MaxPool...)."""
    def pair(p):
        return f"{p[0]}x{p[1]}"
    if isinstance(layer, Conv2DTranspose):
        return f"TransposeConv {pair(layer.kernel_size)}/{layer.strides[0]}, {layer.filters}, {layer.activation}"
    if isinstance(layer, Conv2D):
        return f"Conv {pair(layer.kernel_size)}, {layer.filters}, {layer.activation}"
    if isinstance(layer, LayerNormalization):
        return "LayerNorm"
    if isinstance(layer, MaxPooling2D):
        return f"MaxPool {pair(layer.pool_size)}"
    if isinstance(layer, UpSampling2D):
        return f"UpSampling {pair(layer.size)}"
    if isinstance(layer, Concatenate):
        return "Concat [skip, up]"
    return type(layer).__name__


def unet_blocks(model):
    """Group ``model.layers`` into the boxes of Figure 2, with every layer's output shape.

    Walks the layers in forward order: everything up to a MaxPooling2D is a down block;
    what runs between the last pool and the first upsampling layer is the bottom; each
    Conv2DTranspose or UpSampling2D starts an up block; the last layer is the output.
    Shapes and skip sources come from the model (``model.shapes``, ``model.skip_sources()``)
    when it has them; otherwise they are worked out here with ``layer.output_shape``, each
    Concatenate taking the pooled level of its size as its skip.  Returns a list of ``Block``.
    """
    known_shapes = getattr(model, "shapes", None) or {}
    sources = model.skip_sources() if hasattr(model, "skip_sources") else {}
    level_of = {}                                    # layer name -> down level
    input_shape = tuple(getattr(model, "input_shape", (256, 256, 1)))
    shape = (1,) + input_shape[-3:]
    blocks = [Block("input", 0)]
    blocks[0].rows.append(("Input", shape))
    skips = {}                                       # height -> (level, shape)
    level, block, upsampling = 1, None, False
    layers = list(model.layers)
    for index, layer in enumerate(layers):
        if index == len(layers) - 1:
            block = Block("output", 0)
            blocks.append(block)
        elif isinstance(layer, UpSampling2D) or (isinstance(layer, Conv2DTranspose) and layer.strides[0] > 1):
            upsampling, level = True, level - 1
            block = Block("up", level)
            blocks.append(block)
        elif not upsampling and (block is None or isinstance(block.last, MaxPooling2D)):
            block = Block("down", level)
            blocks.append(block)
        if isinstance(layer, MaxPooling2D):
            skips[shape[1]] = (level, shape)
            level += 1
        if isinstance(layer, Concatenate):
            if layer.name in sources:
                block.skip_from = level_of[sources[layer.name]]
            elif shape[1] in skips:
                block.skip_from = skips[shape[1]][0]
            else:
                raise ValueError(f"figure 2: {layer.name} joins a {_shape_text(shape)} tensor but no "
                                 "pooling level has that size")
            shape = layer.output_shape([skips[shape[1]][1], shape]) if shape[1] in skips else shape
        else:
            shape = layer.output_shape(shape)
        shape = tuple(known_shapes.get(layer.name, shape))
        level_of[layer.name] = block.level
        block.rows.append((describe_layer(layer), shape))
        block.last = layer
    for b in blocks:
        if b.kind == "down" and not isinstance(b.last, MaxPooling2D):
            b.kind = "bottom"
    if not any(b.kind == "bottom" for b in blocks):
        bottom = Block("bottom", len(skips) + 1)
        bottom.rows.append(("(pooled tensor)", _pooled(blocks)))
        blocks.insert(1 + len(skips), bottom)
    return blocks


def _pooled(blocks):
    return [b for b in blocks if b.kind == "down"][-1].rows[-1][1]


def _shape_text(shape):
    return "x".join(str(d) for d in shape[1:])


def figure2_unet(model, title=None, path=None):
    """Figure 2: the U-Net of ``model``, drawn from ``model.layers``.

    Down blocks (blue) on the left, one per pooling level, the bottom (purple) below, up
    blocks (green) on the right at the level they restore; every row names a layer and its
    output shape; arrows show the data flow and, across the U, the skip connections.
    ``image.info["blocks"]`` holds (kind, level, box) for each box drawn.
    """
    blocks = unet_blocks(model)
    bottom_level = next(b.level for b in blocks if b.kind == "bottom")
    head, row_font, tiny = font(15), font(13), font(12)
    line, box_w, indent, gap_x, pad, gap_y, top = 18, 320, 34, 120, 20, 40, 76

    def box_height(b):
        return 30 + len(b.rows) * line + 6

    row_y, y = {}, top
    for level in range(bottom_level + 1):
        row_y[level] = y
        y += max([box_height(b) for b in blocks if b.level == level] or [40]) + gap_y
    width = 2 * pad + 2 * (box_w + (bottom_level - 2) * indent) + gap_x
    height = y + 40
    boxes = {}
    for b in blocks:
        shift = max(b.level - 1, 0) * indent
        x = {"input": pad, "down": pad + shift, "output": width - pad - box_w,
             "up": width - pad - box_w - shift, "bottom": (width - box_w) / 2}[b.kind]
        boxes[b.kind, b.level] = (x, row_y[b.level], x + box_w, row_y[b.level] + box_height(b))

    image = Image.new("RGB", (int(width), int(height)), WHITE)
    draw = ImageDraw.Draw(image)
    name = title or (f"Figure 2. U-Net ({getattr(model, 'preset', type(model).__name__)}): "
                     f"{bottom_level - 1} pooling levels, drawn from model.layers")
    _centred_text(draw, (width / 2, 14), name, font(20))
    params = getattr(model, "params", None)
    if params:
        count = sum(int(numpy.prod(p.shape)) for p in params.values())
        _centred_text(draw, (width / 2, 42), f"{count:,} trainable parameters", row_font, GRAY)

    fills = {"down": DOWN_FILL, "up": UP_FILL, "bottom": BOTTOM_FILL, "input": IO_FILL, "output": IO_FILL}
    titles = {"down": "Down level {}", "up": "Up level {}", "bottom": "Bottom (level {})",
              "input": "Input", "output": "Output"}
    for b in blocks:
        x0, y0, x1, y1 = boxes[b.kind, b.level]
        draw.rounded_rectangle([x0, y0, x1, y1], radius=8, fill=fills[b.kind], outline=GRAY, width=1)
        draw.text((x0 + 10, y0 + 6), titles[b.kind].format(b.level), font=head, fill=BLACK)
        for i, (text, shape) in enumerate(b.rows):
            ty = y0 + 30 + i * line
            draw.text((x0 + 12, ty), text, font=row_font, fill=BLACK)
            s = _shape_text(shape)
            draw.text((x1 - 12 - _text_width(draw, s, row_font), ty), s, font=row_font, fill=(60, 60, 60))

    downs = [boxes["input", 0]] + [boxes[k] for k in sorted(boxes) if k[0] == "down"]
    ups = [boxes[k] for k in sorted(boxes, reverse=True) if k[0] == "up"] + [boxes["output", 0]]
    bottom = boxes["bottom", bottom_level]
    for a, c in zip(downs, downs[1:]):
        _arrow(draw, (c[0] + 30, a[3]), (c[0] + 30, c[1]))
    for a, c in zip(ups, ups[1:]):
        _arrow(draw, (c[2] - 30, a[1]), (c[2] - 30, c[3]))
    mid = (bottom[1] + bottom[3]) / 2
    draw.line([(downs[-1][0] + 30, downs[-1][3]), (downs[-1][0] + 30, mid)], fill=BLACK, width=2)
    _arrow(draw, (downs[-1][0] + 29, mid), (bottom[0], mid))
    draw.line([(bottom[2], mid), (ups[0][2] - 30, mid)], fill=BLACK, width=2)
    _arrow(draw, (ups[0][2] - 30, mid + 1), (ups[0][2] - 30, ups[0][3]))
    for b in blocks:
        if b.kind == "up" and b.skip_from is not None:
            src, dst = boxes["down", b.skip_from], boxes["up", b.level]
            ys = src[1] + 14
            for xs in numpy.arange(src[2] + 2, dst[0] - 14, 14):
                draw.line([(xs, ys), (min(xs + 8, dst[0] - 10), ys)], fill=SKIP, width=2)
            _arrow(draw, (dst[0] - 12, ys), (dst[0], ys), fill=SKIP)
            _centred_text(draw, ((src[2] + dst[0]) / 2, ys + 6), "skip", tiny, SKIP)
    legend = ("Conv = 2-D convolution (kernel, filters, activation); LayerNorm = layer normalization; "
              "MaxPool = max pooling;",
              "TransposeConv = transposed convolution (/2: stride 2); Concat = the skip's channels "
              "joined to the up path's; shapes are H x W x channels")
    for i, text in enumerate(legend):
        _centred_text(draw, (width / 2, height - 44 + i * 17), text, tiny, GRAY)
    image.info["blocks"] = [(b.kind, b.level, boxes[b.kind, b.level]) for b in blocks]
    return _finish(image, path)


# --------------------------------------------------------------------------- Figure 3

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
        draw.text((box[0] - 9 - _text_width(draw, text, tick_font), py - 8), text, font=tick_font, fill=BLACK)
    xstep = 1 if epochs <= 20 else next(s for s in (5, 10, 20, 25, 50, 100, 10 ** 9) if epochs / s <= 12)
    for e in [1] + list(range(xstep, epochs + 1, xstep)) if xstep > 1 else range(1, epochs + 1):
        px, _ = to_px(e, y_lo)
        draw.line([(px, box[3]), (px, box[3] + 5)], fill=BLACK)
        _centred_text(draw, (px, box[3] + 8), str(e), tick_font)
    draw.rectangle(box, outline=BLACK)
    _centred_text(draw, ((box[0] + box[2]) / 2, height - 34), "epoch", label_font)
    text = "Dice loss (1 - Dice)"
    ylabel = Image.new("RGB", (int(_text_width(draw, text, label_font)) + 2, 22), WHITE)
    ImageDraw.Draw(ylabel).text((0, 0), text, font=label_font, fill=BLACK)
    ylabel = ylabel.rotate(90, expand=True)             # read bottom to top, as on any plot
    image.paste(ylabel, (12, int((box[1] + box[3]) / 2 - ylabel.height / 2)))
    _centred_text(draw, (width / 2, 16), title, font(20))

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
    note_w = _text_width(draw, note, tick_font)
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
    return _finish(image, path)


# --------------------------------------------------------------------------- Figure 4

def overlay(image, mask, alpha=0.45, scale=1):
    """An RGB uint8 array: the gray ``image`` (H, W) in [0, 1] with cyan blended where ``mask``.

    Pixels outside the mask stay gray (R = G = B); inside, R is lowered and G = B raised,
    so the overlay is visible on any gray level.  ``scale`` enlarges by pixel repetition.
    """
    gray = numpy.clip(numpy.asarray(image, dtype=numpy.float64).reshape(image.shape[:2]), 0, 1) * 255
    rgb = numpy.repeat(gray[..., None], 3, axis=2)
    m = numpy.asarray(mask).reshape(mask.shape[:2]) > 0.5
    rgb[m] = (1 - alpha) * rgb[m] + alpha * numpy.array(CYAN, dtype=numpy.float64)
    rgb = rgb.round().astype(numpy.uint8)
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return rgb


def figure4_predictions(images, masks, predictions, threshold=0.5, names=None,
                        title="Figure 4. Test images: ground truth (left) and prediction (right)",
                        panel=256, path=None):
    """Figure 4: one row per test image, ground truth beside thresholded prediction.

    ``images``, ``masks``, ``predictions``: NHWC (or NHW) arrays; the predictions are
    probabilities and are binarised at ``threshold``.  Each row is labelled with the Dice
    of that image (``metrics.dice_per_image``).  ``image.info["panels"]`` lists
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
    _centred_text(draw, (width / 2, 12), title, title_font)
    head = font(15)
    _centred_text(draw, (left + pw / 2, top - 26), "ground truth", head)
    _centred_text(draw, (left + pw + gap + pw / 2, top - 26), "prediction (> %g)" % threshold, head)
    panels = []
    for i in range(n):
        y = top + i * (ph + label_h + gap)
        for j, (kind, mask) in enumerate((("truth", masks[i]), ("prediction", binary[i]))):
            x = left + j * (pw + gap)
            figure.paste(Image.fromarray(overlay(images[i], mask, scale=scale)), (x, y))
            panels.append((i, kind, (x, y), scale))
        name = f"{names[i]}: " if names is not None else f"image {i + 1}: "
        _centred_text(draw, (width / 2, y + ph + 3), f"{name}Dice = {dices[i]:.2f}", head)
    figure.info["panels"] = panels
    return _finish(figure, path)
