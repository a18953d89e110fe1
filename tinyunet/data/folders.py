"""The companion notebook's folder layout: reading it, and writing any data set into it.

    root/trainimages/       root/trainmasks/
    root/validationimages/  root/validationmasks/
    root/testimages/        root/testmasks/

Images are PNG or JPEG, gray or RGB (converted to gray with Pillow's ITU-R 601
luma).  A mask is found by name, never by zipping two sorted lists: for image
``NAME.ext`` the mask is ``NAME.ext'`` or ``NAME-Mask.ext'`` (the original zip's
naming) in the masks folder, or ``NAME-Mask.ext'`` beside the image when the
masks folder is absent.  Pairs come back in natural order (``2`` before ``10``).

Masks are binarised with ``> mask_threshold`` (127): JPEG ringing stays far
from mid-gray, where ``> 0`` would turn it into foreground.  A mask with many
pixels far from both black and white (mid-gray by more than 64 levels) is
probably not a mask, and is refused.

Every problem is a ``ValueError`` naming the file or folder.  Loading never
writes anything; exporting writes into a fresh folder beside ``root`` and moves
it into place only when complete, so an interrupted export leaves the old data.

Example:
    >>> export_folders(make_phantom(n_subjects=12, size=64), "phantom")
    >>> data = load_folders("phantom"); data.test.images.shape
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy
from PIL import Image

from .intensity import from_levels, to_levels
from .splits import SPLIT_NAMES, Split, Splits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_TAG = "-Mask"
AMBIGUOUS_BAND = (64, 191)   # levels more than 64 from both black and white
AMBIGUOUS_LIMIT = 0.05       # share of a mask's pixels allowed in that band


def load_folders(root, mask_threshold=127):
    """Read ``root`` in the notebook's layout; return ``Splits`` of float32 NHWC arrays.

    ``subjects`` of a split: each name up to its first ``_`` (``Pt12_034`` -> ``Pt12``),
    or None when some name has no ``_``.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"load_folders: {root} is not a folder")
    splits, size = [], None
    for name in SPLIT_NAMES:
        split = _load_split(root, name, mask_threshold, size)
        size = split.images.shape[1:3]
        splits.append(split)
    return Splits(*splits)


def export_folders(splits, root, overwrite=False):
    """Write ``splits`` under ``root`` as 8-bit PNGs named ``<name>.png``, masks as 0 / 255.

    Refuses a non-empty ``root`` unless ``overwrite``; even then it only replaces
    a folder that holds nothing but the six split folders.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"export_folders: {root} exists and is not a folder")
    existing = sorted(os.listdir(root)) if root.is_dir() else []
    if existing and not overwrite:
        raise ValueError(f"export_folders: {root} is not empty; pass overwrite=True to replace it")
    strangers = [n for n in existing if n not in _folder_names()]
    if strangers:
        raise ValueError(f"export_folders: {root} holds {strangers[0]!r}, which is not a split "
                         f"folder; refusing to replace it")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        for name, split in splits.items():
            _write_split(split, staging / f"{name}images", staging / f"{name}masks", name)
        if existing:   # swap in the new folder, then drop the old one
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.replace(root, old / "data")
            os.replace(staging, root)
            shutil.rmtree(old)
        else:
            if root.is_dir():
                root.rmdir()
            os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return root


def natural_key(name):
    """Sort key that orders the digit runs of ``name`` as numbers: a2 < a10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


# --- reading ---

def _folder_names():
    return {f"{name}{kind}" for name in SPLIT_NAMES for kind in ("images", "masks")}


def _load_split(root, name, mask_threshold, size):
    image_dir, mask_dir = root / f"{name}images", root / f"{name}masks"
    if not image_dir.is_dir():
        raise ValueError(f"load_folders: missing split folder {image_dir}")
    files = _image_files(image_dir)
    flat = not mask_dir.is_dir()
    images = {stem: path for stem, path in files.items() if not stem.endswith(MASK_TAG)}
    if not images:
        raise ValueError(f"load_folders: {image_dir} holds no PNG or JPEG images")
    if flat:
        masks = {stem[:-len(MASK_TAG)]: path for stem, path in files.items() if stem.endswith(MASK_TAG)}
        if not masks:
            raise ValueError(f"load_folders: missing split folder {mask_dir} "
                             f"(and no NAME{MASK_TAG} masks beside the images in {image_dir})")
    else:
        masks = _masks_by_image_name(_image_files(mask_dir), mask_dir)
        if not masks:
            raise ValueError(f"load_folders: {mask_dir} holds no PNG or JPEG masks")
    for stem, path in images.items():
        if stem not in masks:
            raise ValueError(f"load_folders: image {path} has no mask "
                             f"({stem}.png or {stem}{MASK_TAG}.png) in {image_dir if flat else mask_dir}")
    for stem, path in masks.items():
        if stem not in images:
            raise ValueError(f"load_folders: mask {path} has no image named {stem} in {image_dir}")

    names = sorted(images, key=natural_key)
    image_list, mask_list = [], []
    for stem in names:
        image = _read_gray(images[stem])
        mask = _read_gray(masks[stem])
        expected = size or image.shape
        if image.shape != tuple(expected):
            raise ValueError(f"load_folders: {images[stem]} is {image.shape[1]}x{image.shape[0]} "
                             f"but the data set's images are {expected[1]}x{expected[0]}")
        if mask.shape != image.shape:
            raise ValueError(f"load_folders: mask {masks[stem]} is {mask.shape[1]}x{mask.shape[0]} "
                             f"but its image {images[stem]} is {image.shape[1]}x{image.shape[0]}")
        size = image.shape
        image_list.append(image)
        mask_list.append(_binarise(mask, mask_threshold, masks[stem]))
    images_array = from_levels(numpy.stack(image_list))[..., None]
    masks_array = numpy.stack(mask_list).astype(numpy.float32)[..., None]
    subjects = [n.split("_", 1)[0] for n in names] if all("_" in n for n in names) else None
    return Split(images_array, masks_array, names, subjects)


def _image_files(folder):
    """{stem: path} of the PNG and JPEG files in ``folder``; two files with one stem are an error."""
    found = {}
    for entry in sorted(os.listdir(folder), key=natural_key):
        path = folder / entry
        stem, suffix = os.path.splitext(entry)
        if entry.startswith(".") or suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        if stem in found:
            raise ValueError(f"load_folders: {found[stem]} and {path} have the same name; "
                             f"which one is meant?")
        found[stem] = path
    return found


def _masks_by_image_name(files, folder):
    """{image stem: mask path}, accepting NAME and NAME-Mask; both for one image is an error."""
    masks = {}
    for stem, path in files.items():
        key = stem[:-len(MASK_TAG)] if stem.endswith(MASK_TAG) else stem
        if key in masks:
            raise ValueError(f"load_folders: {masks[key]} and {path} in {folder} are both masks "
                             f"for image {key}")
        masks[key] = path
    return masks


def _read_gray(path):
    """The file as a (H, W) uint8 gray array; a ValueError naming it when it cannot be read."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                raise ValueError(f"load_folders: {path} is a {image.mode} image; tinyunet reads "
                                 f"8-bit gray or RGB")
            return numpy.asarray(image.convert("L"), dtype=numpy.uint8)
    except ValueError:
        raise
    except Exception as error:   # Pillow raises OSError, SyntaxError, struct.error... on bad files
        raise ValueError(f"load_folders: cannot read {path}: {error}") from error


def _binarise(mask, threshold, path):
    band = (mask > AMBIGUOUS_BAND[0]) & (mask < AMBIGUOUS_BAND[1])
    share = band.mean()
    if share > AMBIGUOUS_LIMIT:
        raise ValueError(f"load_folders: mask {path} is not two-valued: {share:.0%} of its pixels "
                         f"are mid-gray (between {AMBIGUOUS_BAND[0]} and {AMBIGUOUS_BAND[1]}); "
                         f"is it an image?")
    return mask > threshold


# --- writing ---

def _write_split(split, image_dir, mask_dir, name):
    image_dir.mkdir()
    mask_dir.mkdir()
    if len(set(split.names)) != len(split.names):
        raise ValueError(f"export_folders: the {name} split has two slices with one name")
    levels = to_levels(numpy.asarray(split.images)[..., 0])
    masks = numpy.where(numpy.asarray(split.masks)[..., 0] > 0.5, 255, 0).astype(numpy.uint8)
    for stem, level, mask in zip(split.names, levels, masks):
        Image.fromarray(level).save(image_dir / f"{stem}.png")
        Image.fromarray(mask).save(mask_dir / f"{stem}.png")
