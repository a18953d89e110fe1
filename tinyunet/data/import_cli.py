"""``python -m tinyunet data import-nifti / import-dicom / bench-import``: real CT into the article's data set.

    data import-nifti SRC OUT [options]                  Decathlon / nnU-Net (imagesTr/, labelsTr/)
    data import-dicom DICOM_ROOT LABELS OUT [options]    TCIA (one DICOM folder per patient, NIfTI labels)
         [--series UID ... | --series most-slices]
    options: [--size 256] [--level 40] [--width 400] [--labels any | V ...] [--min-pixels 1 | --all-slices]
             [--fractions 0.7 0.15 0.15] [--seed 0] [--splits FILE.json] [--jobs 1]
    data bench-import [--shape 512 512 200] [--repeats 3] [--jobs 1] [--format nifti | dicom]

``bench-import`` writes a synthetic CT volume (int16 HU, 0.7 x 0.7 x 1.5 mm,
a pancreas-sized label over a third of its slices) into a temporary folder and
times its import to the PNGs, the median of ``--repeats`` runs: as .nii.gz
through ``import_nifti``, or with ``--format dicom`` as TCIA lays a patient out
(one DICOM file per slice, its label a .nii.gz on the same grid) through
``import_dicom``.
"""

import statistics
import tempfile
import time
from pathlib import Path

import numpy

from .dicom import import_dicom
from .extras import require
from .nifti import import_nifti


def add_import_commands(commands):
    """Add the importers and their benchmark to the ``data`` subparsers."""
    p = commands.add_parser("import-nifti", help="CT volumes of a Decathlon / nnU-Net data set -> slices")
    p.add_argument("src", help="folder with imagesTr/, labelsTr/ (and dataset.json)")
    p.add_argument("out", help="new folder to write (must be empty or absent)")
    _options(p)
    p.set_defaults(run=_import_nifti)

    p = commands.add_parser("import-dicom", help="TCIA DICOM series with NIfTI labels -> slices")
    p.add_argument("dicom_root", help="folder with one DICOM folder per patient (PANCREAS_0001/...)")
    p.add_argument("label_folder", metavar="LABELS",
                   help="folder of label files numbered like the patients (label0001.nii.gz)")
    p.add_argument("out", help="new folder to write (must be empty or absent)")
    p.add_argument("--series", nargs="+", metavar="UID",
                   help="SeriesInstanceUIDs to take where a folder holds several series, or most-slices")
    _options(p)
    p.set_defaults(run=_import_dicom)

    p = commands.add_parser("bench-import", help="time the import of a synthetic 512 x 512 x 200 volume")
    p.add_argument("--shape", type=int, nargs=3, default=[512, 512, 200], metavar=("X", "Y", "Z"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--format", choices=("nifti", "dicom"), default="nifti",
                   help="the volume as .nii.gz (import-nifti) or as a DICOM series (import-dicom)")
    p.set_defaults(run=_bench_import)


def _options(p):
    p.add_argument("--size", type=int, default=256, help="central crop in pixels (smaller: padded with air)")
    p.add_argument("--level", type=float, default=40, help="window level in HU")
    p.add_argument("--width", type=float, default=400, help="window width in HU")
    p.add_argument("--labels", nargs="+", default=["any"], metavar="V",
                   help="any (mask = label > 0) or the label values that make the mask")
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--min-pixels", type=int, default=1, help="keep slices with this many mask pixels")
    keep.add_argument("--all-slices", action="store_true", help="keep every slice")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--fractions", type=float, nargs=3, default=[0.7, 0.15, 0.15],
                       metavar=("TRAIN", "VALIDATION", "TEST"), help="shares of the patients")
    split.add_argument("--splits", help="JSON file {patient: train | validation | test}")
    p.add_argument("--seed", type=int, default=0, help="seed of the patients' split")
    p.add_argument("--jobs", type=int, default=1, help="volumes imported in parallel")


def _shared(args):
    if args.labels == ["any"]:
        values = "any"
    else:
        try:
            values = [int(v) for v in args.labels]
        except ValueError:
            raise ValueError(f"--labels takes any or whole numbers, got {' '.join(args.labels)}") from None
    return dict(size=args.size, level=args.level, width=args.width, label_values=values,
                min_pixels=args.min_pixels, all_slices=args.all_slices, fractions=tuple(args.fractions),
                seed=args.seed, splits=args.splits, jobs=args.jobs, progress=True)


def _report(out, manifest):
    counts = ", ".join(f"{name} {c['slices']} slices of {c['patients']} patients"
                       for name, c in manifest["counts"].items())
    print(f"wrote {out}: {counts}")
    empty = [p for p, r in manifest["patients"].items() if not r["kept"]]
    if empty:
        print(f"no slice kept of: {', '.join(empty)} (no mask pixels in the crop)")
    for name, c in manifest["counts"].items():
        if not c["slices"]:
            print(f"warning: the {name} split is empty; load_folders and the lessons need all three")
    apart = [f"{p} ({r['grid_offset_mm']:g} mm)" for p, r in manifest["patients"].items()
             if r["grid_offset_mm"] > max(r["spacing_mm"])]
    if apart:
        print(f"warning: by the files' geometry the label lies more than a voxel from its image for "
              f"{', '.join(apart)}; masks are matched to images voxel by voxel, so look at those previews")
    print(f"check the alignment in {Path(out) / 'preview'}/<patient>.png; details in {Path(out) / 'manifest.json'}")
    return 0


def _import_nifti(args):
    try:
        return _report(args.out, import_nifti(args.src, args.out, **_shared(args)))
    except ValueError as error:
        print(f"error: {error}")
        return 1


def _import_dicom(args):
    series = args.series
    if series == ["most-slices"]:
        series = "most-slices"
    try:
        return _report(args.out, import_dicom(args.dicom_root, args.label_folder, args.out, series=series,
                                              **_shared(args)))
    except ValueError as error:
        print(f"error: {error}")
        return 1


def _synthetic_volume(shape, seed):
    """(image, label): a noisy body in HU (int16) and a blob over the middle third of axis 2 (uint8)."""
    rng = numpy.random.default_rng(seed)
    x, y = numpy.meshgrid(numpy.linspace(-1, 1, shape[0]), numpy.linspace(-1, 1, shape[1]), indexing="ij")
    body = numpy.where(x ** 2 / 0.8 + y ** 2 / 0.5 < 1, 40, -1000).astype(numpy.int16)
    image = body[..., None] + rng.integers(-20, 20, size=shape, dtype=numpy.int16)
    label = numpy.zeros(shape, dtype=numpy.uint8)
    z0, z1 = shape[2] // 3, 2 * shape[2] // 3
    label[(x - 0.1) ** 2 + (y + 0.1) ** 2 < 0.02, z0:z1] = 1
    return image, label


def synthetic_case(folder, shape=(512, 512, 200), seed=0):
    """Write ``folder/imagesTr/bench_001.nii.gz`` and its label: a noisy body in HU and a blob over a third of it."""
    nibabel = require("nibabel", "nifti")
    image, label = _synthetic_volume(shape, seed)
    affine = numpy.diag([-0.7, -0.7, 1.5, 1.0])
    for name, array in (("imagesTr", image), ("labelsTr", label)):
        (Path(folder) / name).mkdir(parents=True)
        nibabel.save(nibabel.Nifti1Image(array, affine), str(Path(folder) / name / "bench_001.nii.gz"))
    return Path(folder)


def write_ct_slice(path, stored, series_uid, orientation, position, spacing, instance, modality="CT"):
    """Write one CT slice to ``path``: ``stored`` (rows, columns) as uint16 with RescaleIntercept
    -1024 (HU + 1024), ``orientation`` the six ImageOrientationPatient numbers, ``position``
    ImagePositionPatient, ``spacing`` (slice thickness, row, column) in mm."""
    pydicom = require("pydicom", "dicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = modality, series_uid, "1.2.3"
    ds.InstanceNumber = instance
    ds.ImageOrientationPatient = list(orientation)
    ds.ImagePositionPatient = list(position)
    ds.PixelSpacing, ds.SliceThickness = [spacing[1], spacing[2]], spacing[0]
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = numpy.ascontiguousarray(numpy.rint(stored + 1024).astype(numpy.uint16)).tobytes()
    ds.save_as(path, enforce_file_format=True)


def synthetic_dicom_case(folder, shape=(512, 512, 200), seed=0):
    """Write synthetic_case's volume as TCIA lays a patient out: (DICOM root, labels folder).

    ``folder/dicom/PANCREAS_0001/study/series/`` holds one CT file per slice (``write_ct_slice``,
    0.7 x 0.7 mm pixels 1.5 mm apart) and ``folder/labels/label0001.nii.gz`` the label, written
    with the affine the series is read with, so that both lie on one grid.
    """
    nibabel = require("nibabel", "dicom")
    from pydicom.uid import generate_uid

    from .dicom import read_series

    image, label = _synthetic_volume(shape, seed)
    series = Path(folder) / "dicom" / "PANCREAS_0001" / "study" / "series"
    series.mkdir(parents=True)
    series_uid = generate_uid()
    for k in range(shape[2]):
        write_ct_slice(series / f"{k + 1:04d}.dcm", image[:, :, k].astype(numpy.float32), series_uid,
                       (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (-180.0, -180.0, -1.5 * k), (1.5, 0.7, 0.7), k + 1)
    volume = read_series(series)
    order = [int(Path(path).stem) - 1 for path in volume.files]        # the slices as the reader stacked them
    labels = Path(folder) / "labels"
    labels.mkdir()
    nibabel.save(nibabel.Nifti1Image(numpy.ascontiguousarray(label.transpose(2, 0, 1)[order]), volume.affine),
                 str(labels / "label0001.nii.gz"))
    return Path(folder) / "dicom", labels


def _bench_import(args):
    with tempfile.TemporaryDirectory(prefix="tinyunet-bench-") as temporary:
        if args.format == "dicom":
            sources = synthetic_dicom_case(Path(temporary) / "src", tuple(args.shape))
            patient, what, run = "PANCREAS0001", "DICOM series of", import_dicom
        else:
            sources = (synthetic_case(Path(temporary) / "src", tuple(args.shape)),)
            patient, what, run = "bench001", "", import_nifti
        splits = Path(temporary) / "splits.json"
        splits.write_text(f'{{"{patient}": "train"}}')
        seconds = []
        for repeat in range(args.repeats):
            out = Path(temporary) / f"out{repeat}"
            start = time.perf_counter()
            manifest = run(*sources, out, jobs=args.jobs, splits=splits)
            seconds.append(time.perf_counter() - start)
    kept = manifest["counts"]["train"]["slices"]
    x, y, z = args.shape
    source = f"{z} slices of {x} x {y}, one file each" if args.format == "dicom" else ".nii.gz"
    print(f"import-{args.format} of one {x} x {y} x {z} int16 volume ({what + ' ' if what else ''}{source}), "
          f"{kept} slices kept and written as 256 x 256 PNGs with a preview: median "
          f"{statistics.median(seconds):.2f} s of {args.repeats} ({', '.join(f'{s:.2f}' for s in seconds)})")
    return 0
