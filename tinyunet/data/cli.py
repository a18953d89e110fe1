"""``python -m tinyunet data ...``: make, check, look at and time the data.

    data phantom --out DIR [--subjects 82] [--seed 0] [--size 256] [--slices LO HI] [--organ NAME ...]
                 [--overwrite]
    data check DIR [--mask-threshold 127]
    data preview [DIR] --out PNG [--split test] [--columns 4] [--rows 3]   (no DIR: a phantom)
    data bench [--subjects 82] [--seed 0] [--size 256]
    data phantom --out DIR --nifti ...   the phantom's subjects as HU volumes (imagesTr/, labelsTr/)
    data import-nifti SRC OUT ... / import-dicom DICOM_ROOT LABELS OUT ... / bench-import
                                         real CT into this layout (import_cli.py)

``--organ`` picks the phantom's masks: pancreas (default), liver, spleen,
kidneys, or several names for one-hot masks of one class each.  ``check``
loads a folder, reports its classes, counts, sizes, mask coverage, subjects
shared between splits and the intensity-window baseline, and exits with 1 on a
problem; ``preview`` outlines each class in its own colour.
``bench`` times the phantom (the lessons' default set) and reports its baseline.
"""

import time

import numpy

from .baseline import threshold_baseline
from .folders import export_folders, load_folders
from .import_cli import add_import_commands
from .organs import ORGANS
from .phantom import make_phantom
from .phantom_nifti import export_phantom_nifti
from .preview import class_colour, contact_sheet
from .splits import SPLIT_NAMES


def add_commands(subparsers):
    """Add the ``data`` command and its subcommands to an argparse subparsers object."""
    data = subparsers.add_parser("data", help="make, check and preview data sets")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    p = commands.add_parser("phantom", help="write the phantom data set in the notebook's layout")
    p.add_argument("--out", required=True, help="folder to write (must be empty or absent)")
    _phantom_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous tinyunet export in --out (never other files)")
    p.add_argument("--nifti", action="store_true",
                   help="write the subjects as NIfTI volumes in HU (Decathlon layout) instead of slices")
    p.set_defaults(run=_phantom)

    p = commands.add_parser("check", help="load a data folder and report on it")
    p.add_argument("root", help="folder with trainimages/, trainmasks/, ...")
    p.add_argument("--mask-threshold", type=int, default=127, help="mask pixels > this are 1")
    p.set_defaults(run=_check)

    p = commands.add_parser("preview", help="contact sheet PNG of slices with masks in cyan")
    p.add_argument("root", nargs="?", help="data folder (default: generate the phantom)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--split", choices=SPLIT_NAMES, default="test")
    p.add_argument("--columns", type=int, default=4)
    p.add_argument("--rows", type=int, default=3)
    p.add_argument("--tile", type=int, default=None, help="tile side in pixels")
    _phantom_options(p, subjects=12)
    p.set_defaults(run=_preview)

    p = commands.add_parser("bench", help="time the phantom and report its threshold baseline")
    _phantom_options(p)
    p.set_defaults(run=_bench)
    add_import_commands(commands)


def _phantom_options(parser, subjects=82):
    parser.add_argument("--subjects", type=int, default=subjects, help="number of subjects")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--slices", type=int, nargs="+", default=[12, 24], metavar="N",
                        help="slices per subject: N, or LO HI to draw from")
    parser.add_argument("--organ", nargs="+", choices=list(ORGANS), default=["pancreas"], metavar="NAME",
                        help=f"organ(s) of the masks: {', '.join(ORGANS)}; several give one class each")


def _make(args):
    slices = args.slices[0] if len(args.slices) == 1 else tuple(args.slices[:2])
    organ = args.organ[0] if len(args.organ) == 1 else tuple(args.organ)
    return make_phantom(n_subjects=args.subjects, size=args.size, seed=args.seed,
                        slices_per_subject=slices, organ=organ)


def _foreground(masks):
    """(N, H, W) bool: the one class of (N, H, W, 1) masks, any foreground class of one-hot ones."""
    return masks[..., 0] > 0.5 if masks.shape[-1] == 1 else masks[..., 0] < 0.5


def _baseline_line(b):
    """The threshold baseline in words: its window, or for several classes each class's window."""
    if b.per_class is None:
        return f"best intensity window on train: [{b.lo}, {b.hi}], Dice on test {b.test_dice:.3f}"
    windows = ", ".join(f"{name} [{c.lo}, {c.hi}] {c.test_dice:.3f}" for name, c in b.per_class.items())
    return f"best intensity window per class on train, Dice on test: {windows}; mean {b.test_dice:.3f}"


def _phantom(args):
    if args.nifti:
        return _phantom_nifti(args)
    start = time.perf_counter()
    try:
        splits = _make(args)
        made = time.perf_counter() - start
        export_folders(splits, args.out, overwrite=args.overwrite)
    except ValueError as error:
        print(f"error: {error}")
        return 1
    counts = ", ".join(f"{name} {len(split)}" for name, split in splits.items())
    print(f"wrote {args.out}: {counts} slices of {args.size}x{args.size} "
          f"({args.subjects} subjects, seed {args.seed}; generated in {made:.1f} s)")
    print(f"classes: {', '.join(splits.class_names)}")
    return 0


def _phantom_nifti(args):
    if args.overwrite:
        print("error: --nifti writes a new folder only; --overwrite does not apply")
        return 1
    slices = args.slices[0] if len(args.slices) == 1 else tuple(args.slices[:2])
    organ = args.organ[0] if len(args.organ) == 1 else tuple(args.organ)
    try:
        export_phantom_nifti(args.out, n_subjects=args.subjects, size=args.size, seed=args.seed,
                             slices_per_subject=slices, organ=organ)
    except ValueError as error:
        print(f"error: {error}")
        return 1
    print(f"wrote {args.out}: {args.subjects} subjects as NIfTI volumes in HU (imagesTr/, labelsTr/, "
          f"dataset.json, splits.json); import them with\n  python -m tinyunet data import-nifti "
          f"{args.out} OUT --size {args.size} --splits {args.out}/splits.json")
    return 0


def _check(args):
    try:
        splits = load_folders(args.root, mask_threshold=args.mask_threshold)
    except ValueError as error:
        print(f"problem: {error}")
        return 1
    problems = []
    print(f"{args.root}:")
    print(f"  classes: {', '.join(splits.class_names)}")
    for name, split in splits.items():
        h, w = split.images.shape[1:3]
        per_slice = _foreground(split.masks).reshape(len(split), -1).mean(axis=1)
        subjects = "no subject names" if split.subjects is None else f"{len(set(split.subjects))} subjects"
        print(f"  {name:<10} {len(split):5d} slices  {w}x{h}  {subjects}  mask coverage "
              f"{100 * per_slice.mean():.2f}% (max {100 * per_slice.max():.2f}%), "
              f"{int((per_slice == 0).sum())} empty masks")
    seen = {}
    for name, split in splits.items():
        for subject in set(split.subjects or ()):
            if subject in seen and seen[subject] != name:
                problems.append(f"subject {subject} is in both {seen[subject]} and {name}")
            seen.setdefault(subject, name)
    b = threshold_baseline(splits)   # load_folders refuses a split whose masks are all empty
    print(f"  {_baseline_line(b)}")
    for problem in problems:
        print(f"problem: {problem}")
    if not problems:
        print("no problems found")
    return 1 if problems else 0


def _preview(args):
    try:
        splits = load_folders(args.root) if args.root else _make(args)
    except ValueError as error:
        print(f"error: {error}")
        return 1
    split = getattr(splits, args.split)
    contact_sheet(split, columns=args.columns, rows=args.rows, tile=args.tile).save(args.out)
    print(f"wrote {args.out}: {min(args.columns * args.rows, len(split))} {args.split} slices")
    names = splits.class_names
    if len(names) > 1:
        print("outlines: " + ", ".join(f"{name} {class_colour(k)[0]}" for k, name in enumerate(names) if k))
    return 0


def _bench(args):
    start = time.perf_counter()
    splits = _make(args)
    seconds = time.perf_counter() - start
    slices = sum(len(s) for _, s in splits.items())
    b = threshold_baseline(splits)
    coverage = numpy.mean([_foreground(s.masks).mean() for _, s in splits.items()])
    organs = "pancreas covers" if args.organ == ["pancreas"] else f"the {' and '.join(args.organ)} masks cover"
    print(f"phantom: {args.subjects} subjects, {slices} slices of {args.size}x{args.size} in "
          f"{seconds:.1f} s ({1000 * seconds / slices:.1f} ms a slice); {organs} "
          f"{100 * coverage:.2f}% of the pixels")
    if b.per_class is None:
        print(f"threshold baseline: window [{b.lo}, {b.hi}] chosen on train (Dice {b.train_dice:.3f}), "
              f"Dice on test {b.test_dice:.3f}")
    else:
        print(f"threshold baseline: {_baseline_line(b)}")
    return 0
