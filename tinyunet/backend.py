"""The array module switch: NumPy on any machine, CuPy on an NVIDIA GPU.

Every other module computes with ``backend.xp`` (or ``get_array_module(a)``
for an array it was given) and only uses the API that NumPy and CuPy share,
so one piece of maths serves both devices.  This is the only module that
imports CuPy.

Choosing the device (read once, at import):

    TINYUNET_DEVICE=auto   CuPy when it imports and a CUDA device answers, else NumPy
    TINYUNET_DEVICE=cpu    NumPy always
    TINYUNET_DEVICE=gpu    CuPy, or a RuntimeError saying why it cannot be had

``set_device("cpu" | "gpu" | "auto")`` changes it later, and ``use(device)``
does so for a ``with`` block (the tests run each case on both).  Read the
active module as ``backend.xp`` at call time: ``from tinyunet.backend import
xp`` would keep the module of the moment you imported it.

Example:
    >>> from tinyunet import backend
    >>> backend.device
    'cpu'
    >>> a = backend.to_device(numpy.ones(3)); backend.asnumpy(a * 2)
    array([2., 2., 2.])
"""

import contextlib
import os

import numpy

xp = numpy
device = "cpu"
_cupy = None
_cupy_error = None


def _load_cupy():
    """Import CuPy and ask for a device; return (module, None) or (None, reason)."""
    global _cupy, _cupy_error
    if _cupy is not None or _cupy_error is not None:
        return _cupy, _cupy_error
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            raise RuntimeError("CUDA reports no device")
        cupy.zeros(1).sum()  # a driver or toolkit problem shows here, not mid-training
        _cupy = cupy
    except Exception as error:  # ImportError, CUDARuntimeError, missing libraries...
        _cupy_error = f"{type(error).__name__}: {error}".strip()
    return _cupy, _cupy_error


def gpu_available():
    """True when CuPy imports and a CUDA device answers."""
    return _load_cupy()[0] is not None


def set_device(name):
    """Make ``name`` ("cpu", "gpu" or "auto") the active device; return the device chosen."""
    global xp, device
    name = (name or "auto").strip().lower()
    if name not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', not {name!r}")
    if name == "cpu":
        xp, device = numpy, "cpu"
        return device
    cupy, why = _load_cupy()
    if cupy is None:
        if name == "gpu":
            raise RuntimeError(
                "TINYUNET_DEVICE=gpu but no GPU can be used: " + why +
                " (install CuPy with: pip install -e \".[cuda12]\" or \".[cuda13]\")")
        xp, device = numpy, "cpu"
    else:
        xp, device = cupy, "gpu"
    return device


@contextlib.contextmanager
def use(name):
    """Run a ``with`` block on another device, then restore the previous one."""
    global xp, device
    saved = xp, device
    set_device(name)
    try:
        yield xp
    finally:
        xp, device = saved


def get_array_module(*arrays):
    """numpy or cupy, whichever owns the arrays (NumPy for plain Python values)."""
    if _cupy is not None:
        return _cupy.get_array_module(*arrays)
    return numpy


def is_numpy(a):
    """True for an array NumPy owns (a CuPy array, or a stand-in's subclass of numpy.ndarray, is not)."""
    return isinstance(a, numpy.ndarray) and get_array_module(a) is numpy


def asnumpy(a):
    """A NumPy copy (or the array itself) of a NumPy or CuPy array, for printing and saving."""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy.asnumpy(a)
    return numpy.asarray(a)


def to_device(a, dtype=None):
    """The array on the active device (no copy when it is already there)."""
    if xp is numpy:
        return numpy.asarray(asnumpy(a), dtype=dtype)
    return xp.asarray(a, dtype=dtype)


def synchronize():
    """Wait for the GPU to finish its queued work (nothing to do on the CPU)."""
    if xp is not numpy:
        xp.cuda.get_current_stream().synchronize()


def device_name():
    """A readable name of the active device, for logs and benchmarks."""
    if xp is numpy:
        import platform

        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


set_device(os.environ.get("TINYUNET_DEVICE", "auto"))
