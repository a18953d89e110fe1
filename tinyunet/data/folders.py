"""The companion notebook's folder layout: reading it, and writing any data set into it.

    root/trainimages/       root/trainmasks/
    root/validationimages/  root/validationmasks/
    root/testimages/        root/testmasks/

Images are PNG or JPEG, gray or RGB (converted to gray with Pillow's ITU-R 601
luma), all of one size.  A mask is found by name, never by zipping two sorted
lists: for image ``NAME.ext`` the mask is ``NAME.ext'`` or ``NAME-Mask.ext'``
(the original zip's naming) in the masks folder, or ``NAME-Mask.ext'`` beside
the image when the masks folder is absent.  Pairs come back in natural order
(``2`` before ``10``).

How a mask pixel is read:
    gray (L) or bilevel (1)        its level 0..255
    RGB, RGBA, palette (P), LA     its brightest colour channel (alpha is ignored),
                                   so pure red (255, 0, 0) counts like white
The encoding is detected per mask folder: a folder whose brightest mask pixel
is 1 holds {0, 1} masks (foreground = 1); any other folder is 0 / 255, with
foreground ``> mask_threshold`` (127): JPEG ringing stays far from mid-gray,
where ``> 0`` would turn it into foreground.  A {0, 1} mask in a 0 / 255 folder
(its brightest pixel is 1) is refused, naming it, rather than read as empty.  A mask with many pixels far from
both black and white (mid-gray by more than 64 levels) is probably not a mask,
and is refused; so is a mask folder in which every mask reads as empty.

Several classes (K >= 2, e.g. background, liver, spleen, pancreas) are label
values: one 8-bit PNG per slice, gray (L) or palette (P, its indices), pixel
value k for the k-th class (0 the background), and ``root/classes.json``, the
class names in channel order as a JSON list:

    ["background", "liver", "spleen", "pancreas"]

``load_folders`` reads such masks into one-hot (N, H, W, K) float32 with the
names as ``class_names``; a value >= K, an RGB or a JPEG label mask is refused.
A ``classes.json`` of one name (["liver"]) only names the class of masks read
as above; without the file a set is one class called "pancreas".
``export_folders`` writes ``classes.json`` for any other classes than that.

Every problem is a ``ValueError`` naming the file or folder.  Loading never
writes anything.  ``export_folders`` (export.py, importable from here too)
writes any ``Splits`` in this layout and encoding, and replaces only its own
previous exports.

Example:
    >>> export_folders(make_phantom(n_subjects=12, size=64), "phantom")
    >>> data = load_folders("phantom"); data.test.images.shape
"""

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy
from PIL import Image

from .export import CLASSES, MANIFEST, export_folders  # noqa: F401  (MANIFEST, export_folders: public here too)
from .intensity import from_levels
from .splits import SPLIT_NAMES, Split, Splits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_TAG = "-Mask"
LABEL_MODES = ("L", "P")   # modes whose pixel values are class labels as they stand
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")
AMBIGUOUS_BAND = (64, 191)   # levels more than 64 from both black and white
AMBIGUOUS_LIMIT = 0.05       # share of a mask's pixels allowed in that band


def load_folders(root, mask_threshold=127):
    """Read ``root`` in the notebook's layout; return ``Splits`` of float32 NHWC arrays.

    ``mask_threshold`` applies to 0 / 255 mask folders; a {0, 1} folder is read as is.
    ``subjects`` of a split: each name up to its first ``_`` (``Pt12_034`` -> ``Pt12``),
    or None when some name has no ``_``.  With a ``classes.json`` of K >= 2 names the
    masks are label values and come back one-hot (N, H, W, K).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"load_folders: {root} is not a folder")
    class_names = _read_class_names(root)
    labels = class_names is not None and len(class_names) > 1
    read = [_read_split(root, name, labels) for name in SPLIT_NAMES]
    _check_one_size(read)
    if labels:
        return Splits(*(_labels_to_split(split, class_names) for split in read))
    return Splits(*(_to_split(split, mask_threshold, class_names) for split in read))


def natural_key(name):
    """Sort key that orders the digit runs of ``name`` as numbers: a2 < a10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


# --- reading ---

class _ReadSplit(NamedTuple):
    """One split as read from disk: uint8 (H, W) images and mask levels (or labels), before binarising."""
    names: list
    image_paths: list
    images: list
    mask_folder: Path
    mask_paths: list
    masks: list


def _read_class_names(root):
    """The names in ``root/classes.json`` as a tuple, or None without the file."""
    path = root / CLASSES
    if not path.exists():
        return None
    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"load_folders: cannot read {path}: {error}") from None
    if (not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names)
            or len(set(names)) != len(names)):
        raise ValueError(f"load_folders: {path} must be a JSON list of distinct class names, "
                         f'e.g. ["background", "liver"]; got {names!r}')
    if len(names) > 256:
        raise ValueError(f"load_folders: {path} names {len(names)} classes; 8-bit label masks hold 256")
    return tuple(names)


def _read_split(root, name, labels=False):
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
    read = _ReadSplit(names, [images[s] for s in names], [], image_dir if flat else mask_dir,
                      [masks[s] for s in names], [])
    for image_path, mask_path in zip(read.image_paths, read.mask_paths):
        image = _read_levels(image_path, mask=False)
        mask = _read_labels(mask_path) if labels else _read_levels(mask_path, mask=True)
        if mask.shape != image.shape:
            raise ValueError(f"load_folders: mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} "
                             f"but its image {image_path} is {image.shape[1]}x{image.shape[0]}")
        read.images.append(image)
        read.masks.append(mask)
    return read


def _check_one_size(read):
    """Refuse images of another size than most, naming the first odd file and both sizes."""
    sizes = Counter(image.shape for split in read for image in split.images)
    (h, w), count = sizes.most_common(1)[0]
    for split in read:
        for path, image in zip(split.image_paths, split.images):
            if image.shape != (h, w):
                raise ValueError(f"load_folders: {path} is {image.shape[1]}x{image.shape[0]}, but "
                                 f"{count} of the data set's {sizes.total()} images are {w}x{h}; "
                                 f"all must have one size")


def _to_split(read, threshold, class_names=None):
    """Binarise the mask levels with the encoding of their folder; the ``Split`` as arrays."""
    levels = numpy.stack(read.masks)
    band = ((levels > AMBIGUOUS_BAND[0]) & (levels < AMBIGUOUS_BAND[1])).mean(axis=(1, 2))
    if (band > AMBIGUOUS_LIMIT).any():
        index = int(numpy.argmax(band > AMBIGUOUS_LIMIT))
        raise ValueError(f"load_folders: mask {read.mask_paths[index]} is not two-valued: "
                         f"{band[index]:.0%} of its pixels are mid-gray (between {AMBIGUOUS_BAND[0]} "
                         f"and {AMBIGUOUS_BAND[1]}); is it an image?")
    brightest = int(levels.max())
    cut = 0 if brightest == 1 else threshold   # a {0, 1} folder
    peaks = levels.max(axis=(1, 2))
    if brightest > 1 and (peaks == 1).any():   # a {0, 1} mask among 0 / 255 ones: its 1s would vanish
        one, other = int(numpy.argmax(peaks == 1)), int(numpy.argmax(peaks > 1))
        raise ValueError(f"load_folders: mask {read.mask_paths[one]} holds 0 / 1 but other masks of "
                         f"{read.mask_folder} hold 0 / 255 (e.g. {read.mask_paths[other]}): its 1s would "
                         f"read as background; save every mask of a folder in one encoding")
    masks = levels > cut
    if not masks.any():
        raise ValueError(f"load_folders: every mask in {read.mask_folder} is empty (its brightest "
                         f"mask pixel is {brightest}, foreground is > {cut}): check the mask "
                         f"encoding (0/255, 0/1) or mask_threshold")
    return _split(read, masks.astype(numpy.float32)[..., None], class_names)


def _labels_to_split(read, class_names):
    """The ``Split`` of label-value masks: one-hot (N, H, W, K) in the order of ``class_names``."""
    labels = numpy.stack(read.masks)
    for path, mask in zip(read.mask_paths, read.masks):
        if mask.max() >= len(class_names):
            raise ValueError(f"load_folders: label mask {path} holds the value {int(mask.max())}, but "
                             f"{CLASSES} names {len(class_names)} classes (values 0..{len(class_names) - 1})")
    if not labels.any():
        raise ValueError(f"load_folders: every label mask in {read.mask_folder} is background (0)")
    one_hot = (labels[..., None] == numpy.arange(len(class_names))).astype(numpy.float32)
    return _split(read, one_hot, class_names)


def _split(read, masks, class_names):
    images = from_levels(numpy.stack(read.images))[..., None]
    names = read.names
    subjects = [n.split("_", 1)[0] for n in names] if all("_" in n for n in names) else None
    return Split(images, masks, names, subjects, class_names)


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


def _read_levels(path, mask):
    """The file as (H, W) uint8 levels: an image's luma, a mask's brightest colour channel."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in WIDE_MODES:
                raise ValueError(f"load_folders: {path} is a {image.mode} image; tinyunet reads "
                                 f"8-bit gray or RGB")
            if not mask or image.mode in ("L", "1"):
                return numpy.asarray(image.convert("L"), dtype=numpy.uint8)
            return numpy.asarray(image.convert("RGB"), dtype=numpy.uint8).max(axis=2)
    except ValueError:
        raise
    except Exception as error:   # Pillow raises OSError, SyntaxError, struct.error... on bad files
        raise ValueError(f"load_folders: cannot read {path}: {error}") from error


def _read_labels(path):
    """A label mask as (H, W) uint8 class values: an 8-bit gray PNG's levels, a palette PNG's indices."""
    if path.suffix.lower() != ".png":
        raise ValueError(f"load_folders: label mask {path} is not a PNG; lossy JPEG would change its "
                         f"class values")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in LABEL_MODES:
                raise ValueError(f"load_folders: label mask {path} is a {image.mode} image; with "
                                 f"{CLASSES} masks are 8-bit gray or palette PNGs of class values")
            return numpy.asarray(image, dtype=numpy.uint8)
    except ValueError:
        raise
    except Exception as error:   # Pillow raises OSError, SyntaxError, struct.error... on bad files
        raise ValueError(f"load_folders: cannot read {path}: {error}") from error
