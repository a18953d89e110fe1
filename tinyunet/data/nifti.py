"""Reading NIfTI volumes, and finding the image / label pairs of a Decathlon or nnU-Net data set.

The Medical Segmentation Decathlon's Task07_Pancreas and nnU-Net's raw data
sets share one layout:

    SRC/dataset.json                    label names, e.g. {"0": "background", "1": "pancreas", "2": "cancer"}
    SRC/imagesTr/pancreas_001.nii.gz    CT in HU (nnU-Net: pancreas_001_0000.nii.gz, channel 0000)
    SRC/labelsTr/pancreas_001.nii.gz    integer labels on the image's grid

Files whose names start with ``.`` or ``_`` (macOS's ``._pancreas_001.nii.gz``)
are not data.  An image without a label, a label without an image and a
second image channel are errors naming the file.  A patient's name is the
label file's stem with everything but letters and digits dropped
(``pancreas_001`` -> ``pancreas001``), so ``load_folders`` later reads it as
one subject.

``read_volume`` gives a ``Volume`` with nibabel's best affine (sform, else
qform); a file nibabel cannot read, or whose data is truncated, is a
ValueError naming the file.

``import_nifti`` runs the shared pipeline (ct_import.py) over every pair.

Example:
    >>> import_nifti("Task07_Pancreas", "pancreas_slices", size=256, label_values="any", jobs=2)
    >>> cases = find_cases("Task07_Pancreas")
    >>> cases[0].patient, cases[0].image.name, cases[0].label.name
    ('pancreas001', 'pancreas_001.nii.gz', 'pancreas_001.nii.gz')
"""

import gzip
import io
import json
import re
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy

from .ct_import import run_import
from .extras import require
from .folders import natural_key
from .volume import Volume

SUFFIXES = (".nii.gz", ".nii")
CHANNEL = re.compile(r"(.+)_(\d{4})$")   # nnU-Net's image name: <case>_<channel>


def import_nifti(src, out, size=256, level=40, width=400, label_values="any", min_pixels=1, all_slices=False,
                 fractions=(0.7, 0.15, 0.15), seed=0, splits=None, jobs=1, progress=False):
    """Import the Decathlon / nnU-Net data set ``src`` into ``out``; returns the manifest (a dict).

    Args:
        size: side of the central crop in pixels (smaller slices are padded with air).
        level, width: the window in HU (the article: 40 / 400).
        label_values: "any" (mask = label > 0) or a list of label values that make the mask.
        min_pixels: a slice is kept when its cropped mask has at least this many pixels;
            ``all_slices`` keeps every slice.
        fractions, seed: train / validation / test shares of the patients, and the draw;
            or ``splits``, a JSON file {patient: split}.
        jobs: volumes imported in parallel; ``progress`` draws a bar on stderr.
    """
    cases = find_cases(src)
    manifest = run_import("import_nifti", cases, read_volume, read_volume, out, [src], size=size,
                          level=level, width=width, labels=label_values, min_pixels=min_pixels,
                          all_slices=all_slices, fractions=fractions, seed=seed, splits=splits,
                          jobs=jobs, progress=progress, label_names=label_names(src))
    return manifest


class Case(NamedTuple):
    """One patient to import: its name, its image (a NIfTI file or a DICOM folder) and its label file."""
    patient: str
    image: Path
    label: Path


def read_volume(path, extra="nifti"):
    """The NIfTI file at ``path`` as a ``Volume`` (3-D; trailing axes of length 1 are dropped)."""
    nibabel = require("nibabel", extra)
    errors = (OSError, EOFError, ValueError, zlib.error, nibabel.filebasedimages.ImageFileError,
              nibabel.spatialimages.HeaderDataError)
    try:
        array, affine = _read_nifti1(nibabel, Path(path))
    except errors as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"{path} holds a {array.ndim}-D array of shape {array.shape}; "
                         f"a CT volume is 3-D (one channel, one time point)")
    return Volume(array, affine, str(path))


def _read_nifti1(nibabel, path):
    """(array, affine) of a NIfTI-1 file, decompressed in one call (several times faster than
    nibabel's streamed reading of a 100 MB volume); other formats go through ``nibabel.load``."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    if len(raw) < 348 or int.from_bytes(raw[:4], "little") not in (348, 348 << 24):
        image = nibabel.load(str(path))
        return numpy.asanyarray(image.dataobj), image.affine
    header = nibabel.Nifti1Header.from_fileobj(io.BytesIO(raw[:352]))
    shape, dtype = header.get_data_shape(), header.get_data_dtype()
    array = numpy.frombuffer(raw, dtype, int(numpy.prod(shape)), int(header.get_data_offset()))
    array = array.reshape(shape, order="F")
    slope, intercept = header.get_slope_inter()
    if slope is not None and (slope, intercept or 0) != (1, 0):
        array = array * numpy.float32(slope) + numpy.float32(intercept or 0)
    return array, header.get_best_affine()


def stem(path):
    """The file name without its NIfTI suffix: ``pancreas_001.nii.gz`` -> ``pancreas_001``."""
    name = Path(path).name
    return next(name[:-len(s)] for s in SUFFIXES if name.endswith(s))


def patient_name(text):
    """``text`` with everything but ASCII letters and digits dropped; refuses an empty result."""
    name = re.sub(r"[^A-Za-z0-9]", "", text)
    if not name:
        raise ValueError(f"cannot make a patient name of letters and digits from {text!r}")
    return name


def nifti_files(folder):
    """{stem: path} of the NIfTI files in ``folder`` that are data (not starting with ``.`` or ``_``)."""
    found = {}
    for path in sorted(Path(folder).iterdir(), key=lambda p: natural_key(p.name)):
        if path.name.startswith((".", "_")) or not path.name.endswith(SUFFIXES) or not path.is_file():
            continue
        key = stem(path)
        if key in found:
            raise ValueError(f"{found[key]} and {path} are one volume stored twice; remove one")
        found[key] = path
    return found


def find_cases(src):
    """The (patient, image, label) ``Case`` of every labelled image under ``src``, in natural order."""
    src = Path(src)
    images_dir, labels_dir = src / "imagesTr", src / "labelsTr"
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            raise ValueError(f"{src} is not a Decathlon / nnU-Net data set: missing folder {folder}")
    labels = nifti_files(labels_dir)
    cases, used = [], {}
    for key, path in nifti_files(images_dir).items():
        match = CHANNEL.fullmatch(key)
        case = key if key in labels or match is None else match.group(1)
        if case not in labels:
            raise ValueError(f"image {path} has no label: expected {labels_dir / (case + '.nii.gz')}")
        if case != key and match.group(2) != "0000":
            raise ValueError(f"image {path} is channel {match.group(2)} of {case}; tinyunet imports "
                             f"one CT channel (_0000)")
        patient = patient_name(case)
        if patient in used:
            raise ValueError(f"{used[patient]} and {labels[case]} both give patient name {patient}")
        used[patient] = labels[case]
        cases.append(Case(patient, path, labels[case]))
    for key, path in labels.items():
        if path not in used.values():
            raise ValueError(f"label {path} has no image in {images_dir}")
    if not cases:
        raise ValueError(f"{images_dir} holds no NIfTI images (.nii.gz or .nii)")
    return cases


def label_names(src):
    """{value: name} from ``src/dataset.json`` (Decathlon's {"1": "pancreas"} or nnU-Net's {"pancreas": 1})."""
    path = Path(src) / "dataset.json"
    if not path.exists():
        return {}
    try:
        labels = json.loads(path.read_text()).get("labels", {})
        if all(isinstance(v, int) for v in labels.values()):
            return {int(v): str(k) for k, v in labels.items()}
        return {int(k): str(v) for k, v in labels.items()}
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"cannot read the labels of {path}: {error}") from None
