"""Figure 2: the U-Net drawn from the model's own levels, every layer with its output shape.

``unet_blocks(model)`` reads the structure the model is built from: ``model.down``
(each level's ``block`` and ``pool``), ``model.bottleneck``, ``model.up`` (each
level's ``up`` layers, ``concat`` and ``conv``), ``model.output``, the skip
sources (``model.skip_sources()``) and the output shapes (``model.shapes``).
``figure2_unet`` lays those boxes out as a U and draws the skips across it.
"""

from dataclasses import dataclass, field

import numpy
from PIL import Image, ImageDraw

from ..layers import Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D, UpSampling2D
from .draw import BLACK, GRAY, WHITE, arrow, centred_text, finish, font, text_width

DOWN_FILL, UP_FILL = (214, 230, 247), (220, 241, 214)
BOTTOM_FILL, IO_FILL, SKIP = (233, 222, 245), (236, 236, 236), (90, 90, 200)


@dataclass
class Block:
    """One box of Figure 2: a run of layers at one level of the U.

    kind: "input", "down", "bottom", "up" or "output"; rows: (label, output shape) per
    layer; skip_from: for an up block, the level of the down block whose output it joins.
    """

    kind: str
    level: int
    rows: list = field(default_factory=list)
    skip_from: int = None


def _pair(p):
    return f"{p[0]}x{p[1]}"


_LABELS = (   # (layer class, its label in Figure 2)
    (Conv2DTranspose, lambda t: f"TransposeConv {_pair(t.kernel_size)}/{t.strides[0]}, {t.filters}, {t.activation}"),
    (Conv2D, lambda c: f"Conv {_pair(c.kernel_size)}, {c.filters}, {c.activation}"),
    (LayerNormalization, lambda _: "LayerNorm"),
    (MaxPooling2D, lambda p: f"MaxPool {_pair(p.pool_size)}"),
    (UpSampling2D, lambda u: f"UpSampling {_pair(u.size)}"),
    (Concatenate, lambda _: "Concat [skip, up]"),
)


def describe_layer(layer):
    """A short label for a layer, in the article's vocabulary (Conv, LayerNorm, MaxPool...)."""
    return next((label(layer) for kind, label in _LABELS if isinstance(layer, kind)), type(layer).__name__)


def unet_blocks(model):
    """The boxes of Figure 2, in forward order: input, down levels, bottom, up levels, output.

    Down level k (1 = shallowest) holds its block and pool; the bottom (level
    ``len(model.down) + 1``) the bottleneck layers, or the pooled tensor when there are
    none; each up level is numbered by the down level whose skip it joins.  Every row
    is (label, ``model.shapes[layer.name]``).  Returns a list of ``Block``.
    """
    def rows(layers):
        return [(describe_layer(layer), tuple(model.shapes[layer.name])) for layer in layers]

    blocks = [Block("input", 0, [("Input", (1,) + tuple(model.input_shape))])]
    level_of = {}                                    # name of a skip's source layer -> its down level
    for level, down in enumerate(model.down, 1):
        blocks.append(Block("down", level, rows(down.block + [down.pool])))
        level_of[down.block[-1].name] = level
    pooled = ("(pooled tensor)", tuple(model.shapes[model.down[-1].pool.name]))
    blocks.append(Block("bottom", len(model.down) + 1, rows(model.bottleneck) or [pooled]))
    sources = model.skip_sources()
    for up in model.up:
        skip_from = level_of[sources[up.concat.name]]
        blocks.append(Block("up", skip_from, rows(up.up + [up.concat] + up.conv), skip_from))
    blocks.append(Block("output", 0, rows([model.output])))
    return blocks


def _shape_text(shape):
    return "x".join(str(d) for d in shape[1:])


def _layout(blocks, bottom_level):
    """Where each box goes: {(kind, level): (x0, y0, x1, y1)}, and the figure's width and height.

    One row per level (deeper lower), down boxes stepping right on the left, up boxes
    stepping left on the right, the bottom centred.
    """
    line, box_w, indent, gap_x, pad, gap_y, top = 18, 320, 34, 120, 20, 40, 76

    def box_height(b):
        return 30 + len(b.rows) * line + 6

    row_y, y = {}, top
    for level in range(bottom_level + 1):
        row_y[level] = y
        y += max([box_height(b) for b in blocks if b.level == level] or [40]) + gap_y
    width = 2 * pad + 2 * (box_w + (bottom_level - 2) * indent) + gap_x
    boxes = {}
    for b in blocks:
        shift = max(b.level - 1, 0) * indent
        x = {"input": pad, "down": pad + shift, "output": width - pad - box_w,
             "up": width - pad - box_w - shift, "bottom": (width - box_w) / 2}[b.kind]
        boxes[b.kind, b.level] = (x, row_y[b.level], x + box_w, row_y[b.level] + box_height(b))
    return boxes, width, y + 40


def _boxes(draw, blocks, boxes):
    """Each block as a rounded box: its title, then a row per layer with the output shape on the right."""
    head, row_font = font(15), font(13)
    fills = {"down": DOWN_FILL, "up": UP_FILL, "bottom": BOTTOM_FILL, "input": IO_FILL, "output": IO_FILL}
    titles = {"down": "Down level {}", "up": "Up level {}", "bottom": "Bottom (level {})",
              "input": "Input", "output": "Output"}
    for b in blocks:
        x0, y0, x1, y1 = boxes[b.kind, b.level]
        draw.rounded_rectangle([x0, y0, x1, y1], radius=8, fill=fills[b.kind], outline=GRAY, width=1)
        draw.text((x0 + 10, y0 + 6), titles[b.kind].format(b.level), font=head, fill=BLACK)
        for i, (text, shape) in enumerate(b.rows):
            ty = y0 + 30 + i * 18
            draw.text((x0 + 12, ty), text, font=row_font, fill=BLACK)
            s = _shape_text(shape)
            draw.text((x1 - 12 - text_width(draw, s, row_font), ty), s, font=row_font, fill=(60, 60, 60))


def _arrows(draw, blocks, boxes, bottom_level):
    """The data flow down the left, across the bottom and up the right; dashed skips across the U."""
    downs = [boxes["input", 0]] + [boxes[k] for k in sorted(boxes) if k[0] == "down"]
    ups = [boxes[k] for k in sorted(boxes, reverse=True) if k[0] == "up"] + [boxes["output", 0]]
    bottom = boxes["bottom", bottom_level]
    for a, c in zip(downs, downs[1:]):
        arrow(draw, (c[0] + 30, a[3]), (c[0] + 30, c[1]))
    for a, c in zip(ups, ups[1:]):
        arrow(draw, (c[2] - 30, a[1]), (c[2] - 30, c[3]))
    mid = (bottom[1] + bottom[3]) / 2
    draw.line([(downs[-1][0] + 30, downs[-1][3]), (downs[-1][0] + 30, mid)], fill=BLACK, width=2)
    arrow(draw, (downs[-1][0] + 29, mid), (bottom[0], mid))
    draw.line([(bottom[2], mid), (ups[0][2] - 30, mid)], fill=BLACK, width=2)
    arrow(draw, (ups[0][2] - 30, mid + 1), (ups[0][2] - 30, ups[0][3]))
    for b in blocks:
        if b.kind == "up":
            src, dst = boxes["down", b.skip_from], boxes["up", b.level]
            ys = src[1] + 14
            for xs in numpy.arange(src[2] + 2, dst[0] - 14, 14):
                draw.line([(xs, ys), (min(xs + 8, dst[0] - 10), ys)], fill=SKIP, width=2)
            arrow(draw, (dst[0] - 12, ys), (dst[0], ys), fill=SKIP)
            centred_text(draw, ((src[2] + dst[0]) / 2, ys + 6), "skip", font(12), SKIP)


def figure2_unet(model, title=None, path=None):
    """Figure 2: the U-Net of ``model``, drawn from its levels (``unet_blocks``).

    Down blocks (blue) on the left, one per pooling level, the bottom (purple) below, up
    blocks (green) on the right at the level they restore; every row names a layer and its
    output shape; arrows show the data flow and, across the U, the skip connections.
    ``image.info["blocks"]`` holds (kind, level, box) for each box drawn.
    """
    blocks = unet_blocks(model)
    bottom_level = len(model.down) + 1
    boxes, width, height = _layout(blocks, bottom_level)
    image = Image.new("RGB", (int(width), int(height)), WHITE)
    draw = ImageDraw.Draw(image)
    name = title or (f"Figure 2. U-Net ({getattr(model, 'preset', type(model).__name__)}): "
                     f"{bottom_level - 1} pooling levels, drawn from the model's levels")
    centred_text(draw, (width / 2, 14), name, font(20))
    params = getattr(model, "params", None)
    if params:
        count = sum(int(numpy.prod(p.shape)) for p in params.values())
        centred_text(draw, (width / 2, 42), f"{count:,} trainable parameters", font(13), GRAY)
    _boxes(draw, blocks, boxes)
    _arrows(draw, blocks, boxes, bottom_level)
    legend = ("Conv = 2-D convolution (kernel, filters, activation); LayerNorm = layer normalization; "
              "MaxPool = max pooling;",
              "TransposeConv = transposed convolution (/2: stride 2); Concat = the skip's channels "
              "joined to the up path's; shapes are H x W x channels")
    for i, text in enumerate(legend):
        centred_text(draw, (width / 2, height - 44 + i * 17), text, font(12), GRAY)
    image.info["blocks"] = [(b.kind, b.level, boxes[b.kind, b.level]) for b in blocks]
    return finish(image, path)
