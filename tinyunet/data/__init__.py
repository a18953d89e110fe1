"""Data for the lesson: the pancreas phantom, the notebook's folder layout, a baseline.

    make_phantom(n_subjects=82, size=256, seed=0, ..., organ="pancreas")
                                                         phantom.py    procedural CT slices
    load_folders(root, mask_threshold=127)               folders.py    trainimages/ trainmasks/ ...
    export_folders(splits, root, overwrite=False)        export.py     the same layout, as PNG
    threshold_baseline(splits)                           baseline.py   best intensity window's Dice
    contact_sheet(split, ...)                            preview.py    slices with masks outlined
    window(hu, level=40, width=400)                      intensity.py  Hounsfield units to 8-bit
    import_nifti(src, out, ...)                          nifti.py      Decathlon / nnU-Net CT -> slices
    import_dicom(dicom_root, labels, out, ...)           dicom.py      TCIA DICOM series -> slices

Each returns or takes ``Splits`` (splits.py): ``.train``, ``.validation``, ``.test``,
each with ``images`` (N, H, W, 1) and ``masks`` float32, ``names`` and ``subjects``;
the masks are (N, H, W, 1) for one organ, one-hot (N, H, W, K) with the background
first for several (``organ=("liver", "spleen")``), their channels named by ``class_names``.
The command line is in cli.py (``python -m tinyunet data ...``).
"""

from .baseline import ThresholdBaseline, threshold_baseline
from .export import export_folders
from .dicom import import_dicom
from .folders import load_folders
from .intensity import window
from .nifti import import_nifti
from .phantom import make_phantom
from .preview import contact_sheet
from .splits import Split, Splits

__all__ = ["make_phantom", "load_folders", "export_folders", "threshold_baseline",
           "ThresholdBaseline", "contact_sheet", "Split", "Splits", "window", "import_nifti",
           "import_dicom"]
