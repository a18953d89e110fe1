"""Writing any data set into the companion notebook's folder layout (``folders`` reads it).

``export_folders`` writes 8-bit PNGs named ``<name>.png``: images as their
levels, one-class masks as 0 / 255, masks of K >= 2 classes as label values
0..K-1 with their names in ``root/classes.json`` (the encoding ``folders``
documents).  It writes into a fresh folder beside ``root`` (with the umask's
permissions, 755 / 644 under umask 022) and moves it into place only when
complete, so an interrupted export leaves the old data.  It also writes
``root/.tinyunet-export.json``, the SHA-256 of every file it wrote;
``overwrite=True`` replaces only a folder holding exactly those files,
unchanged, so a data set of one's own is never removed.  A link to a folder
is followed (the link stays); a dangling link is refused.

Example:
    >>> export_folders(make_phantom(n_subjects=12, size=64), "phantom")
"""

import hashlib
import io
import json
import os
from pathlib import Path

import numpy
from PIL import Image

from ..fileio import staged_folder
from .intensity import to_levels
from .splits import SPLIT_NAMES

MANIFEST = ".tinyunet-export.json"
CLASSES = "classes.json"


def export_folders(splits, root, overwrite=False):
    """Write ``splits`` under ``root`` as 8-bit PNGs named ``<name>.png``, masks as 0 / 255.

    Refuses a non-empty ``root`` unless ``overwrite``; even then it only replaces
    a previous export whose files are all listed, unchanged, in its manifest.
    Masks of K >= 2 classes are written as label values 0..K-1 (the argmax of
    each pixel's channels), with their names in ``classes.json``.
    """
    class_names = tuple(splits.class_names)
    if len(class_names) > 256:
        raise ValueError(f"export_folders: {len(class_names)} classes do not fit 8-bit label masks")
    root = _export_target(Path(root))
    existing = sorted(os.listdir(root)) if root.is_dir() else []
    if existing and not overwrite:
        raise ValueError(f"export_folders: {root} is not empty; pass overwrite=True to replace it")
    if existing:
        _check_replaceable(root)
    with staged_folder(root, replace=bool(existing)) as staging:
        written = {}
        for name, split in splits.items():
            written.update(_write_split(split, staging, name))
        if class_names != ("pancreas",):   # a one-class set needs no file to be "pancreas"
            text = json.dumps(list(class_names)).encode()
            (staging / CLASSES).write_bytes(text)
            written[CLASSES] = hashlib.sha256(text).hexdigest()
        manifest = {"written_by": "tinyunet export_folders", "files": written}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return root


def _folder_names():
    return {f"{name}{kind}" for name in SPLIT_NAMES for kind in ("images", "masks")}


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
    masks = numpy.asarray(split.masks)
    if masks.shape[-1] > 1:
        masks = numpy.argmax(masks, axis=-1).astype(numpy.uint8)
    else:
        masks = numpy.where(masks[..., 0] > 0.5, 255, 0).astype(numpy.uint8)
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
