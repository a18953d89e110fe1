"""Saving and loading a model's weights as .npz (no pickles), atomically and all-or-nothing.

File layout: one array per weight, named "<layer name>/<param>" as in
``model.params``, plus ``__tinyunet__``: a JSON string with the format, the
preset and the dtype.  ``save_weights`` writes to a temporary file beside the
target and renames it over the target only once it is complete, so an
interrupted save never destroys the previous file.  ``load_weights`` reads and
checks everything first (readable file, preset, the same names, the same
shapes, finite values) and only then copies into the model's live arrays.
"""

import json
import os
import zipfile

import numpy

from .. import backend
from ..fileio import atomic_write

FORMAT = "tinyunet-weights"
META_KEY = "__tinyunet__"


def save_arrays(path, arrays, meta):
    """Write a dict of NumPy arrays plus a JSON ``meta`` dict to an .npz file, atomically."""
    payload = {name: backend.asnumpy(value) for name, value in arrays.items()}
    payload[META_KEY] = numpy.array(json.dumps(meta))
    atomic_write(path, lambda file: numpy.savez(file, **payload))


def read_arrays(path, expected_format):
    """(arrays, meta) of an .npz written by ``save_arrays``; ValueError when it is not one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such weights file")
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from None
    if META_KEY not in arrays:
        raise ValueError(f"{path}: not a tinyunet file (no {META_KEY} entry)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except ValueError:
        raise ValueError(f"{path}: its {META_KEY} entry is not valid JSON") from None
    if meta.get("format") != expected_format:
        raise ValueError(f"{path}: format is {meta.get('format')!r}, expected {expected_format!r}")
    return arrays, meta


def save_weights(model, path):
    """Write ``model.params`` and the preset to ``path`` (.npz), atomically."""
    meta = {"format": FORMAT, "version": 1, "preset": model.preset, "dtype": str(model.dtype)}
    save_arrays(path, model.params, meta)


def check_weights(model, arrays, meta, path):
    """Raise ValueError naming the first difference between a file's weights and the model's."""
    if meta.get("preset") != model.preset:
        raise ValueError(f"{path}: weights of preset {meta.get('preset')!r} cannot be loaded into a "
                         f"{model.preset!r} model")
    params = model.params
    for name, value in params.items():
        if name not in arrays:
            raise ValueError(f"{path}: has no weight {name!r} (the model's first missing weight)")
        if tuple(arrays[name].shape) != tuple(value.shape):
            raise ValueError(f"{path}: weight {name!r} has shape {tuple(arrays[name].shape)}, "
                             f"the model's has {tuple(value.shape)}")
        if arrays[name].dtype.kind != "f" or not numpy.isfinite(arrays[name]).all():
            raise ValueError(f"{path}: weight {name!r} is not an array of finite floats")
    extra = sorted(set(arrays) - set(params))
    if extra:
        raise ValueError(f"{path}: has weights the model does not, first {extra[0]!r}")


def assign_weights(model, arrays):
    """Copy checked arrays into the model's live weight arrays, in place."""
    for name, value in model.params.items():
        value[...] = backend.to_device(arrays[name], value.dtype)


def load_weights(model, path):
    """Read ``path`` into the model; nothing is written unless every weight matches."""
    arrays, meta = read_arrays(path, FORMAT)
    check_weights(model, arrays, meta, path)
    assign_weights(model, arrays)
