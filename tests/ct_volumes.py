"""Small CT volumes for the importer tests, written by the tests themselves with nibabel and pydicom.

``marker_volume`` is a (slices, rows, columns) volume in display convention
(slice 0 most cranial, row 0 anterior, column 0 the patient's right) with a
bright block at the patient's right-anterior (the image's top-left) and a
second block only in the cranial slices, so any wrong flip or transpose moves
a block.  ``store`` turns it into an array and affine of any axis order and
sign, ``write_nifti`` saves one, ``write_dicom_series`` writes a series.
"""

import random
from pathlib import Path

import numpy

# where each RAS+ letter points, and the display axes' letters
DIRECTIONS = {"R": (1, 0, 0), "L": (-1, 0, 0), "A": (0, 1, 0), "P": (0, -1, 0), "S": (0, 0, 1), "I": (0, 0, -1)}
DISPLAY = ("I", "P", "L")
OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}
SPACING = (2.5, 0.8, 0.7)   # display axes: slice, row, column (mm)


def marker_volume(shape=(12, 40, 40)):
    """(hu float32, labels uint8) in display convention; labels 1 (pancreas) and 2 (tumour) on some slices."""
    s, h, w = shape
    hu = numpy.full(shape, -1000, dtype=numpy.float32)
    rows, cols = numpy.mgrid[:h, :w]
    body = ((rows - h / 2) / (0.45 * h)) ** 2 + ((cols - w / 2) / (0.48 * w)) ** 2 < 1
    hu[:, body] = numpy.rint(40 + 30 * numpy.sin(rows[body] * 0.7) * numpy.cos(cols[body] * 0.3))
    hu[:, 5:11, 5:11] = 300                 # the patient's right-anterior: the image's top-left
    hu[: s // 3, h - 14:h - 9, w - 14:w - 9] = -100   # cranial slices only
    labels = numpy.zeros(shape, dtype=numpy.uint8)
    labels[3:9, 18:24, 20:28] = 1
    labels[5:10, 24:28, 14:20] = 2
    return hu, labels


def store(display, codes):
    """``display`` stored with array axes pointing toward ``codes`` (e.g. ("R", "A", "S")): (array, affine)."""
    order, flips = [], []
    for code in codes:
        axis = DISPLAY.index(code) if code in DISPLAY else DISPLAY.index(OPPOSITE[code])
        order.append(axis)
        flips.append(code not in DISPLAY)
    array = display.transpose(order)
    for a, flip in enumerate(flips):
        if flip:
            array = numpy.flip(array, axis=a)
    affine = numpy.eye(4)
    for a, code in enumerate(codes):
        affine[:3, a] = numpy.array(DIRECTIONS[code]) * SPACING[order[a]]
    affine[:3, 3] = (-120.0, 30.0, -400.0)
    return numpy.ascontiguousarray(array), affine


def write_nifti(path, array, affine):
    import nibabel
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(array, affine), str(path))
    return Path(path)


def decathlon(root, cases, codes=("R", "A", "S"), shape=(12, 40, 40)):
    """A Decathlon folder ``root`` with imagesTr/<case>.nii.gz and labelsTr/<case>.nii.gz for each name."""
    hu, labels = marker_volume(shape)
    for case in cases:
        write_nifti(Path(root) / "imagesTr" / f"{case}.nii.gz", *store(hu, codes))
        write_nifti(Path(root) / "labelsTr" / f"{case}.nii.gz", *store(labels, codes))
    (Path(root) / "dataset.json").write_text('{"labels": {"0": "background", "1": "pancreas", "2": "cancer"}}')
    return Path(root)


def write_dicom_series(folder, hu, flip_rows=False, flip_columns=False, transpose=False,
                       modality="CT", series_uid=None, seed=0, skip=()):
    """Write the display-convention ``hu`` as a DICOM series in ``folder``, files shuffled and misnamed.

    ``flip_rows`` / ``flip_columns`` store rows toward anterior / columns toward the
    patient's right, ``transpose`` rows toward the left and columns toward posterior
    (ImageOrientationPatient says so).  Stored values are HU + 1024 (RescaleIntercept -1024).
    """
    from pydicom.uid import generate_uid

    from tinyunet.data.import_cli import write_ct_slice

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    row_dir = [-1.0, 0, 0] if flip_columns else [1.0, 0, 0]   # LPS: +x toward the patient's left
    col_dir = [0, -1.0, 0] if flip_rows else [0, 1.0, 0]      # +y toward posterior
    pixels = hu[:, ::-1 if flip_rows else 1, ::-1 if flip_columns else 1]
    if transpose:
        row_dir, col_dir, pixels = col_dir, row_dir, pixels.transpose(0, 2, 1)
    s = pixels.shape[0]
    order = list(range(s))
    random.Random(seed).shuffle(order)
    for n, k in enumerate(order):
        if k in skip:
            continue
        # InstanceNumber n + 1 is unrelated to the position, on purpose; slice 0 the highest (cranial)
        write_ct_slice(folder / f"img-{(n * 7) % s:03d}.dcm", pixels[k], series_uid, row_dir + col_dir,
                       [-14.0, -16.0, -SPACING[0] * k], SPACING, n + 1, modality)
    return folder


def snapshot(*roots):
    """{path: bytes} of every file under ``roots`` (to show that nothing was written or changed)."""
    return {str(p): p.read_bytes() for root in roots if Path(root).exists()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}
