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
where ``> 0`` would turn it into foreground.  A mask with many pixels far from
both black and white (mid-gray by more than 64 levels) is probably not a mask,
and is refused; so is a mask folder in which every mask reads as empty.

Every problem is a ``ValueError`` naming the file or folder.  Loading never
writes anything.  Exporting writes into a fresh folder beside ``root`` (with
the umask's permissions, 755 / 644 under umask 022) and moves it into place
only when complete, so an interrupted export leaves the old data.  It also
writes ``root/.tinyunet-export.json``, the SHA-256 of every file it wrote;
``overwrite=True`` replaces only a folder holding exactly those files,
unchanged, so a data set of one's own is never removed.  A link to a folder
is followed (the link stays); a dangling link is refused.

Example:
    >>> export_folders(make_phantom(n_subjects=12, size=64), "phantom")
    >>> data = load_folders("phantom"); data.test.images.shape
"""

import hashlib
import io
import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy
from PIL import Image

from ..fileio import make_staging_dir
from .intensity import from_levels, to_levels
from .splits import SPLIT_NAMES, Split, Splits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_TAG = "-Mask"
MANIFEST = ".tinyunet-export.json"
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")
AMBIGUOUS_BAND = (64, 191)   # levels more than 64 from both black and white
AMBIGUOUS_LIMIT = 0.05       # share of a mask's pixels allowed in that band


def load_folders(root, mask_threshold=127):
    """Read ``root`` in the notebook's layout; return ``Splits`` of float32 NHWC arrays.

    ``mask_threshold`` applies to 0 / 255 mask folders; a {0, 1} folder is read as is.
    ``subjects`` of a split: each name up to its first ``_`` (``Pt12_034`` -> ``Pt12``),
    or None when some name has no ``_``.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"load_folders: {root} is not a folder")
    read = [_read_split(root, name) for name in SPLIT_NAMES]
    _check_one_size(read)
    return Splits(*(_to_split(split, mask_threshold) for split in read))


def export_folders(splits, root, overwrite=False):
    """Write ``splits`` under ``root`` as 8-bit PNGs named ``<name>.png``, masks as 0 / 255.

    Refuses a non-empty ``root`` unless ``overwrite``; even then it only replaces
    a previous export whose files are all listed, unchanged, in its manifest.
    """
    root = _export_target(Path(root))
    existing = sorted(os.listdir(root)) if root.is_dir() else []
    if existing and not overwrite:
        raise ValueError(f"export_folders: {root} is not empty; pass overwrite=True to replace it")
    if existing:
        _check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(root.parent, f".{root.name}.partial-")
    try:
        written = {}
        for name, split in splits.items():
            written.update(_write_split(split, staging, name))
        manifest = {"written_by": "tinyunet export_folders", "files": written}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if existing:   # swap in the new folder, then drop the old one
            old = make_staging_dir(root.parent, f".{root.name}.old-")
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

class _ReadSplit(NamedTuple):
    """One split as read from disk: uint8 (H, W) images and mask levels, before binarising."""
    names: list
    image_paths: list
    images: list
    mask_folder: Path
    mask_paths: list
    masks: list


def _folder_names():
    return {f"{name}{kind}" for name in SPLIT_NAMES for kind in ("images", "masks")}


def _read_split(root, name):
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
        image, mask = _read_levels(image_path, mask=False), _read_levels(mask_path, mask=True)
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


def _to_split(read, threshold):
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
    masks = levels > cut
    if not masks.any():
        raise ValueError(f"load_folders: every mask in {read.mask_folder} is empty (its brightest "
                         f"mask pixel is {brightest}, foreground is > {cut}): check the mask "
                         f"encoding (0/255, 0/1) or mask_threshold")
    images = from_levels(numpy.stack(read.images))[..., None]
    names = read.names
    subjects = [n.split("_", 1)[0] for n in names] if all("_" in n for n in names) else None
    return Split(images, masks.astype(numpy.float32)[..., None], names, subjects)


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


# --- writing ---

def _export_target(root):
    """The folder to export into: ``root``, or the folder a link at ``root`` points to."""
    for path in (root, *root.parents):   # the nearest existing one must be a folder
        if path.is_symlink() and not path.exists():
            raise ValueError(f"export_folders: {path} is a dangling link (to {os.readlink(path)}); "
                             f"refusing to write through it")
        if path.exists():
            if not path.is_dir():
                raise ValueError(f"export_folders: {path} is not a folder")
            break
    return Path(os.path.realpath(root)) if root.is_symlink() else root


def _check_replaceable(root):
    """Refuse unless everything under ``root`` is a file that export_folders wrote there, unchanged."""
    entries = sorted(Path(folder) / name for folder, dirs, files in os.walk(root) for name in dirs + files)
    try:
        files = json.loads((root / MANIFEST).read_text())["files"]
        if not isinstance(files, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"export_folders: {root} was not written by export_folders (no readable "
                         f"{MANIFEST}) and holds {entries[0]}; refusing to replace it") from None
    for path in entries:
        relative = path.relative_to(root).as_posix()
        if path.is_symlink() or (relative not in files and relative not in _folder_names() | {MANIFEST}):
            raise ValueError(f"export_folders: {root} holds {path}, which export_folders did not "
                             f"write; refusing to replace it")
        if relative in files and hashlib.sha256(path.read_bytes()).hexdigest() != files[relative]:
            raise ValueError(f"export_folders: {path} was changed since export_folders wrote it; "
                             f"refusing to replace it")


def _write_split(split, root, name):
    """Write one split's PNGs under ``root``; return {relative path: SHA-256} of what was written."""
    if len(set(split.names)) != len(split.names):
        raise ValueError(f"export_folders: the {name} split has two slices with one name")
    levels = to_levels(numpy.asarray(split.images)[..., 0])
    masks = numpy.where(numpy.asarray(split.masks)[..., 0] > 0.5, 255, 0).astype(numpy.uint8)
    written = {}
    for kind, arrays in (("images", levels), ("masks", masks)):
        (root / f"{name}{kind}").mkdir()
        for stem, array in zip(split.names, arrays):
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG")
            relative = f"{name}{kind}/{stem}.png"
            (root / relative).write_bytes(buffer.getvalue())
            written[relative] = hashlib.sha256(buffer.getvalue()).hexdigest()
    return written
