"""The phantom's subjects as CT volumes in Hounsfield units, in the Decathlon layout ``import_nifti`` reads.

    OUT/imagesTr/s000.nii.gz    float32 HU, before windowing, every slice of the subject's stack
    OUT/labelsTr/s000.nii.gz    uint8 labels: 0 background, k the k-th organ (1 pancreas)
    OUT/dataset.json            Decathlon's description, labels {"0": "background", "1": "pancreas"}
    OUT/splits.json             {subject: split}, the phantom's own split of its subjects

The volumes are stored as nibabel's canonical RAS+ arrays (index i toward the
patient's right, j anterior, k superior), so ``import_nifti`` has to turn them
to display orientation; pixels are 350 / size mm (a 35 cm field of view),
slices a nominal 2.5 mm apart, and the phantom's slice 0 is the most cranial.

The round trip is exact: ``import_nifti(OUT, DIR, size=size, splits=OUT/splits.json)``
writes the very PNGs ``data phantom --out DIR`` writes.  The phantom rounds
rint((hu + 160) * 255 / 400) in float64, the importer rint((hu + 160) / 400 * 255)
from float32; a pixel whose float32 HU would land on the other side of a
grey-level boundary (fewer than one in a million, all within 0.001 HU of it) is stored
at the centre of its phantom level instead, less than 0.8 HU away.

Example:
    >>> export_phantom_nifti("phantom_ct", n_subjects=12, size=128)
    >>> import_nifti("phantom_ct", "phantom_slices", size=128, splits="phantom_ct/splits.json")
"""

import json
from pathlib import Path

import numpy

from ..fileio import staged_folder
from .extras import require
from .intensity import window
from .organs import organ_tuple
from .phantom import LEVEL, WINDOW, hu_to_levels, render_subject_hu, subject_draws
from .splits import DEFAULT_FRACTIONS, SPLIT_NAMES

FIELD_OF_VIEW_MM = 350.0
SLICE_MM = 2.5


def export_phantom_nifti(out, n_subjects=82, size=256, seed=0, slices_per_subject=(12, 24),
                         fractions=DEFAULT_FRACTIONS, organ="pancreas"):
    """Write the phantom (``make_phantom``'s arguments) as NIfTI HU volumes under ``out``; returns ``out``.

    ``out`` must be empty or absent; it is written in a staging folder beside it
    and moved into place when complete.
    """
    nibabel = require("nibabel", "nifti")
    organs = organ_tuple(organ)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"export_phantom_nifti: {out} is not an empty folder; give a new one")
    parts, draw = subject_draws(n_subjects, seed, slices_per_subject, fractions)
    with staged_folder(out) as staging:
        (staging / "imagesTr").mkdir()
        (staging / "labelsTr").mkdir()
        assignment, training = {}, []
        for split, subjects in zip(SPLIT_NAMES, parts):
            for s in subjects:
                rng, n_slices = draw(s)
                hu, classes = render_subject_hu(rng, n_slices, size, organs)
                name = f"s{s:03d}"
                affine = ras_affine(size, n_slices)
                for folder, array in (("imagesTr", stored_hu(hu)), ("labelsTr", classes)):
                    image = nibabel.Nifti1Image(to_ras(array), affine)
                    image.header.set_xyzt_units("mm")
                    nibabel.save(image, str(staging / folder / f"{name}.nii.gz"))
                assignment[name] = split
                training.append({"image": f"./imagesTr/{name}.nii.gz", "label": f"./labelsTr/{name}.nii.gz"})
        labels = {"0": "background", **{str(k): name for k, name in enumerate(organs, start=1)}}
        dataset = {"name": "tinyunet phantom", "description": f"make_phantom(n_subjects={n_subjects}, "
                   f"size={size}, seed={seed}), Hounsfield units before windowing",
                   "tensorImageSize": "3D", "modality": {"0": "CT"}, "labels": labels,
                   "numTraining": len(training), "training": sorted(training, key=lambda t: t["image"])}
        (staging / "dataset.json").write_text(json.dumps(dataset, indent=1) + "\n")
        (staging / "splits.json").write_text(json.dumps(dict(sorted(assignment.items())), indent=1) + "\n")
    return out


def stored_hu(hu):
    """float32 HU whose ``window`` equals the phantom's own levels of the float64 ``hu`` (module docstring)."""
    levels = hu_to_levels(hu)
    stored = hu.astype(numpy.float32)
    crossed = window(stored, LEVEL, WINDOW) != levels
    stored[crossed] = (LEVEL - WINDOW / 2) + levels[crossed] * (WINDOW / 255)
    return stored


def to_ras(display):
    """A (slices, rows, columns) display-oriented array as a RAS+ array (columns, rows, slices), each axis reversed."""
    return numpy.ascontiguousarray(display[::-1, ::-1, ::-1].transpose(2, 1, 0))


def ras_affine(size, n_slices):
    """The affine of ``to_ras``'s array: index i toward Right, j Anterior, k Superior, centred in-plane."""
    pixel = FIELD_OF_VIEW_MM / size
    affine = numpy.diag([pixel, pixel, SLICE_MM, 1.0])
    affine[:3, 3] = [-pixel * (size - 1) / 2, -pixel * (size - 1) / 2, -SLICE_MM * (n_slices - 1)]
    return affine
