"""CT volumes with labels -> the article's data set: axial 8-bit slices in the notebook's folder layout.

Each patient's volume goes

    image, label  ->  axial display orientation (volume.display, each by its own affine)
                  ->  central size x size crop (smaller slices padded with air, -1000 HU)
                  ->  mask = label > 0 (labels="any"), or label in the chosen values
                  ->  keep the slices whose cropped mask has >= min_pixels pixels
                  ->  window(HU, level, width) to 8-bit  ->  PNG

and the patients are split (never their slices) into train / validation /
test: drawn with ``fractions`` and ``seed``, or read from ``splits``, a JSON
file {patient: "train" | "validation" | "test"}.  OUT receives

    trainimages/ trainmasks/ validationimages/ ... testmasks/   <patient>_z<index:03d>.png
    preview/<patient>.png   the kept slices with the mask outlined, to check the alignment
    manifest.json           version, options, source files, per patient its slices and split

where index 0 is the patient's most cranial slice; masks are 0 / 255.  OUT must
be empty or absent and outside the sources; everything is written into a
staging folder beside OUT that becomes OUT only when every volume succeeded,
so a failure leaves OUT as it was and the sources are only ever read.

Example:
    >>> import_nifti("Task07_Pancreas", "pancreas_slices", jobs=2)
"""

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy
from PIL import Image, ImageDraw

from .. import __version__
from ..fileio import staged_folder
from ..plots.draw import font
from .intensity import window
from .preview import contact_sheet
from .splits import DEFAULT_FRACTIONS, SPLIT_NAMES, Split, split_subjects
from .volume import axis_codes, check_same_grid, display, grid_offset

AIR_HU = -1000


def run_import(kind, cases, read_image, read_label, out, sources, size=256, level=40, width=400,
               labels="any", min_pixels=1, all_slices=False, fractions=DEFAULT_FRACTIONS, seed=0,
               splits=None, jobs=1, progress=False, label_names=None):
    """Import ``cases`` (nifti.Case) into ``out``; ``read_image(path)`` / ``read_label(path)`` give Volumes.

    Returns the manifest as a dict.  ``kind`` names the importer in the manifest;
    ``sources`` are the folders that must not receive any output; ``label_names``
    ({value: name}, from a dataset.json) goes into the manifest.
    """
    options = dict(size=size, level=level, width=width, labels=labels, min_pixels=min_pixels,
                   all_slices=all_slices, fractions=list(fractions), seed=seed,
                   splits=None if splits is None else str(splits), jobs=jobs)
    _check_options(options)
    out = Path(out)
    _check_out(out, sources)
    assignment = assign_splits([c.patient for c in cases], fractions, seed, splits)
    with staged_folder(out) as staging:     # out is absent or empty, checked above
        for name in SPLIT_NAMES:
            for part in ("images", "masks"):
                (staging / f"{name}{part}").mkdir()
        (staging / "preview").mkdir()
        jobs_args = [(case, read_image, read_label, staging, assignment[case.patient], options)
                     for case in cases]
        records = _run_all(jobs_args, jobs, progress)
        manifest = _manifest(kind, options, cases, records, label_names or {})
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def assign_splits(patients, fractions=DEFAULT_FRACTIONS, seed=0, splits=None):
    """{patient: split name}: drawn by patient from ``fractions`` and ``seed``, or read from the JSON file ``splits``."""
    if splits is None:
        parts = split_subjects(len(patients), numpy.random.default_rng(seed), fractions)
        return {patients[i]: name for name, part in zip(SPLIT_NAMES, parts) for i in part}
    try:
        given = json.loads(Path(splits).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the splits file {splits}: {error}") from None
    if not isinstance(given, dict) or not all(v in SPLIT_NAMES for v in given.values()):
        raise ValueError(f"the splits file {splits} must map each patient to one of {', '.join(SPLIT_NAMES)}")
    missing = [p for p in patients if p not in given]
    if missing:
        raise ValueError(f"the splits file {splits} has no split for patient(s) {', '.join(missing)}")
    return {p: given[p] for p in patients}


def import_case(case, read_image, read_label, root, split, options):
    """Read, orient, crop, select, window and write one patient; return its manifest record."""
    stored, stored_label = read_image(case.image), read_label(case.label)
    image, label = display(stored), display(stored_label)
    check_same_grid(image, label)
    values = _label_values(stored_label)
    size = options["size"]
    mask = _select(_crop(label.array, size, 0), options["labels"])
    pixels = mask.reshape(len(mask), -1).sum(axis=1)
    kept = numpy.arange(len(mask)) if options["all_slices"] else numpy.flatnonzero(pixels >= options["min_pixels"])
    levels = window(_crop(image.array[kept], size, AIR_HU), options["level"], options["width"])
    masks = numpy.where(mask[kept], 255, 0).astype(numpy.uint8)
    names = [f"{case.patient}_z{k:03d}" for k in kept]
    for name, image_levels, mask_levels in zip(names, levels, masks):
        Image.fromarray(image_levels).save(root / f"{split}images" / f"{name}.png", format="PNG")
        Image.fromarray(mask_levels).save(root / f"{split}masks" / f"{name}.png", format="PNG")
    if len(kept):
        _preview(case.patient, levels, masks, names, len(mask)).save(root / "preview" / f"{case.patient}.png")
    return {"split": split, "slices": len(mask), "kept": [int(k) for k in kept],
            "mask_pixels": [int(pixels[k]) for k in kept], "shape": list(image.array.shape),
            "spacing_mm": [round(float(s), 4) for s in image.spacing],
            "stored_axes": "".join(axis_codes(stored.affine, stored.source)), "label_values": values,
            "grid_offset_mm": round(grid_offset(image, label), 3),
            "files": [str(p) for p in (stored.files or [case.image])]}


def _check_options(o):
    if isinstance(o["size"], bool) or not isinstance(o["size"], int) or o["size"] < 16:
        raise ValueError(f"size must be an integer >= 16, got {o['size']!r}")
    if o["width"] <= 0:
        raise ValueError(f"width must be positive, got {o['width']!r}")
    if o["min_pixels"] < 0:
        raise ValueError(f"min_pixels must be >= 0, got {o['min_pixels']!r}")
    if o["labels"] != "any" and (not o["labels"] or not all(isinstance(v, int) and v > 0 for v in o["labels"])):
        raise ValueError(f'labels must be "any" or a list of label values > 0, got {o["labels"]!r}')
    if o["jobs"] < 1:
        raise ValueError(f"jobs must be >= 1, got {o['jobs']!r}")


def _check_out(out, sources):
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} is not an empty folder; the importer never overwrites, give a new OUT")
    resolved = out.resolve()
    for source in sources:
        source = Path(source).resolve()
        if resolved == source or source in resolved.parents:
            raise ValueError(f"{out} lies inside the source folder {source}; the importer never "
                             f"writes into its sources")


def _run_all(jobs_args, jobs, progress):
    """Import every case, ``jobs`` at a time, with a bar on stderr; {patient: record}."""
    records, start = {}, time.perf_counter()
    bar = _Bar(len(jobs_args), progress)
    if jobs == 1:
        for args in jobs_args:
            records[args[0].patient] = import_case(*args)
            bar.step(args[0].patient)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(import_case, *args): args[0].patient for args in jobs_args}
            try:
                for future in as_completed(futures):
                    records[futures[future]] = future.result()
                    bar.step(futures[future])
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    bar.done(time.perf_counter() - start)
    return {patient: records[patient] for patient in (args[0].patient for args in jobs_args)}


class _Bar:
    """Progress over volumes on stderr (silent when ``show`` is false): a bar redrawn in place on
    a terminal, one line per volume where stderr is a file or a pipe (a log, CI), which a
    carriage return would turn into one long line."""

    def __init__(self, total, show):
        self.total, self.count, self.show = total, 0, show
        self.redraw = show and sys.stderr.isatty()

    def step(self, name):
        self.count += 1
        if not self.show:
            return
        if self.redraw:
            filled = round(30 * self.count / self.total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.count}/{self.total} volumes  {name:<20}")
        else:
            sys.stderr.write(f"{self.count}/{self.total} volumes  {name}\n")
        sys.stderr.flush()

    def done(self, seconds):
        if self.show:
            finish_the_bar = "\n" if self.redraw else ""
            sys.stderr.write(f"{finish_the_bar}{self.total} volumes in {seconds:.1f} s\n")


def _label_values(label):
    """{value: voxel count} of an integer label volume; non-integer or negative values are refused."""
    array = label.array
    if not numpy.issubdtype(array.dtype, numpy.integer):
        if not numpy.isfinite(array).all() or (array != numpy.round(array)).any():
            bad = array[~numpy.isfinite(array) | (array != numpy.round(array))].flat[0]
            raise ValueError(f"label {label.source} holds the non-integer value {bad}; labels are "
                             f"whole numbers (0 background, 1 pancreas, 2 tumour)")
    if array.size and array.min() < 0:
        raise ValueError(f"label {label.source} holds the negative value {array.min()}")
    flat = array.ravel(order="K")
    counts = numpy.zeros(int(array.max(initial=0)) + 1, dtype=numpy.int64)
    for start in range(0, flat.size, 1 << 22):   # chunks keep bincount's int64 copy in the cache
        chunk = numpy.bincount(flat[start:start + (1 << 22)].astype(numpy.intp))
        counts[:len(chunk)] += chunk
    return {str(v): int(counts[v]) for v in numpy.flatnonzero(counts)}


def _select(label, labels):
    return label > 0 if labels == "any" else numpy.isin(label, labels)


def _crop(array, size, fill):
    """The central size x size of (slices, rows, columns) (a view), padded evenly with ``fill`` where smaller."""
    centre, pads = [slice(None)], [(0, 0)]
    for n in array.shape[1:]:
        start, short = max(0, (n - size) // 2), max(0, size - n)
        centre.append(slice(start, start + size))
        pads.append((short // 2, short - short // 2))
    array = array[tuple(centre)]
    return numpy.pad(array, pads, constant_values=fill) if pads != [(0, 0)] * 3 else array


def _preview(patient, levels, masks, names, total, columns=6, rows=4):
    """The contact sheet of up to columns x rows kept slices, headed by the patient and the orientation."""
    split = Split(levels[..., None].astype(numpy.float32) / 255, (masks[..., None] > 0).astype(numpy.float32),
                  names)
    sheet = contact_sheet(split, columns=columns, rows=rows)
    header = 34
    page = Image.new("RGB", (max(sheet.width, 420), sheet.height + header), (0, 0, 0))
    page.paste(sheet, (0, header))
    draw, typeface = ImageDraw.Draw(page), font(13)
    draw.text((4, 2), f"{patient}: {len(names)} of {total} slices kept, mask outlined in cyan",
              fill=(255, 255, 255), font=typeface)
    draw.text((4, 18), "image left = patient's right, top = anterior, z000 = most cranial",
              fill=(255, 220, 0), font=typeface)
    return page


def _manifest(kind, options, cases, records, label_names):
    counts = {name: {"patients": sum(r["split"] == name for r in records.values()),
                     "slices": sum(len(r["kept"]) for r in records.values() if r["split"] == name)}
              for name in SPLIT_NAMES}
    return {"written_by": f"tinyunet {kind}", "tinyunet_version": __version__, "options": options,
            "sources": [{"patient": c.patient, "image": str(c.image), "label": str(c.label)} for c in cases],
            "label_names": {str(k): v for k, v in sorted(label_names.items())},
            "counts": counts, "patients": records}
