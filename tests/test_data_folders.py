"""The notebook's folder layout: export / load round trip, naming rules, mask encodings, and every bad input."""

import json
import os

import numpy
import pytest
from PIL import Image

from folder_layouts import FOLDERS, snapshot, square_mask, tiny_layout, write_png
from tinyunet.data import export_folders, load_folders, make_phantom
from tinyunet.data.folders import MANIFEST, natural_key


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(n_subjects=3, size=32, seed=4, slices_per_subject=2)


def test_export_then_load_gives_the_same_arrays(phantom, tmp_path):
    export_folders(phantom, tmp_path / "data")
    assert sorted(os.listdir(tmp_path / "data")) == sorted(FOLDERS + [MANIFEST])
    before = snapshot(tmp_path / "data")
    loaded = load_folders(tmp_path / "data")
    assert snapshot(tmp_path / "data") == before     # loading writes nothing
    for (_, a), (_, b) in zip(phantom.items(), loaded.items()):
        assert numpy.array_equal(a.images, b.images) and numpy.array_equal(a.masks, b.masks)
        assert a.names == b.names
        assert b.subjects == [f"s{s:03d}" for s in a.subjects]
        assert b.images.dtype == numpy.float32


def test_loaded_data_keeps_its_own_names(tmp_path):
    tiny_layout(tmp_path / "src", names=("Pt1_2", "Pt1_10", "Pt2_1"), image_ext=".jpg")
    data = load_folders(tmp_path / "src")
    assert data.train.names == ["Pt1_2", "Pt1_10", "Pt2_1"]      # natural order
    assert data.train.subjects == ["Pt1", "Pt1", "Pt2"]
    export_folders(data, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out" / "testimages")) == ["Pt1_10.png", "Pt1_2.png", "Pt2_1.png"]
    again = load_folders(tmp_path / "out")
    assert numpy.array_equal(again.test.masks, data.test.masks)


def test_names_without_underscore_have_no_subjects(tmp_path):
    assert load_folders(tiny_layout(tmp_path, names=("x1", "x2"))).train.subjects is None


def test_pairs_by_name_not_by_sorted_position(tmp_path):
    root = tmp_path
    for split in ("train", "validation", "test"):
        for name, value in (("b", 200), ("a", 60)):
            write_png(root / f"{split}images" / f"{name}.png", numpy.full((8, 8), value))
        big = numpy.zeros((8, 8)); big[:, :6] = 255
        write_png(root / f"{split}masks" / "b-Mask.png", big)     # sorts after "a.png" would not
        write_png(root / f"{split}masks" / "a.png", square_mask())
    data = load_folders(root)
    assert data.train.names == ["a", "b"]
    assert data.train.masks[0].sum() == 9 and data.train.masks[1].sum() == 48


def test_zip_naming_beside_the_image_and_rgb_and_jpeg(tmp_path):
    root = tiny_layout(tmp_path, names=("img1", "img2"), image_ext=".jpg", mask_name="{}-Mask{}", flat=True)
    rgb = numpy.zeros((8, 8, 3), numpy.uint8); rgb[..., 0] = 90; rgb[..., 1] = 90; rgb[..., 2] = 90
    Image.fromarray(rgb).save(root / "testimages" / "img1.jpg", quality=95)
    data = load_folders(root)
    assert data.test.names == ["img1", "img2"]
    assert data.test.masks[0].sum() == 9     # JPEG ringing does not survive > 127
    assert abs(data.test.images[0].mean() * 255 - 90) < 3


def test_mask_threshold_is_configurable(tmp_path):
    root = tiny_layout(tmp_path, names=("a", "b"))
    faint = numpy.zeros((8, 8)); faint[0, 0] = 40
    write_png(root / "trainmasks" / "a.png", faint)
    assert load_folders(root).train.masks[0].sum() == 0
    assert load_folders(root, mask_threshold=30).train.masks[0].sum() == 1


def _expect(root, *fragments):
    with pytest.raises(ValueError) as info:
        load_folders(root)
    for fragment in fragments:
        assert str(fragment) in str(info.value)


@pytest.mark.parametrize("folder", ["validationimages", "testmasks"], ids=["images", "masks"])
def test_missing_split_folder(tmp_path, folder):
    root = tiny_layout(tmp_path)
    for f in os.listdir(root / folder):
        os.remove(root / folder / f)
    os.rmdir(root / folder)
    _expect(root, "missing split folder", root / folder)


def test_empty_folder(tmp_path):
    root = tiny_layout(tmp_path)
    os.remove(root / "trainimages" / "a.png")
    _expect(root, "holds no PNG or JPEG images", root / "trainimages")


def test_unpaired_image(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "testimages" / "b.png", numpy.zeros((8, 8)))
    _expect(root, "has no mask", root / "testimages" / "b.png")


def test_unpaired_mask(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "testmasks" / "c-Mask.png", square_mask())
    _expect(root, "has no image", root / "testmasks" / "c-Mask.png")


def test_two_masks_for_one_image(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "trainmasks" / "a-Mask.png", square_mask())
    _expect(root, "both masks for image a")


def test_sizes_differ(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "trainmasks" / "a.png", numpy.zeros((8, 9)))
    _expect(root, "is 9x8", root / "trainmasks" / "a.png")


def test_sizes_differ_between_images(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "testimages" / "a.png", numpy.zeros((16, 16)))
    write_png(root / "testmasks" / "a.png", numpy.zeros((16, 16)))
    _expect(root, "is 16x16", "8x8", root / "testimages" / "a.png")


def test_the_odd_size_is_blamed_not_the_majority(tmp_path):
    root = tiny_layout(tmp_path, names=("a", "b", "c"))
    write_png(root / "trainimages" / "a.png", numpy.zeros((12, 10)))
    write_png(root / "trainmasks" / "a.png", square_mask(12)[:, :10])
    _expect(root, root / "trainimages" / "a.png", "is 10x12", "8x8")


def test_unreadable_file(tmp_path):
    root = tiny_layout(tmp_path)
    (root / "trainimages" / "a.png").write_bytes(b"not an image at all")
    _expect(root, "cannot read", root / "trainimages" / "a.png")


def test_truncated_file(tmp_path):
    root = tiny_layout(tmp_path, size=64)
    noisy = numpy.random.default_rng(0).integers(0, 255, (64, 64))
    write_png(root / "validationimages" / "a.png", noisy)
    data = (root / "validationimages" / "a.png").read_bytes()
    (root / "validationimages" / "a.png").write_bytes(data[: len(data) // 2])
    _expect(root, "cannot read", root / "validationimages" / "a.png")


def test_mask_that_is_not_two_valued(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "trainmasks" / "a.png", numpy.full((8, 8), 128))
    _expect(root, "not two-valued", root / "trainmasks" / "a.png")


def test_sixteen_bit_images_are_refused(tmp_path):
    root = tiny_layout(tmp_path)
    Image.fromarray(numpy.full((8, 8), 3000, numpy.uint16)).save(root / "trainimages" / "a.png")
    _expect(root, "8-bit", root / "trainimages" / "a.png")


def test_same_name_twice(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "trainimages" / "a.jpg", numpy.zeros((8, 8)))
    _expect(root, "have the same name")


def test_not_a_folder(tmp_path):
    _expect(tmp_path / "nowhere", "is not a folder")


def test_source_unchanged_after_failed_load(tmp_path):
    root = tiny_layout(tmp_path)
    write_png(root / "testimages" / "b.png", numpy.zeros((8, 8)))
    before = snapshot(root)
    with pytest.raises(ValueError):
        load_folders(root)
    assert snapshot(root) == before


def test_natural_key():
    assert sorted(["a10", "a2", "b1", "A3"], key=natural_key) == ["a2", "A3", "a10", "b1"]


# --- mask encodings: 0/255, 0/1, RGB, palette ---

def _rewrite_masks(root, convert):
    """Rewrite every exported mask ``a`` (0 / 255) as the Pillow image ``convert(a)``."""
    for split in ("train", "validation", "test"):
        for entry in os.listdir(root / f"{split}masks"):
            path = root / f"{split}masks" / entry
            with Image.open(path) as image:
                levels = numpy.asarray(image)
            convert(levels).save(path)


def _zero_one(a):
    return Image.fromarray((a > 0).astype(numpy.uint8))


def _pure_red(a, alpha=False):
    rgb = numpy.zeros(a.shape + (4 if alpha else 3,), numpy.uint8)
    rgb[..., 0] = a
    if alpha:
        rgb[..., 3] = 255
    return Image.fromarray(rgb)


def _palette_zero_one(a):
    image = Image.fromarray((a > 0).astype(numpy.uint8), mode="P")
    image.putpalette([0, 0, 0, 0, 200, 0])      # index 1 drawn in green
    return image


@pytest.mark.parametrize("convert", [_zero_one, _pure_red, lambda a: _pure_red(a, alpha=True),
                                     _palette_zero_one],
                         ids=["zero_one", "pure_red", "pure_red_rgba", "palette"])
def test_masks_in_any_encoding_read_like_the_0_255_export(phantom, tmp_path, convert):
    export_folders(phantom, tmp_path / "ref")
    reference = load_folders(tmp_path / "ref")
    export_folders(phantom, tmp_path / "other")
    _rewrite_masks(tmp_path / "other", convert)
    loaded = load_folders(tmp_path / "other")
    for (_, a), (_, b) in zip(reference.items(), loaded.items()):
        assert a.masks.any() and numpy.array_equal(a.masks, b.masks)


def test_zero_one_is_detected_per_mask_folder(tmp_path):
    root = tiny_layout(tmp_path, names=("a", "b"))
    write_png(root / "testmasks" / "a.png", square_mask() // 255)
    write_png(root / "testmasks" / "b.png", square_mask() // 255)
    data = load_folders(root)
    assert data.test.masks.sum() == 18 and data.train.masks.sum() == 18


def test_a_zero_one_mask_among_0_255_ones_is_named_not_read_as_empty(tmp_path):
    root = tiny_layout(tmp_path, names=("a", "b", "c"))
    write_png(root / "trainmasks" / "b.png", square_mask() // 255)
    before = snapshot(root)
    _expect(root, "mask", root / "trainmasks" / "b.png", "holds 0 / 1", root / "trainmasks" / "a.png",
            "would read as background")
    assert snapshot(root) == before
    write_png(root / "trainmasks" / "b.png", numpy.zeros((8, 8)))       # an empty mask is still fine
    assert load_folders(root).train.masks.sum() == 18


def test_a_mask_folder_with_every_mask_empty_is_an_error(tmp_path):
    root = tiny_layout(tmp_path, names=("a", "b"))
    for name in ("a", "b"):
        write_png(root / "validationmasks" / f"{name}.png", numpy.zeros((8, 8)))
    _expect(root, "every mask in", root / "validationmasks", "is empty", "check the mask encoding")


# --- several classes: label values and classes.json ---

@pytest.fixture(scope="module")
def three_organs():
    return make_phantom(n_subjects=3, size=32, seed=2, slices_per_subject=3, organ=("liver", "spleen", "kidneys"))


def test_several_classes_round_trip_as_label_values(three_organs, tmp_path):
    root = export_folders(three_organs, tmp_path / "data")
    assert json.loads((root / "classes.json").read_text()) == ["background", "liver", "spleen", "kidneys"]
    assert "classes.json" in json.loads((root / MANIFEST).read_text())["files"]
    with Image.open(next((root / "testmasks").iterdir())) as mask:
        assert mask.mode == "L" and numpy.asarray(mask).max() <= 3
    loaded = load_folders(root)
    assert loaded.class_names == three_organs.class_names
    for (_, a), (_, b) in zip(three_organs.items(), loaded.items()):
        assert numpy.array_equal(a.images, b.images) and numpy.array_equal(a.masks, b.masks)
        assert b.masks.dtype == numpy.float32 and b.class_names == a.class_names and a.names == b.names
    export_folders(three_organs, root, overwrite=True)      # classes.json is the export's own file
    (root / "classes.json").write_text('["background", "a", "b", "c"]')
    with pytest.raises(ValueError, match="classes.json was changed"):
        export_folders(three_organs, root, overwrite=True)


def test_one_named_class_round_trips_its_name(tmp_path):
    liver = make_phantom(n_subjects=3, size=16, seed=0, slices_per_subject=2, organ="liver")
    loaded = load_folders(export_folders(liver, tmp_path / "liver"))
    assert loaded.class_names == ("liver",) and numpy.array_equal(loaded.test.masks, liver.test.masks)


def test_palette_label_masks_are_read_by_index(three_organs, tmp_path):
    root = export_folders(three_organs, tmp_path / "data")
    def to_palette(levels):
        image = Image.fromarray(levels, mode="P")
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
        return image
    _rewrite_masks(root, to_palette)
    assert numpy.array_equal(load_folders(root).test.masks, three_organs.test.masks)


@pytest.mark.parametrize("problem, message", [
    ("value", "holds the value 7, but classes.json names 4 classes"),
    ("rgb", "is a RGB image"),
    ("json", "must be a JSON list of distinct class names"),
    ("background", "every label mask in .* is background"),
])
def test_bad_label_masks_are_named(three_organs, tmp_path, problem, message):
    root = export_folders(three_organs, tmp_path / "data")
    if problem == "json":
        (root / "classes.json").write_text('{"background": 0}')
    else:
        convert = {"value": lambda a: Image.fromarray(numpy.where(a > 0, 7, 0).astype(numpy.uint8)),
                   "rgb": lambda a: Image.fromarray(a).convert("RGB"),
                   "background": lambda a: Image.fromarray(numpy.zeros_like(a))}[problem]
        _rewrite_masks(root, convert)
    with pytest.raises(ValueError, match=message):
        load_folders(root)
