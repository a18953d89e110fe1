"""Figure 5: one test image followed through the U-Net, a few channels of every level, down and up.

"After the multiple convolutions, we have found the key content needed to recognize the
structure of interest" (the article).  The left column goes down the U (each level's output,
the feature map its skip carries), the right column comes back up (each up level's last
convolution), the deepest feature map sits at the bottom, the input and the output
probability at the top, as in Figure 2.  Every map is enlarged by pixel repetition to the
same tile, so the 8 x 8 (or 3 x 3) maps of the bottom show as the coarse blocks they are.

Each grey tile is one channel scaled from its own minimum (black) to its maximum (white); the
channels shown are those of largest spread (standard deviation), numbered as in the layer.
The output is drawn on the heat palette from 0 to 1, unscaled.
"""

import numpy
from PIL import Image, ImageDraw

from .draw import BLACK, GRAY, WHITE, arrow, centred_text, finish, font
from .heatmap import grey_levels, heat_colours


def feature_map_layers(model):
    """(levels, bottom, output) layer names of a UNet: per level, top first, (down output, up output);
    the bottom of the U (the bottleneck, else the deepest pooling); the output layer."""
    levels = [(down.block[-1].name, up.conv[-1].name) for down, up in zip(model.down, reversed(model.up))]
    bottom = model.bottleneck[-1].name if model.bottleneck else model.down[-1].pool.name
    return levels, bottom, model.output.name


def strongest_channels(array, count):
    """Indices of the ``count`` channels of ``array`` (h, w, c) with the largest standard deviation."""
    spread = array.reshape(-1, array.shape[-1]).std(axis=0)
    return [int(k) for k in numpy.argsort(-spread, kind="stable")[:count]]


def _tiles(array, channels, tile, heat):
    """[(channel, RGB tile)] of one map (h, w, c), each enlarged to tile x tile by repetition."""
    h, w, _ = array.shape
    repeat = max(1, tile // max(h, w))
    picks = range(min(channels, array.shape[-1])) if heat else strongest_channels(array, channels)
    tiles = []
    for k in picks:
        plane = array[..., k]
        rgb = heat_colours(plane) if heat else grey_levels(plane, float(plane.min()), float(plane.max()))
        rgb = rgb.repeat(repeat, axis=0).repeat(repeat, axis=1)
        tiles.append((k, Image.fromarray(rgb).resize((tile, tile), Image.NEAREST)))
    return tiles


def figure5_feature_maps(image, maps, levels, bottom, output, channels=4, tile=96,
                         title="Figure 5. One test image through the U-Net: a few channels of each level",
                         path=None):
    """Figure 5 from ``maps`` ({layer name: (1, h, w, c) or (h, w, c) array}, model.feature_maps's).

    ``levels``: [(down layer, up layer)] per level, top first; ``bottom``, ``output``: layer
    names (``feature_map_layers(model)`` gives all three for a UNet); ``image``: the input
    (H, W) or (H, W, 1).  ``image.info["tiles"]`` maps each layer name (and "input") to a
    list of (channel, (x0, y0, x1, y1)) of its tiles.
    """
    maps = {name: numpy.asarray(a)[0] if numpy.ndim(a) == 4 else numpy.asarray(a) for name, a in maps.items()}
    missing = [name for pair in levels for name in pair if name not in maps] + \
        [name for name in (bottom, output) if name not in maps]
    if missing:
        raise ValueError(f"figure5_feature_maps: no feature map for layer {missing[0]!r}")
    image = numpy.asarray(image, dtype=numpy.float64).reshape(numpy.shape(image)[:2])
    gap, label_h, index_h, row_gap, margin, middle = 4, 20, 16, 16, 24, 110
    cell_w = channels * (tile + gap) - gap
    row_h = label_h + tile + index_h + row_gap
    top = 64
    width = 2 * margin + 2 * cell_w + middle
    height = top + (len(levels) + 2) * row_h + 30
    figure = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(figure)
    centred_text(draw, (width / 2, 12), title, font(17))
    centred_text(draw, (width / 2, 36), "grey: each channel from its minimum (black) to its maximum (white); "
                                        "output: probability 0 (black) to 1 (yellow)", font(12), GRAY)
    label_font, index_font = font(13), font(11)
    placed = {}

    def cell(name, array, x, y, heat=False, shown=None):
        h, w, c = array.shape
        draw.text((x, y), f"{shown or name}  {h} x {w} x {c}", font=label_font, fill=BLACK)
        boxes = []
        for j, (k, picture) in enumerate(_tiles(array, channels, tile, heat)):
            tx, ty = x + j * (tile + gap), y + label_h
            figure.paste(picture, (tx, ty))
            draw.rectangle([tx - 1, ty - 1, tx + tile, ty + tile], outline=GRAY)
            centred_text(draw, (tx + tile / 2, ty + tile + 2), f"ch {k}", index_font, GRAY)
            boxes.append((k, (tx, ty, tx + tile, ty + tile)))
        placed[name] = boxes

    left, right = margin, margin + cell_w + middle
    cell("input", image[..., None], left, top, shown="input image")
    cell(output, maps[output], right, top, heat=True)
    for i, (down, up) in enumerate(levels, start=1):
        y = top + i * row_h
        cell(down, maps[down], left, y)
        cell(up, maps[up], right, y)
        mid = y + label_h + tile / 2
        arrow(draw, (left + cell_w + 8, mid), (right - 8, mid), fill=GRAY, width=1)
        centred_text(draw, ((left + cell_w + right) / 2, mid - 17), f"skip, level {i}", index_font, GRAY)
    y = top + (len(levels) + 1) * row_h
    cell(bottom, maps[bottom], (width - cell_w) // 2, y)
    centred_text(draw, (left + cell_w / 2, height - 26), "down: pooling halves each level", label_font, GRAY)
    centred_text(draw, (right + cell_w / 2, height - 26), "up: each level doubles it again", label_font, GRAY)
    figure.info["tiles"] = placed
    return finish(figure, path)
