"""Reading a CT series from a folder of DICOM files, and pairing TCIA's patient folders with their labels.

TCIA Pancreas-CT ships one folder per patient and the labels apart:

    DICOM_ROOT/PANCREAS_0001/<study>/<series>/1-001.dcm ...
    LABELS/label0001.nii.gz

A patient's files are found by walking its folder (the study / series names do
not matter); its label is the file whose number is the folder's
(``PANCREAS_0001`` <-> ``label0001``, compared as numbers).  Files that are not
DICOM, and DICOM files without pixels (a DICOMDIR), are skipped.

``read_series`` builds the ``Volume`` from the files' own geometry:
    - the slice normal n = row direction x column direction (ImageOrientationPatient),
    - each slice's position along it, p = n . ImagePositionPatient, sorted ascending
      (never by file name or InstanceNumber),
    - HU = stored value * RescaleSlope + RescaleIntercept, slice by slice,
    - the affine in DICOM's LPS+ frame, x and y negated into RAS+.
Errors name the folder or file: a series whose Modality is not CT, a folder
holding two image series (unless ``series`` picks one: a SeriesInstanceUID,
or "most-slices"), two slices at one position, and missing slices (a gap more
than 5% off the usual spacing).

``import_dicom`` runs the shared pipeline (ct_import.py) over every patient.

Example:
    >>> import_dicom("Pancreas-CT", "TCIA_pancreas_labels", "pancreas_slices", jobs=2)
    >>> volume = read_series("Pancreas-CT/PANCREAS_0001")
    >>> volume.array.shape, len(volume.files)     # slices first, in the order of their positions
"""

import functools
import os
import re
from pathlib import Path

import numpy

from .ct_import import run_import
from .extras import require
from .folders import natural_key
from .nifti import SUFFIXES, Case, patient_name, read_volume, stem
from .volume import Volume

LPS_TO_RAS = numpy.diag([-1.0, -1.0, 1.0, 1.0])
SPACING_TOLERANCE = 0.05


def import_dicom(dicom_root, labels, out, series=None, size=256, level=40, width=400, label_values="any",
                 min_pixels=1, all_slices=False, fractions=(0.7, 0.15, 0.15), seed=0, splits=None,
                 jobs=1, progress=False):
    """Import TCIA-style DICOM patient folders under ``dicom_root`` with NIfTI labels from ``labels``.

    ``series`` resolves folders of several image series: SeriesInstanceUIDs to
    take, or "most-slices".  ``label_values`` is the importers' ``labels``
    option ("any" or a list of values); the rest are ``import_nifti``'s options.
    Returns the manifest (a dict).
    """
    cases = find_cases(dicom_root, labels)
    if isinstance(series, str) and series != "most-slices":
        series = [series]
    return run_import("import_dicom", cases, functools.partial(read_series, series=series),
                      functools.partial(read_volume, extra="dicom"), out, [dicom_root, labels], size=size,
                      level=level, width=width, labels=label_values, min_pixels=min_pixels,
                      all_slices=all_slices, fractions=fractions, seed=seed, splits=splits, jobs=jobs,
                      progress=progress)


def find_cases(dicom_root, labels):
    """A ``Case`` per patient folder under ``dicom_root``, with its label file from ``labels``."""
    dicom_root, labels = Path(dicom_root), Path(labels)
    for folder in (dicom_root, labels):
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder")
    by_number = {}
    for path in sorted(labels.iterdir(), key=lambda p: natural_key(p.name)):
        if path.name.startswith((".", "_")) or not path.name.endswith(SUFFIXES):
            continue
        number = _number(stem(path), path)
        if number in by_number:
            raise ValueError(f"labels {by_number[number]} and {path} have one patient number, {number}")
        by_number[number] = path
    cases, seen = [], {}
    for folder in sorted(dicom_root.iterdir(), key=lambda p: natural_key(p.name)):
        if folder.name.startswith((".", "_")) or not folder.is_dir():
            continue
        number = _number(folder.name, folder)
        if number in seen:
            raise ValueError(f"patient folders {seen[number]} and {folder} have one number, {number}")
        seen[number] = folder
        if number not in by_number:
            raise ValueError(f"patient folder {folder} has no label file numbered {number} in {labels}")
        cases.append(Case(patient_name(folder.name), folder, by_number[number]))
    for number, path in by_number.items():
        if number not in seen:
            raise ValueError(f"label {path} has no patient folder numbered {number} in {dicom_root}")
    if not cases:
        raise ValueError(f"{dicom_root} holds no patient folders")
    return cases


def read_series(folder, series=None):
    """The CT series under ``folder`` as a ``Volume`` of float32 HU (slices, rows, columns), its files listed."""
    pydicom = require("pydicom", "dicom")
    groups = {}
    for path in _walk(folder):
        try:
            ds = pydicom.dcmread(path, defer_size="1 KB")
        except (pydicom.errors.InvalidDicomError, EOFError):
            continue
        if "PixelData" in ds:
            groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((path, ds))
    if not groups:
        raise ValueError(f"{folder} holds no DICOM images")
    slices = _pick_series(folder, groups, series)
    first_path, first = slices[0]
    if first.get("Modality") != "CT":
        raise ValueError(f"{first_path} is a {first.get('Modality', 'no-Modality')} image, not CT; "
                         f"tinyunet imports CT series")
    return _stack(folder, slices)


def _walk(folder):
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _number(text, path):
    digits = re.findall(r"\d+", text)
    if not digits:
        raise ValueError(f"{path} carries no patient number in its name")
    return int(digits[-1])


def _pick_series(folder, groups, series):
    if len(groups) == 1:
        return next(iter(groups.values()))
    if series == "most-slices":
        return max(groups.values(), key=len)
    picked = [uid for uid in groups if series is not None and uid in series]
    if len(picked) == 1:
        return groups[picked[0]]
    found = "; ".join(f"{uid} ({len(g)} slices, {g[0][1].get('SeriesDescription', 'no description')})"
                      for uid, g in groups.items())
    raise ValueError(f"{folder} holds {len(groups)} image series: {found}; pick one with "
                     f"--series UID, or --series most-slices")


def _geometry(path, ds):
    try:
        orientation = numpy.array(ds.ImageOrientationPatient, dtype=numpy.float64)
        position = numpy.array(ds.ImagePositionPatient, dtype=numpy.float64)
        spacing = numpy.array(ds.PixelSpacing, dtype=numpy.float64)
    except (AttributeError, ValueError, TypeError) as error:
        raise ValueError(f"{path} lacks the geometry of a CT slice: {error}") from None
    return orientation, position, spacing


def _stack(folder, slices):
    """Sort ``slices`` along their normal, check the spacing, and stack them into HU."""
    orientation, _, spacing = _geometry(*slices[0])
    normal = numpy.cross(orientation[:3], orientation[3:])
    positions = []
    for path, ds in slices:
        o, p, s = _geometry(path, ds)
        if not (numpy.allclose(o, orientation, atol=1e-4) and numpy.allclose(s, spacing, atol=1e-4)):
            raise ValueError(f"{path} has another orientation or pixel spacing than {slices[0][0]}")
        positions.append(float(normal @ p))
    order = numpy.argsort(positions, kind="stable")
    slices = [slices[i] for i in order]
    positions = numpy.array(positions)[order]
    steps = numpy.diff(positions)
    if len(steps):
        usual = float(numpy.median(steps))
        for i, step in enumerate(steps):
            if step < 1e-3 * max(usual, 1e-3):
                raise ValueError(f"{slices[i][0]} and {slices[i + 1][0]} lie at one position "
                                 f"({positions[i]:.3f} mm along the slice normal)")
            if abs(step - usual) > SPACING_TOLERANCE * usual:
                raise ValueError(f"{folder}: missing slices? {step:.3f} mm between {slices[i][0]} and "
                                 f"{slices[i + 1][0]} where the series' spacing is {usual:.3f} mm")
    rows, columns = int(slices[0][1].Rows), int(slices[0][1].Columns)
    hu = numpy.empty((len(slices), rows, columns), dtype=numpy.float32)
    for k, (path, ds) in enumerate(slices):
        try:
            pixels = ds.pixel_array
        except Exception as error:   # pydicom raises many kinds on truncated or unsupported pixel data
            raise ValueError(f"cannot read the pixels of {path}: {error}") from None
        if pixels.shape != (rows, columns):
            raise ValueError(f"{path} is {pixels.shape} pixels, {slices[0][0]} {(rows, columns)}")
        slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
        hu[k] = pixels * numpy.float32(slope) + numpy.float32(intercept)
    first = numpy.array(slices[0][1].ImagePositionPatient, dtype=numpy.float64)
    last = numpy.array(slices[-1][1].ImagePositionPatient, dtype=numpy.float64)
    thickness = float(slices[0][1].get("SliceThickness", 1) or 1)
    step = (last - first) / (len(slices) - 1) if len(slices) > 1 else normal * thickness
    affine = numpy.eye(4)
    affine[:3, 0] = step                          # array axis 0: slice to slice
    affine[:3, 1] = orientation[3:] * spacing[0]  # axis 1: down a column, PixelSpacing[0] apart
    affine[:3, 2] = orientation[:3] * spacing[1]  # axis 2: along a row, PixelSpacing[1] apart
    affine[:3, 3] = first
    return Volume(hu, LPS_TO_RAS @ affine, str(folder), [str(path) for path, _ in slices])
