"""A CT volume with its geometry, turned into axial slices in radiological display convention.

A ``Volume`` is a 3-D array with the affine that maps its voxel indices to
millimetres in the patient's RAS+ frame (x toward the patient's Right, y toward
Anterior, z toward Superior), as NIfTI stores it:

    [x, y, z, 1] = affine @ [i, j, k, 1]

DICOM's frame is LPS+; ``dicom.py`` negates x and y before building a Volume.
``axis_codes`` says where each array axis points: the letter of the direction
in which its index increases, e.g. ("R", "A", "S") for an identity affine and
("L", "P", "S") for a volume stored in DICOM's order.  ``display`` permutes
and flips the axes (views, no copy) so that the array reads

    display[slice, row, column]   slice toward Inferior (slice 0 the most cranial),
                                  row toward Posterior (anterior at the top),
                                  column toward Left (the patient's right on the image's left)

which is how a radiologist looks at an axial slice.  No orientation is ever
assumed: a volume stored in any of the 48 axis orders and signs comes out the
same.  An oblique axis is assigned to the world axis nearest to it; one that
sits exactly between two is refused.

Example:
    >>> v = Volume(numpy.zeros((40, 40, 12)), numpy.diag([-0.8, -0.8, 2.5, 1]), "ct.nii.gz")
    >>> axis_codes(v.affine), display(v).array.shape
    (('L', 'P', 'S'), (12, 40, 40))
"""

from dataclasses import dataclass

import numpy

# the letter an axis gets when its index runs toward +x, +y, +z of RAS+, and toward -x, -y, -z
POSITIVE, NEGATIVE = "RAS", "LPI"
DISPLAY = ("I", "P", "L")   # where display's slice, row and column axes point


@dataclass
class Volume:
    """``array`` (3-D) with ``affine`` (4, 4) from voxel indices to RAS+ millimetres.

    ``source`` names its file or folder; ``files`` lists the files it was read
    from where there are several (a DICOM series), else None.
    """

    array: numpy.ndarray
    affine: numpy.ndarray
    source: str
    files: list | None = None

    def __post_init__(self):
        self.affine = numpy.asarray(self.affine, dtype=numpy.float64)
        if self.array.ndim != 3:
            raise ValueError(f"{self.source}: a CT volume must be 3-D, got shape {self.array.shape}")
        if self.affine.shape != (4, 4) or not numpy.isfinite(self.affine).all():
            raise ValueError(f"{self.source}: the affine must be a finite 4 x 4 matrix, got {self.affine!r}")

    @property
    def spacing(self):
        """Millimetres between neighbouring voxels along each array axis."""
        return numpy.linalg.norm(self.affine[:3, :3], axis=0)


def axis_codes(affine, source="volume"):
    """For each array axis, the letter of the direction its index increases toward (R, L, A, P, S or I)."""
    axes = numpy.asarray(affine, dtype=numpy.float64)[:3, :3]
    lengths = numpy.linalg.norm(axes, axis=0)
    if (lengths == 0).any():
        raise ValueError(f"{source}: the affine {affine.tolist()} gives an axis of zero length")
    share = numpy.abs(axes) / lengths
    codes = []
    for a in range(3):
        order = numpy.argsort(share[:, a])
        world = int(order[-1])
        if numpy.isclose(share[world, a], share[order[-2], a]):
            raise ValueError(f"{source}: array axis {a} runs between two world axes; "
                             f"the affine {affine.tolist()} is too oblique to call it axial")
        codes.append(POSITIVE[world] if axes[world, a] > 0 else NEGATIVE[world])
    if len({"RLAPSI".index(c) // 2 for c in codes}) != 3:
        raise ValueError(f"{source}: two array axes point along one world axis (codes {codes}) "
                         f"in the affine {affine.tolist()}")
    return tuple(codes)


def display(volume):
    """``volume`` as (slices, rows, columns) in display convention (module docstring), a view with its affine."""
    codes = axis_codes(volume.affine, volume.source)
    array, affine = volume.array, volume.affine.copy()
    order, flips = [], []
    for target in DISPLAY:
        opposite = POSITIVE[NEGATIVE.index(target)]
        axis = codes.index(target) if target in codes else codes.index(opposite)
        order.append(axis)
        flips.append(target not in codes)
    array = array.transpose(order)
    affine[:3, :3] = affine[:3, order]
    for a, flip in enumerate(flips):
        if flip:   # index i becomes n - 1 - i: the far end is the new origin, the axis reversed
            affine[:3, 3] += affine[:3, a] * (array.shape[a] - 1)
            affine[:3, a] *= -1
            array = numpy.flip(array, axis=a)
    return Volume(array, affine, volume.source, volume.files)


def grid_offset(first, second):
    """The largest distance in mm between the two volumes' positions of one voxel index (at the corners)."""
    corners = numpy.array([[i, j, k, 1] for i in (0, first.array.shape[0] - 1)
                           for j in (0, first.array.shape[1] - 1) for k in (0, first.array.shape[2] - 1)]).T
    return float(numpy.abs(first.affine @ corners - second.affine @ corners)[:3].max())


def check_same_grid(image, label):
    """Refuse a ``label`` whose display grid is not ``image``'s, naming both files and both shapes."""
    if image.array.shape != label.array.shape:
        raise ValueError(f"label {label.source} has shape {_slices(label)} but image {image.source} "
                         f"has {_slices(image)} after both are turned to axial display by their own "
                         f"geometry; they do not describe one grid")


def _slices(volume):
    s, h, w = volume.array.shape
    return f"{s} slices of {h} x {w}"
