"""A model's weights, and the state ``fit`` resumes from, as .npz files (no pickles).

Weights file: one array per weight, named "<layer name>/<param>" as in ``model.params``,
plus ``__tinyunet__``: a JSON string with the format, the model's class ("UNet" or
"Sequential"), its ``config`` (from which ``load_model`` rebuilds it), its architecture
(the config less what does not change the network: seed, dtype, input size,
initializers) and the dtype.  A file of tinyunet 0.1 records only the U-Net's preset,
which stands for that preset's architecture.

Resume file ('<checkpoint>.resume.npz', beside the best weights): the weights under
"weights/<name>", the optimizer's arrays under "optimizer/<key>/...", and in the JSON the
optimizer's scalars, the history, the last finished epoch, the best monitored loss and the
arguments that must match for a resumed run to be the same run: batch size, seed, shuffle,
the optimizer's hyper-parameters, and a fingerprint of the training and validation data
(shape and a checksum of an evenly strided sample of at most 65,536 values).

Both are written to a temporary file beside the target and renamed over it only once
complete, so an interrupted save never destroys the previous file.  Loading reads and
checks everything first (readable file, format, the same architecture, the same names,
the same shapes, finite values) and only then copies into the model's live arrays: all or nothing.
"""

import hashlib
import json
import os
import zipfile

import numpy

from .. import backend
from ..fileio import atomic_write
from . import presets
from .history import History

FORMAT = "tinyunet-weights"
RESUME_FORMAT = "tinyunet-resume"
META_KEY = "__tinyunet__"


# ----------------------------------------------------------------- .npz with a JSON header

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
    with open(path, "rb") as file:
        magic = file.read(6)
    if magic == b"\x93NUMPY":
        raise ValueError(f"{path}: is a .npy file (one array), not an .npz written by save_weights")
    if not magic.startswith(b"PK"):
        raise ValueError(f"{path}: not an .npz file (an .npz is a zip archive; this one does not start like one)")
    try:       # our own file object: numpy.load leaves the file it opened open when the zip is bad
        with open(path, "rb") as file, numpy.load(file, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from None
    if META_KEY not in arrays:
        raise ValueError(f"{path}: not a tinyunet file (no {META_KEY} entry)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except ValueError:
        raise ValueError(f"{path}: its {META_KEY} entry is not valid JSON") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: its {META_KEY} entry is not a JSON object (it is a {type(meta).__name__})")
    if meta.get("format") != expected_format:
        raise ValueError(f"{path}: format is {meta.get('format')!r}, expected {expected_format!r}")
    return arrays, meta


# ----------------------------------------------------------------- weights

def save_weights(model, path):
    """Write ``model.params``, its class, config and architecture to ``path`` (.npz), atomically.

    A model whose config cannot be written (a callable initializer of the user's own)
    is saved with ``config`` None and the reason: its weights still load into a model
    built by hand, but ``load_model`` cannot rebuild it.
    """
    meta = {"format": FORMAT, "version": 2, **_description(model), "dtype": str(model.dtype)}
    try:
        meta["config"] = model.config
    except ValueError as error:
        meta["config"], meta["no_config"] = None, str(error)
    save_arrays(path, model.params, meta)


def _description(model):
    return {"model": type(model).__name__, "architecture": model.architecture_summary()}


def file_description(meta):
    """{"model", "architecture"} of a file's metadata; a 0.1 file's preset stands for its U-Net."""
    if "architecture" in meta:
        return {"model": meta.get("model"), "architecture": meta["architecture"]}
    preset = meta.get("preset")
    if preset not in presets.PRESETS:
        raise ValueError(f"records neither an architecture nor a known preset (preset {preset!r})")
    return {"model": "UNet", "architecture": presets.architecture(preset, presets.resolve(preset))}


def check_weights(model, arrays, meta, path):
    """Raise ValueError naming the first difference between a file's network and weights and the model's."""
    try:
        saved = file_description(meta)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    mine = _description(model)
    if saved["model"] != mine["model"]:
        raise ValueError(f"{path}: holds the weights of a {saved['model']}, not of a {mine['model']}")
    keys = list(mine["architecture"]) + [k for k in saved["architecture"] if k not in mine["architecture"]]
    for key in keys:                                   # the preset first: it explains the rest
        theirs, ours = saved["architecture"].get(key), mine["architecture"].get(key)
        if theirs != ours:
            raise ValueError(f"{path}: weights of a {saved['model']} with {key} {theirs!r} cannot be loaded into "
                             f"one with {key} {ours!r}")
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


# ----------------------------------------------------------------- the state fit resumes from

def resume_path(checkpoint):
    """Where ``fit`` keeps the state to resume from: beside the checkpoint, '<name>.resume.npz'."""
    root = os.fspath(checkpoint)
    root = root[:-4] if root.endswith(".npz") else root
    return root + ".resume.npz"


def _flatten(prefix, value, arrays, scalars):
    """Split a nested state dict into arrays (for the .npz) and JSON scalars, keyed 'a/b/c'."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}/{key}", item, arrays, scalars)
    elif hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        arrays[prefix] = backend.asnumpy(value)
    else:
        scalars[prefix] = value.item() if hasattr(value, "item") else value


def _unflatten(prefix, arrays, scalars):
    """The nested dict ``_flatten`` split under ``prefix``, from its arrays and scalars."""
    state = {}
    for source in (arrays, scalars):
        for key, value in source.items():
            if not key.startswith(prefix + "/"):
                continue
            node, parts = state, key[len(prefix) + 1:].split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
    return state


def save_resume_state(path, model, optimizer, history, epoch, best, run):
    """Write weights, optimizer state, history, the finished ``epoch``, ``best`` and ``run``."""
    arrays, scalars = {}, {}
    for name, value in model.params.items():
        arrays[f"weights/{name}"] = backend.asnumpy(value)
    _flatten("optimizer", optimizer.state_dict(), arrays, scalars)
    meta = {"format": RESUME_FORMAT, **_description(model), "epoch": epoch, "best": best,
            "history": history.to_dict(), "optimizer_scalars": scalars, "run": run}
    save_arrays(path, arrays, meta)


def fingerprint(a):
    """'shape (N, H, W, C), checksum <16 hex digits>' of an array: a checksum of an evenly
    strided sample of at most 65,536 values, so it costs one small copy to the host."""
    flat = a.reshape(-1)
    sample = backend.asnumpy(flat[::max(1, flat.size // 65536)])
    digest = hashlib.sha256(numpy.ascontiguousarray(sample).tobytes()).hexdigest()[:16]
    return f"shape {tuple(int(d) for d in a.shape)}, checksum {digest}"


# The fit arguments a resumed run must share with the run that wrote the state (epochs may grow).
SAME_RUN = ("batch_size", "seed", "shuffle", "training images", "training masks", "validation images",
            "validation masks", "optimizer")


def _check_same_run(path, saved, run):
    """ValueError naming the first fit argument, data set or hyper-parameter that differs."""
    missing = [key for key in SAME_RUN if not isinstance(saved, dict) or key not in saved]
    if missing:
        raise ValueError(f"{path}: does not record the {missing[0]} of the run that wrote it (an older "
                         "tinyunet wrote it): fit again without resume=True")
    for key in SAME_RUN:
        if saved[key] == run[key]:
            continue
        if key != "optimizer":
            raise ValueError(f"{path}: was written by a run with {key}: {saved[key]!r}; this fit has "
                             f"{key}: {run[key]!r}, so it would not continue the same run")
        if saved[key].get("class") != run[key]["class"]:
            raise ValueError(f"{path}: holds {saved[key].get('class')} state, this fit uses {run[key]['class']}")
        name = next(k for k in run[key] if saved[key].get(k) != run[key][k])
        raise ValueError(f"{path}: was written by a run with {name}={saved[key].get(name)!r}; this fit's "
                         f"{run[key]['class']} has {name}={run[key][name]!r}, so it would not continue "
                         "the same run")


def load_resume_state(path, model, optimizer, run):
    """Restore weights and optimizer state; returns (History, next epoch, best).

    ``run`` holds the fit arguments that decide the batches (batch_size, seed, shuffle), the
    data fingerprints and the optimizer's hyper-parameters: a file written with others is
    refused, naming the first difference.
    """
    arrays, meta = read_arrays(path, RESUME_FORMAT)
    _check_same_run(path, meta.get("run"), run)
    model_arrays = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    check_weights(model, model_arrays, meta, path)
    optimizer_state = _unflatten("optimizer", arrays, meta["optimizer_scalars"])
    assign_weights(model, model_arrays)
    optimizer.load_state_dict(optimizer_state)
    return History.from_dict(meta["history"]), meta["epoch"] + 1, meta["best"]
