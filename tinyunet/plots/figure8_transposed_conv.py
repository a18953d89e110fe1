"""Figure 8: a tiny image upsampled three ways: transposed convolution by zero insertion, nearest, bilinear.

"A transposed convolution is the application of a convolution function to an image where
the pixels have had rows and columns inserted ... While one could simply interpolate the
values of the inserted pixels, transposed convolution takes such an image and applies
convolution (where the kernel is part of the learning process)" (the article).

Row (a) is layers.conv_transpose_by_zero_insertion step by step: the image, the zeros
inserted between its rows and columns, the zeros padded around it, the kernel turned by
180 degrees, and the stride-1 convolution's output, which is Conv2DTranspose's (the
largest difference is printed under it).  Rows (b) and (c) are UpSampling2D, nearest and
bilinear.  Every grid is its numbers; the image's own pixels are blue, inserted zeros
grey, padding white, and each output cell is shaded by its value.
"""

import numpy
from PIL import Image, ImageDraw

from .. import backend
from ..layers import Conv2DTranspose, UpSampling2D, conv_transpose_by_zero_insertion
from ..shapes import as_pair
from .draw import BLACK, GRAY, WHITE, arrow, centred_text, finish, font

PIXEL, INSERTED, PADDING = (190, 215, 255), (215, 215, 215), WHITE


def _layer_output(layer, x):
    layer.build(x.shape, dtype="float64")
    return backend.asnumpy(layer.forward(backend.to_device(x, "float64")))


def transposed_conv_example(x, kernel, strides=2, padding="same"):
    """{name: 2-D array} of Figure 8's grids, with the zero-insertion steps and the layer's output."""
    strides = as_pair(strides, "strides", "figure8_transposed_conv")
    x4 = numpy.asarray(x, dtype=numpy.float64)[None, :, :, None]
    k4 = numpy.asarray(kernel, dtype=numpy.float64)[:, :, None, None]
    steps = conv_transpose_by_zero_insertion(x4, k4, strides=strides, padding=padding, steps=True)
    layer = Conv2DTranspose(1, k4.shape[:2], strides=strides, padding=padding, use_bias=False)
    layer.build(x4.shape, dtype="float64")
    layer.params["kernel"] = backend.to_device(k4, "float64")
    grids = {"image": x4[0, :, :, 0], "inserted": steps.inserted[0, :, :, 0], "padded": steps.padded[0, :, :, 0],
             "flipped kernel": steps.kernel[:, :, 0, 0], "zero insertion": steps.output[0, :, :, 0],
             "Conv2DTranspose": backend.asnumpy(layer.forward(backend.to_device(x4, "float64")))[0, :, :, 0]}
    for how in ("nearest", "bilinear"):
        grids[how] = _layer_output(UpSampling2D(strides, interpolation=how), x4)[0, :, :, 0]
    return grids, steps.pads


def _grid(figure, draw, xy, values, cell, fills, digits, caption):
    """Draw ``values`` as a grid of numbers at xy, cell fills from ``fills`` (an (h, w, 3) array); its box."""
    x0, y0 = xy
    h, w = values.shape
    small = font(11 if cell < 34 else 12)
    digits = 0 if numpy.array_equal(values, numpy.round(values)) else digits   # whole numbers stay whole
    for r in range(h):
        for c in range(w):
            fill = tuple(int(v) for v in fills[r, c])
            box = [x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell, y0 + (r + 1) * cell]
            draw.rectangle(box, fill=fill, outline=GRAY)
            text = f"{values[r, c]:.{digits}f}" if values[r, c] else "0"
            text = text[1:] if text.startswith("-") and not float(text) else text     # "-0.0" reads as 0.0
            ink = WHITE if sum(fill) < 330 else BLACK
            centred_text(draw, (box[0] + cell / 2, box[1] + cell / 2 - 7), text, small, ink)
    centred_text(draw, (x0 + w * cell / 2, y0 + h * cell + 6), caption, font(13))
    return (x0, y0, x0 + w * cell, y0 + h * cell)


def _shades(values, low, high):
    """Light-to-dark blue-grey shading of output cells by value (the numbers stay readable)."""
    t = numpy.clip((values - low) / ((high - low) or 1.0), 0, 1)[..., None]
    return numpy.rint((1 - t) * numpy.array([250, 250, 250]) + t * numpy.array([40, 70, 140]))


def figure8_transposed_conv(x, kernel, strides=2, padding="same", cell=32,
                            title="Figure 8. Upsampling a 4 x 4 image: transposed convolution, nearest, bilinear",
                            path=None):
    """Figure 8 for a small image ``x`` (H, W) and a 2-D ``kernel`` (kh, kw), one channel in and out.

    ``image.info["grids"]`` maps each grid's name to its box (x0, y0, x1, y1);
    ``info["max_difference"]`` is max |zero insertion - Conv2DTranspose| (float64).
    """
    grids, pads = transposed_conv_example(x, kernel, strides, padding)
    difference = float(numpy.abs(grids["zero insertion"] - grids["Conv2DTranspose"]).max())
    image, inserted, padded = grids["image"], grids["inserted"], grids["padded"]
    (top, bottom), (left, right) = pads
    sh, sw = as_pair(strides, "strides", "figure8_transposed_conv")
    # where each padded cell came from: the image's pixels, the inserted zeros, or the padding
    source = numpy.zeros(padded.shape + (3,))
    source[...] = PADDING
    source[top:top + inserted.shape[0], left:left + inserted.shape[1]] = INSERTED
    source[top:top + inserted.shape[0]:sh, left:left + inserted.shape[1]:sw] = PIXEL
    outputs = numpy.concatenate([grids[k].ravel() for k in ("zero insertion", "nearest", "bilinear")])
    low, high = float(outputs.min()), float(outputs.max())
    flat = {k: numpy.broadcast_to(PIXEL, v.shape + (3,)) for k, v in grids.items()}
    inserted_fill = numpy.full(inserted.shape + (3,), INSERTED, dtype=float)
    inserted_fill[::sh, ::sw] = PIXEL
    gap, margin, row_gap, top_y = 58, 24, 70, 96
    widths = [image.shape[1], inserted.shape[1], padded.shape[1], grids["flipped kernel"].shape[1],
              grids["zero insertion"].shape[1]]
    width = 2 * margin + cell * sum(widths) + gap * (len(widths) - 1)
    row_a = cell * padded.shape[0]
    row_b = cell * grids["nearest"].shape[0]
    height = top_y + row_a + 2 * (row_b + row_gap) + 80
    figure = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(figure)
    centred_text(draw, (width / 2, 12), title, font(18))
    kh, kw = grids["flipped kernel"].shape
    centred_text(draw, (width / 2, 40), f"(a) transposed convolution, kernel {kh} x {kw}, strides {sh}, padding "
                                        f"'{padding}': zeros inserted, padded, convolved with the flipped kernel",
                 font(14))
    boxes, x = {}, margin
    parts = (("image", image, flat["image"], 0, f"image ({image.shape[0]} x {image.shape[1]})"),
             ("inserted", inserted, inserted_fill, 0, f"{sh - 1} zero row / column between pixels"),
             ("padded", padded, source, 0, f"padded: {top} top, {bottom} bottom, {left} left, {right} right"),
             ("flipped kernel", grids["flipped kernel"], flat["flipped kernel"], 1, "the kernel turned 180 degrees"),
             ("zero insertion", grids["zero insertion"], _shades(grids["zero insertion"], low, high), 1,
              "= Conv2DTranspose"))
    for k, (name, values, fills, digits, caption) in enumerate(parts):
        y = top_y + (row_a - cell * values.shape[0]) // 2
        boxes[name] = _grid(figure, draw, (x, y), values, cell, fills, digits, caption)
        x = boxes[name][2] + gap
        if k < len(parts) - 1:
            mid = top_y + row_a / 2
            arrow(draw, (boxes[name][2] + 8, mid), (x - 8, mid), fill=BLACK, width=2)
    out = boxes["zero insertion"]
    centred_text(draw, ((out[0] + out[2]) / 2, out[3] + 24), f"largest difference {difference:.1e}", font(12),
                 GRAY)
    for row, how in enumerate(("nearest", "bilinear"), start=1):
        y = top_y + row_a + row_gap + (row - 1) * (row_b + row_gap)
        centred_text(draw, (width / 2, y - 34), f"({'abc'[row]}) UpSampling2D, {how}: the inserted pixels "
                                                f"{'copy their neighbour' if how == 'nearest' else 'interpolated'}"
                                                ", nothing learned", font(14))
        boxes[f"{how} image"] = _grid(figure, draw, (margin, y), image, cell, flat["image"], 0, "image")
        values = grids[how]
        start = margin + cell * image.shape[1] + gap * 2
        arrow(draw, (margin + cell * image.shape[1] + 8, y + cell * 2), (start - 8, y + cell * 2), width=2)
        boxes[how] = _grid(figure, draw, (start, y), values, cell, _shades(values, low, high), 2 if how ==
                           "bilinear" else 0, f"{how} ({values.shape[0]} x {values.shape[1]})")
    lx, ly = width - 330, top_y + row_a + row_gap
    for k, (colour, text) in enumerate(((PIXEL, "the image's pixels"), (INSERTED, "inserted zeros"),
                                        (PADDING, "padding zeros"))):
        draw.rectangle([lx, ly + 20 * k, lx + 14, ly + 14 + 20 * k], fill=colour, outline=GRAY)
        draw.text((lx + 22, ly + 20 * k), text, font=font(13), fill=BLACK)
    figure.info["grids"], figure.info["max_difference"] = boxes, difference
    return finish(figure, path)
