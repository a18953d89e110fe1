"""A run folder's claim and the record of what the lessons wrote in it.

A folder becomes a run folder by a claim that only one process can win: ``os.mkdir``
without ``exist_ok`` for a new folder, an exclusive create of the marker
``.tinyunet-run.json`` for an existing one.  So two runs started at once never share a
folder.  The marker lists every lesson file, by name, before it is written::

    {"format": "tinyunet-lesson-run", "created": true, "written": ["config.json", "run.log", ...]}

A file with a lesson's name (``OUTPUT_FILES``) that the marker does not list is someone
else's: the lessons refuse to replace it, and ``--overwrite`` (``clear``) removes only the
listed files.  ``created`` says the claim made the folder, so that ``release`` may remove
it again when a run fails before writing anything of value.
"""

import json
import os

from ..fileio import atomic_write

MARKER = ".tinyunet-run.json"
FORMAT = "tinyunet-lesson-run"
OUTPUT_FILES = ("config.json", "data.npz", "figure1_dice.png", "figure2_unet.png", "figure2_unet_notebook.png",
                "figure2_unet_article.png", "figure3_loss.png", "figure4_predictions.png", "figure5_feature_maps.png",
                "figure6_kernels.png", "figure7_probabilities.png", "figure8_transposed_conv.png",
                "figure9_errors.png", "history.json",
                "history.csv", "best.npz", "best.resume.npz", "training.json", "metrics.json", "run.log")
# what the first lessons write before any result: a run that fails with only these has nothing to keep
NO_VALUE = {"config.json", "run.log"}


def read_marker(folder):
    """The marker of ``folder`` as a dict, or None when the folder has none."""
    path = os.path.join(folder, MARKER)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            marker = json.load(file)
    except (ValueError, UnicodeDecodeError) as error:
        raise SystemExit(f"{path} is not valid JSON ({error}): remove it only if {folder} holds no lesson run")
    if not (isinstance(marker, dict) and marker.get("format") == FORMAT and isinstance(marker.get("written"), list)):
        raise SystemExit(f"{path} was not written by tinyunet's lessons")
    return marker


def _write_marker(folder, marker):
    text = (json.dumps(marker, indent=2) + "\n").encode()
    atomic_write(os.path.join(folder, MARKER), lambda file: file.write(text))


def _create_marker(folder, created):
    """Create the marker if no other process has: True for the one that did."""
    try:
        handle = os.open(os.path.join(folder, MARKER), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(json.dumps({"format": FORMAT, "created": created, "written": []}, indent=2) + "\n")
    return True


def strangers(folder, marker):
    """The files of ``folder`` with a lesson's name that ``marker`` does not list."""
    written = marker["written"] if marker else ()
    return [name for name in OUTPUT_FILES if name not in written and os.path.lexists(os.path.join(folder, name))]


def check_ours(folder, marker):
    """Refuse ``folder`` when it holds a file of a lesson's name that the lessons did not write."""
    found = strangers(folder, marker)
    if found:
        why = f"{MARKER} does not list it" if marker else f"{folder} has no {MARKER}"
        raise SystemExit(f"{os.path.join(folder, found[0])} was not written by tinyunet's lessons ({why}): "
                         "the lessons never replace it; move it away or choose another --out")


def claim(folder):
    """Make ``folder`` this run's; False when it is a run folder already (it has a marker).

    A missing folder is made with ``os.mkdir``; an existing one without a marker is
    claimed by creating the marker exclusively, after checking it holds none of the
    lessons' file names.  Of two processes claiming at once, exactly one gets True.
    """
    os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
    try:
        os.mkdir(folder)
        created = True
    except FileExistsError:
        if not os.path.isdir(folder):
            raise SystemExit(f"{folder} exists and is not a folder: choose another --out")
        if read_marker(folder) is not None:
            return False
        check_ours(folder, None)
        created = False
    return _create_marker(folder, created)


def claim_new(folder):
    """True when this call made ``folder`` (and its marker); False when it exists already."""
    os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
    try:
        os.mkdir(folder)
    except FileExistsError:
        return False
    return _create_marker(folder, True)


def record(folder, name):
    """List ``name`` in the marker before the lesson writes it (a crash then leaves no unlisted file)."""
    marker = read_marker(folder) or {"format": FORMAT, "created": False, "written": []}
    if name not in marker["written"]:
        marker["written"].append(name)
        _write_marker(folder, marker)


def holds_a_run(folder):
    """Whether the run folder ``folder`` holds any file the lessons wrote."""
    marker = read_marker(folder)
    return bool(marker) and any(os.path.lexists(os.path.join(folder, name)) for name in marker["written"])


def clear(folder):
    """Remove the files the lessons wrote in ``folder`` (``--overwrite``), after checking all are theirs."""
    marker = read_marker(folder)
    check_ours(folder, marker)
    for name in marker["written"]:
        if os.path.lexists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    _write_marker(folder, dict(marker, written=[]))


def release(folder):
    """After a failed run: remove what it wrote, and the folder it made, if nothing of value is there.

    Returns whether it did; a folder with results (data, figures, weights) is kept for ``--resume``.
    """
    marker = read_marker(folder)
    if marker is None:
        return False
    written = [name for name in marker["written"] if os.path.lexists(os.path.join(folder, name))]
    if set(written) - NO_VALUE:
        return False
    for name in written:
        os.remove(os.path.join(folder, name))
    os.remove(os.path.join(folder, MARKER))
    if marker.get("created") and not os.listdir(folder):
        os.rmdir(folder)
    return True
