"""Lesson 7's figures hold what they claim: read back from the pixels where ``info`` says they were drawn."""

import numpy
import pytest
from PIL import Image

from tinyunet import diagnostics, plots
from tinyunet.models import UNet


def pixels(image):
    return numpy.asarray(image.convert("RGB")).astype(int)


def crop(array, box):
    x0, y0, x1, y1 = (int(v) for v in box)
    return array[y0:y1, x0:x1]


def enlarge(rgb, scale):
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1)


def not_blank(image):
    rgb = pixels(image).reshape(-1, 3)
    return len(numpy.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])) > 20


@pytest.fixture(scope="module")
def small_model():
    return UNet("article", input_shape=(32, 32, 1), seed=3, filters=[4, 8, 8])


@pytest.fixture(scope="module")
def slices():
    rng = numpy.random.default_rng(5)
    images = rng.random((3, 32, 32, 1)).astype(numpy.float32)
    masks = numpy.zeros((3, 32, 32, 1), numpy.float32)
    masks[0, 10:18, 12:20] = 1
    masks[1, 4:9, 20:27] = 1                       # image 2 has no pancreas
    probabilities = numpy.clip(masks * 0.8 + rng.random(masks.shape) * 0.3, 0, 1).astype(numpy.float32)
    return images, masks, probabilities


def test_figure5_draws_every_level_and_the_output_as_computed(small_model, slices, tmp_path):
    images = slices[0]
    levels, bottom, output = plots.feature_map_layers(small_model)
    assert levels == [("down1_norm", "up1_conv"), ("down2_conv", "up2_conv"), ("down3_norm", "up3_conv")]
    assert (bottom, output) == ("down3_pool", "output")
    maps = small_model.feature_maps(images[:1], layers=[n for pair in levels for n in pair] + [bottom, output])
    figure = plots.figure5_feature_maps(images[0], maps, levels, bottom, output, tile=96,
                                        path=tmp_path / "f5.png")
    saved = Image.open(tmp_path / "f5.png")
    assert saved.format == "PNG" and saved.size == figure.size and min(figure.size) > 500 and not_blank(figure)
    tiles, array = figure.info["tiles"], pixels(saved)
    assert set(tiles) == {"input", output, bottom} | {n for pair in levels for n in pair}
    assert all(len(tiles[name]) == min(4, maps[name].shape[-1]) for name in maps)
    (channel, box), = tiles[output]                 # the probability, unscaled on the heat palette
    expected = enlarge(plots.heat_colours(maps[output][0, ..., channel]), 3)
    assert numpy.array_equal(crop(array, box), expected)
    deepest = maps[bottom][0]                        # 4 x 4 maps as 24-pixel blocks, own min to max
    for channel, box in tiles[bottom]:
        plane = deepest[..., channel]
        grey = plots.grey_levels(plane, float(plane.min()), float(plane.max()))
        assert numpy.array_equal(crop(array, box), enlarge(grey, 24))
    spread = deepest.reshape(-1, deepest.shape[-1]).std(axis=0)
    assert [k for k, _ in tiles[bottom]] == list(numpy.argsort(-spread, kind="stable")[:4])


def test_figure6_shares_one_grey_scale_and_shows_the_change(small_model, tmp_path):
    initial = small_model.layers[0].params["kernel"]
    trained = initial.copy()
    trained[..., 0] *= 2.0                           # only filter 0 changes
    figure = plots.figure6_kernels(initial, trained, names=("before", "after"), path=tmp_path / "f6.png")
    array = pixels(Image.open(tmp_path / "f6.png"))
    m = float(numpy.abs(trained).max())
    assert figure.info["scale"] == (-m, m)
    for f in range(initial.shape[-1]):
        for name, kernel in (("before", initial), ("after", trained)):
            expected = enlarge(plots.grey_levels(kernel[:, :, 0, f], -m, m), 12)
            assert numpy.array_equal(crop(array, figure.info["tiles"][(name, f)]), expected)
        unchanged = crop(array, figure.info["tiles"][("change (after - before)", f)])
        assert (f == 0) != bool((unchanged == 128).all())      # zero change is mid grey
    with pytest.raises(ValueError, match="shape"):
        plots.figure6_kernels(initial, trained[..., :2])


def test_figure7_heat_maps_masks_sweep_and_histogram(slices, tmp_path):
    images, masks, probabilities = slices
    sweep = diagnostics.threshold_sweep(masks, probabilities)
    histogram = diagnostics.probability_histogram(probabilities)
    figure = plots.figure7_probabilities(images, masks, probabilities, sweep, histogram, panel=64,
                                         path=tmp_path / "f7.png")
    array = pixels(Image.open(tmp_path / "f7.png"))
    assert not_blank(figure) and len(figure.info["panels"]) == 9
    for row, kind, (x, y), scale in figure.info["panels"]:
        got = array[y:y + 32 * scale, x:x + 32 * scale]
        if kind == "probability":
            assert numpy.array_equal(got, enlarge(plots.heat_colours(probabilities[row, ..., 0]), scale))
        else:
            drawn = masks[row, ..., 0] > 0.5 if kind == "truth" else probabilities[row, ..., 0] > 0.5
            cyan = (got[..., 0] < got[..., 1]) & (got[..., 1] == got[..., 2])
            assert numpy.array_equal(cyan, enlarge(drawn, scale))
    x0, y0, x1, y1 = figure.info["sweep_box"]
    best_x = round(x0 + sweep.best_threshold * (x1 - x0))
    column = array[y0 + 2:y1 - 2, best_x - 1:best_x + 2]
    assert (column == plots.BEST).all(axis=-1).any()              # the best threshold's red line
    bars = crop(array, figure.info["histogram_box"])
    assert (bars == plots.BLUE).all(axis=-1).sum() > 100


def test_figure8_is_conv2d_transpose_drawn_step_by_step(tmp_path):
    kernel = numpy.array([[0.5, -1.0, 0.2], [0.1, -0.3, 0.2], [0.7, 0.5, -0.4]])
    figure = plots.figure8_transposed_conv(numpy.arange(1, 17.0).reshape(4, 4), kernel, path=tmp_path / "f8.png")
    assert figure.info["max_difference"] < 1e-12 and not_blank(figure)
    grids = figure.info["grids"]
    sizes = {name: ((x1 - x0) // 32, (y1 - y0) // 32) for name, (x0, y0, x1, y1) in grids.items()}
    assert sizes["image"] == (4, 4) and sizes["inserted"] == (7, 7) and sizes["padded"] == (10, 10)
    assert sizes["flipped kernel"] == (3, 3) and sizes["zero insertion"] == sizes["nearest"] == (8, 8)
    grid, pads = plots.transposed_conv_example(numpy.arange(1, 17.0).reshape(4, 4), kernel)
    assert pads == ((2, 1), (2, 1)) and numpy.array_equal(grid["flipped kernel"], kernel[::-1, ::-1])
    assert numpy.array_equal(grid["nearest"], numpy.arange(1, 17.0).reshape(4, 4).repeat(2, 0).repeat(2, 1))
    with Image.open(tmp_path / "f8.png") as saved:
        assert saved.size == figure.size


def test_figure9_paints_the_error_colours_exactly_on_the_error_pixels(slices, tmp_path):
    images, masks, probabilities = slices
    predicted = numpy.roll(masks > 0.5, 2, axis=2)        # shifted right: misses on the left, near FP on the right
    predicted[[0, 2], 26:28, 2:4] = True                 # far from any pancreas (image 2 has none)
    codes = diagnostics.error_map(masks, predicted, near=2)
    assert {diagnostics.FALSE_POSITIVE_NEAR, diagnostics.FALSE_POSITIVE_FAR, diagnostics.FALSE_NEGATIVE,
            diagnostics.TRUE_POSITIVE} <= set(numpy.unique(codes))
    figure = plots.figure9_errors(images, codes, near=2, panel=96, path=tmp_path / "f9.png")
    array = pixels(Image.open(tmp_path / "f9.png"))
    colours = figure.info["colours"]
    assert len(set(colours.values())) == 4 and len(figure.info["panels"]) == 6
    for index, kind, (x, y), scale, (y0, x0, side) in figure.info["panels"]:
        part = codes[index, y0:y0 + side, x0:x0 + side]
        got = array[y:y + side * scale, x:x + side * scale]
        expected_codes = enlarge(part, scale)
        for code, colour in colours.items():
            assert numpy.array_equal((got == colour).all(axis=-1), expected_codes == code), (index, kind, code)
        grey = got[expected_codes == diagnostics.TRUE_NEGATIVE]
        assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    zoom = [p for p in figure.info["panels"] if p[0] == 0 and p[1] == "zoom"][0]
    y0, x0, side = zoom[4]
    assert y0 <= 10 and y0 + side >= 18 and x0 <= 12 and x0 + side >= 20       # the pancreas is in its zoom
    with pytest.raises(ValueError, match="do not match"):
        plots.figure9_errors(images[:2], codes)


def test_figure4_probability_column_is_optional(slices):
    images, masks, probabilities = slices
    plain = plots.figure4_predictions(images, masks, probabilities, panel=64)
    assert {kind for _, kind, _, _ in plain.info["panels"]} == {"truth", "prediction"}
    figure = plots.figure4_predictions(images, masks, probabilities, panel=64, probabilities=True)
    array = pixels(figure)
    heat = [p for p in figure.info["panels"] if p[1] == "probability"]
    prediction_x = max(x for _, kind, (x, _), _ in figure.info["panels"] if kind == "prediction")
    assert len(heat) == 3 and all(x > prediction_x for _, _, (x, _), _ in heat)
    for row, _, (x, y), scale in heat:
        expected = enlarge(plots.heat_colours(probabilities[row, ..., 0]), scale)
        assert numpy.array_equal(array[y:y + 32 * scale, x:x + 32 * scale], expected)
