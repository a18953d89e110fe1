"""The optional readers of medical image files, imported only when an importer needs them.

tinyunet's core needs NumPy and Pillow alone.  Reading CT volumes needs two
pure-Python packages, installed as extras:

    pip install "tinyunet[nifti]"     nibabel            NIfTI (.nii, .nii.gz)
    pip install "tinyunet[dicom]"     pydicom, nibabel   DICOM series with NIfTI labels

``require("nibabel", "nifti")`` returns the module, or raises an ImportError
that names the extra to install.

Example:
    >>> nibabel = require("nibabel", "nifti")
"""

import importlib

PACKAGES = {"nibabel": "nibabel>=5", "pydicom": "pydicom>=2.4"}


def require(module, extra):
    """Import ``module`` (a key of ``PACKAGES``); if it is missing, say which tinyunet extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{module} is needed to read {_what(extra)} but is not installed; "
                          f'install it with: pip install "tinyunet[{extra}]" '
                          f"(or pip install \"{PACKAGES[module]}\")") from error


def _what(extra):
    return "DICOM series" if extra == "dicom" else "NIfTI volumes"
