"""Figure 6: the first layer's kernels at initialisation and after training, on one grey scale.

"A filter is the Keras term for a convolutional kernel" and "we use the initialization
function described by He et al, hence the name he_normal" (the article).  The top row is
each of the first convolution's filters as it was drawn (he_normal: zero-mean noise of
standard deviation sqrt(2 / fan_in)); the bottom row the same filters after training.
Both rows share one scale, symmetric about 0: -m black, 0 mid grey, +m white, with m the
largest |weight| of either row, so a change of contrast is a change of the weights.  A third
row shows the change (after - before) on its own symmetric scale, written beside it: training
moves a first layer's weights little, and this row shows where it did.
"""

import numpy
from PIL import Image, ImageDraw

from .draw import BLACK, GRAY, WHITE, centred_text, finish, font
from .heatmap import colour_bar, grey_levels


def figure6_kernels(initial, trained, names=("at initialisation", "after training"), layer="first convolution",
                    scale=12, title="Figure 6. The first layer's kernels before and after training", path=None):
    """Figure 6 from two kernels of one shape (kh, kw, C, F) (Conv2D's layout), the first input channel's.

    ``names`` label the two rows; each weight is a ``scale`` x ``scale`` square.
    ``image.info["tiles"]`` maps (row name, filter) to (x0, y0, x1, y1) (the third row is
    "change (after - before)"); ``info["scale"]`` is (-m, m), the weights drawn black and
    white in the first two rows, ``info["change_scale"]`` the third row's (-d, d).
    """
    initial, trained = (numpy.asarray(k, dtype=numpy.float64) for k in (initial, trained))
    if initial.shape != trained.shape or initial.ndim != 4:
        raise ValueError(f"figure6_kernels: kernels {initial.shape} and {trained.shape} must share one "
                         "(kh, kw, C, F) shape")
    kh, kw, _, filters = initial.shape
    m = float(max(numpy.abs(initial[:, :, 0]).max(), numpy.abs(trained[:, :, 0]).max())) or 1.0
    tile_w, tile_h, gap = kw * scale, kh * scale, 14
    label_w, margin, top, bar_w = 190, 20, 70, 110
    row_h = tile_h + 50
    width = margin + label_w + filters * (tile_w + gap) + bar_w
    height = top + 3 * row_h + 20
    change = trained - initial
    d = float(numpy.abs(change[:, :, 0]).max()) or 1.0
    figure = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(figure)
    centred_text(draw, (width / 2, 12), title, font(17))
    centred_text(draw, (width / 2, 38), f"{layer}: {filters} filters of {kh} x {kw}, one shared grey scale "
                                        "(0 is mid grey)", font(13), GRAY)
    tiles = {}
    label_font, small = font(14), font(11)
    rows = ((names[0], initial, m, f"std {initial[:, :, 0].std():.3f}"),
            (names[1], trained, m, f"std {trained[:, :, 0].std():.3f}"),
            ("change (after - before)", change, d, f"its own scale: +/- {d:.3f}"))
    for row, (name, kernel, bound, note) in enumerate(rows):
        y = top + row * row_h + (16 if row == 2 else 0)
        draw.text((margin, y + tile_h / 2 - 16), name, font=label_font, fill=BLACK)
        draw.text((margin, y + tile_h / 2 + 4), note, font=small, fill=GRAY)
        for f in range(filters):
            x = margin + label_w + f * (tile_w + gap)
            rgb = grey_levels(kernel[:, :, 0, f], -bound, bound).repeat(scale, axis=0).repeat(scale, axis=1)
            figure.paste(Image.fromarray(rgb), (x, y))
            draw.rectangle([x - 1, y - 1, x + tile_w, y + tile_h], outline=GRAY)
            centred_text(draw, (x + tile_w / 2, y + tile_h + 4), f"filter {f}", small, GRAY)
            tiles[(name, f)] = (x, y, x + tile_w, y + tile_h)
    bar_x = width - bar_w + 30
    colour_bar(figure, (bar_x, top + 10, bar_x + 16, top + 2 * row_h - 40), -m, m, grey_levels,
               ticks=[-m, 0.0, m], label="weight", digits=2)
    figure.info["tiles"], figure.info["scale"], figure.info["change_scale"] = tiles, (-m, m), (-d, d)
    return finish(figure, path)
