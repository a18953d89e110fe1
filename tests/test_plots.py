"""The figures hold what they claim: found by colour in the pixels, not by trusting the code."""

import os
from types import SimpleNamespace

import numpy
import pytest
from PIL import Image

from tinyunet import metrics, plots
from tinyunet.layers import Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D
from tinyunet.models import UNet
from tinyunet.models.unet import DownLevel, UpLevel


def pixels(image):
    return numpy.asarray(image.convert("RGB")).astype(int)


def where_colour(array, colour):
    return numpy.all(array == numpy.array(colour), axis=-1)


def components(mask, min_size=1):
    """Number of 8-connected regions of True (of ``min_size`` pixels or more) in a 2-D array."""
    parent = {}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    previous = []
    for y, row in enumerate(numpy.asarray(mask, dtype=bool)):
        edges = numpy.flatnonzero(numpy.diff(numpy.concatenate(([0], row.astype(numpy.int8), [0]))))
        runs = [(y, int(s), int(e)) for s, e in zip(edges[::2], edges[1::2])]   # [s, e)
        for run in runs:
            parent[run] = run
            for other in previous:
                if other[1] <= run[2] and run[1] <= other[2]:     # touching, diagonals included
                    parent[find(run)] = find(other)
        previous = runs
    sizes = {}
    for run in parent:
        sizes[find(run)] = sizes.get(find(run), 0) + run[2] - run[1]
    return sum(size >= min_size for size in sizes.values())


def small_unet(levels, size=32):
    """A U-Net with ``levels`` pooling levels, assembled from the UNet's level classes (no preset).

    It has what Figure 2 reads: down, bottleneck, up, output, skip_sources() and the
    output shape of every layer, worked out here by walking the levels in forward order.
    """
    down = [DownLevel([Conv2D(4 * level, 3), LayerNormalization()], MaxPooling2D(2))
            for level in range(1, levels + 1)]
    up = [UpLevel([Conv2DTranspose(4 * level, 2, strides=2, activation="relu")], Concatenate(),
                  [Conv2D(4 * level, 3, activation="relu")]) for level in range(levels, 0, -1)]
    output = Conv2D(1, 1, activation="sigmoid")
    shapes, shape, skips = {}, (1, size, size, 1), []

    def run(layers, shape):
        for layer in layers:
            shape = shapes[layer.name] = layer.output_shape(shape)
        return shape

    for level in down:
        skips.append(run(level.block, shape))
        shape = run([level.pool], skips[-1])
    for level, skip in zip(up, reversed(skips)):
        shape = shapes[level.concat.name] = level.concat.output_shape([skip, run(level.up, shape)])
        shape = run(level.conv, shape)
    run([output], shape)
    sources = {u.concat.name: d.block[-1].name for d, u in zip(reversed(down), up)}
    return SimpleNamespace(down=down, bottleneck=[], up=up, output=output, shapes=shapes,
                           skip_sources=lambda: sources, input_shape=(size, size, 1))


# ----------------------------------------------------------------------------- Figure 1

def test_figure1_shows_the_three_cases_with_their_dice(tmp_path):
    cases = plots.overlap_cases()
    dices = [metrics.dice_score(t, p) for _, t, p in cases]
    assert dices[0] == 0.0 and dices[2] == 1.0
    assert 0.05 < dices[1] < 0.15                 # the article's "about 0.1"
    image = plots.figure1_dice(cases, path=tmp_path / "f1.png")
    width, height = image.size
    assert width > 3 * cases[0][1].shape[1] and height > cases[0][1].shape[0]
    array = pixels(image)
    assert components(where_colour(array, plots.TRUTH)) >= 3      # an outline per case (+ legend)
    assert where_colour(array, plots.PREDICTION).any()
    with Image.open(tmp_path / "f1.png") as saved:
        assert saved.size == image.size


# ----------------------------------------------------------------------------- Figure 2

def count_boxes(image, fill):
    """Boxes of one fill colour, checked against the pixels: filled inside, absent outside."""
    array = pixels(image)
    painted = where_colour(array, fill)
    inside = numpy.zeros_like(painted)
    boxes = [box for kind, level, box in image.info["blocks"]
             if {"down": plots.DOWN_FILL, "up": plots.UP_FILL, "bottom": plots.BOTTOM_FILL}.get(kind) == fill]
    for x0, y0, x1, y1 in boxes:
        region = painted[int(y0):int(y1), int(x0):int(x1)]
        assert region.mean() > 0.5                # the box is really painted
        inside[int(y0):int(y1) + 1, int(x0):int(x1) + 1] = True
    assert not (painted & ~inside).any()          # and nothing of that colour elsewhere
    assert components(painted, min_size=2000) == len(boxes)   # (letters enclose small specks)
    return len(boxes)


@pytest.mark.parametrize("preset, levels", [("article", 5), ("notebook", 4)])
def test_figure2_has_a_block_per_level_of_each_preset(preset, levels):
    model = UNet(preset, input_shape=(64, 64, 1))
    image = plots.figure2_unet(model)
    assert count_boxes(image, plots.DOWN_FILL) == levels
    assert count_boxes(image, plots.UP_FILL) == levels
    assert count_boxes(image, plots.BOTTOM_FILL) == 1
    skips = where_colour(pixels(image), plots.SKIP)
    for kind, level, (x0, y0, x1, y1) in image.info["blocks"]:
        if kind == "down":                        # a skip arrow leaves every down block
            assert skips[int(y0):int(y1), int(x1):int(x1) + 30].any()


@pytest.mark.parametrize("levels", [2, 3])
def test_figure2_follows_the_model_it_is_given(levels):
    model = small_unet(levels)
    image = plots.figure2_unet(model, title="a smaller U-Net")
    assert count_boxes(image, plots.DOWN_FILL) == levels
    assert count_boxes(image, plots.UP_FILL) == levels
    blocks = plots.unet_blocks(model)
    ups = [b for b in blocks if b.kind == "up"]
    assert sorted(b.skip_from for b in ups) == list(range(1, levels + 1))
    assert all(b.level == b.skip_from for b in ups)
    assert blocks[-1].rows[-1][1] == (1, 32, 32, 1)


def test_figure2_shapes_are_the_models_own():
    model = UNet("article", input_shape=(64, 64, 1))
    rows = [row for block in plots.unet_blocks(model) for row in block.rows if row[0] != "(pooled tensor)"][1:]
    assert [shape for _, shape in rows] == [tuple(model.shapes[layer.name]) for layer in model.layers]


# ----------------------------------------------------------------------------- Figure 3

@pytest.mark.parametrize("epochs", [1, 7, 23])
def test_figure3_has_a_point_per_epoch_for_each_curve(epochs, tmp_path):
    rng = numpy.random.default_rng(epochs)
    loss = list(numpy.linspace(0.9, 0.1, epochs) + rng.uniform(0, 0.02, epochs))
    val = list(numpy.linspace(0.95, 0.5, epochs) + 0.1 + rng.uniform(0, 0.02, epochs))
    image = plots.figure3_loss({"loss": loss, "val_loss": val}, path=tmp_path / "f3.png")
    assert image.size == (900, 560)
    x0, y0, x1, y1 = image.info["plot_box"]
    plot = pixels(image)[y0 + 1:y1, x0 + 1:x1]
    assert components(where_colour(plot, plots.BLUE)) == epochs
    assert components(where_colour(plot, plots.ORANGE)) == epochs


def test_figure3_marks_the_best_epoch_and_runs_left_to_right():
    val = [0.9, 0.6, 0.4, 0.45, 0.5]
    image = plots.figure3_loss({"loss": [0.8, 0.5, 0.3, 0.2, 0.1], "val_loss": val})
    x0, y0, x1, y1 = image.info["plot_box"]
    plot = pixels(image)[y0 + 1:y1, x0 + 1:x1]
    ys, xs = numpy.nonzero(where_colour(plot, plots.ORANGE))
    centres = sorted((xs[abs(xs - x) < 6].mean(), ys[abs(xs - x) < 6].mean()) for x in numpy.unique(xs)[::3])
    lowest_x = min(centres, key=lambda c: -c[1])[0]   # lowest loss = largest y in pixels
    dashed = numpy.all(plot == numpy.array(plots.GRAY), axis=-1)
    column = numpy.nonzero(dashed.sum(axis=0) > 0.3 * dashed.shape[0])[0]
    assert abs(column.mean() - lowest_x) < 3      # the dashed line stands at the best epoch (3)


def test_figure3_without_validation():
    image = plots.figure3_loss({"loss": [0.5, 0.4]})
    x0, y0, x1, y1 = image.info["plot_box"]
    plot = pixels(image)[y0 + 1:y1, x0 + 1:x1]
    assert components(where_colour(plot, plots.BLUE)) == 2
    assert not where_colour(plot, plots.ORANGE).any()


# ----------------------------------------------------------------------------- Figure 4

def test_figure4_cyan_exactly_where_the_masks_are(tmp_path):
    rng = numpy.random.default_rng(0)
    n, size = 3, 32
    images = rng.random((n, size, size, 1)).astype(numpy.float32)
    masks = numpy.zeros_like(images)
    predictions = numpy.zeros_like(images)
    for i in range(n):
        masks[i, 5 + i:15 + 2 * i, 8:20] = 1
        predictions[i, 7 + i:17 + 2 * i, 10:22] = rng.uniform(0.6, 1.0)
    predictions[0, 0, 0] = 0.4                      # below the threshold: not drawn
    image = plots.figure4_predictions(images, masks, predictions, path=tmp_path / "f4.png")
    array = numpy.asarray(Image.open(tmp_path / "f4.png").convert("RGB")).astype(int)
    coloured = (array[..., 0] != array[..., 1]) | (array[..., 1] != array[..., 2])
    accounted = numpy.zeros_like(coloured)
    panels = image.info["panels"]
    assert len(panels) == 2 * n
    for row, kind, (x, y), scale in panels:
        expected = (masks if kind == "truth" else predictions > 0.5)[row, ..., 0]
        expected = expected.repeat(scale, 0).repeat(scale, 1).astype(bool)
        h, w = expected.shape
        crop = array[y:y + h, x:x + w]
        is_cyan = (crop[..., 0] < crop[..., 1]) & (crop[..., 1] == crop[..., 2])
        assert numpy.array_equal(is_cyan, expected)
        gray = images[row, ..., 0].repeat(scale, 0).repeat(scale, 1)
        outside = crop[~expected]
        assert numpy.array_equal(outside[:, 0], numpy.round(gray[~expected] * 255).astype(int))
        accounted[y:y + h, x:x + w] = True
    assert not (coloured & ~accounted).any()        # no cyan outside the panels


def test_figure4_labels_each_row_with_its_dice():
    masks = numpy.zeros((2, 32, 32, 1), numpy.float32)
    masks[:, 8:16, 8:16] = 1
    images = numpy.full_like(masks, 0.5)
    perfect = plots.figure4_predictions(images, masks, masks)
    wrong = plots.figure4_predictions(images, masks, 1 - masks)
    assert perfect.size == wrong.size
    assert perfect.tobytes() != wrong.tobytes()
    assert perfect.size[1] > 2 * 256 and perfect.size[0] > 2 * 256    # panels enlarged to ~256 px



def test_figure4_gives_each_class_its_colour_and_names_it_in_a_legend():
    names = ("background", "liver", "pancreas")
    labels = numpy.zeros((2, 32, 32), int)
    labels[:, 4:12, 6:26] = 1
    labels[:, 18:26, 10:20] = 2
    guessed = labels.copy()
    guessed[1, 4:12, 6:16] = 2                       # the second prediction takes part of the liver for pancreas
    masks = numpy.eye(3, dtype=numpy.float32)[labels]
    predictions = 0.1 + 0.7 * numpy.eye(3, dtype=numpy.float32)[guessed]     # softmax-like, argmax = guessed
    images = numpy.full((2, 32, 32, 1), 0.4, numpy.float32)
    image = plots.figure4_predictions(images, masks, predictions, class_names=names)
    colours = plots.class_colours(names)
    assert colours == [(255, 140, 0), plots.CYAN]     # the pancreas keeps the article's cyan
    array = pixels(image)
    level = round(0.4 * 255)
    for row, kind, (x, y), scale in image.info["panels"]:
        drawn = (labels if kind == "truth" else guessed)[row].repeat(scale, 0).repeat(scale, 1)
        crop = array[y:y + drawn.shape[0], x:x + drawn.shape[1]]
        assert (crop[drawn == 0] == level).all()
        for k, colour in enumerate(colours, start=1):
            blended = numpy.rint(0.55 * level + 0.45 * numpy.array(colour)).astype(int)
            assert (crop[drawn == k] == blended).all(), (row, kind, k)
    above = array[:image.info["panels"][0][2][1]]     # the legend sits between the title and the panels
    for colour in colours:
        assert where_colour(above, colour).sum() > 100
    with pytest.raises(ValueError, match="class_names"):
        plots.figure4_predictions(images, masks, predictions, class_names=("background", "liver"))

# ----------------------------------------------------------------------------- saving

def test_save_is_atomic_and_touches_nothing_else(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    target = tmp_path / "figure3_loss.png"
    target.write_bytes(b"old")
    plots.figure3_loss({"loss": [0.5, 0.4]}, path=target)
    assert sorted(os.listdir(tmp_path)) == ["figure3_loss.png", "notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    with Image.open(target) as saved:
        assert saved.size == (900, 560)
    plots.save(Image.new("RGB", (4, 4)), tmp_path / "new" / "figure.png")
    assert os.listdir(tmp_path / "new") == ["figure.png"]
