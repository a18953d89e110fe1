"""A stand-in for CuPy that runs on the CPU: an emulated GPU for machines without one.

    PYTHONPATH=tools/emulated_gpu python -m pytest -m gpu      (tools/emulated_gpu_tests.sh)

With this folder first on the path, ``import cupy`` finds this package, so
tinyunet and its tests take the GPU path: every CuPy array is a NumPy array of
the subclass ``ndarray`` below, CuPy's own operations are NumPy's, and the
hand-written CUDA kernels are compiled by g++ and run on the CPU
(_launch.py).  As CuPy does, it refuses to mix its arrays with NumPy arrays in
one operation, and NumPy functions called on its arrays, so a host/device mix-up
fails here too.

What it checks: tinyunet's GPU path from the layers down (dispatch, host glue,
every kernel's indexing and arithmetic) against the NumPy path.  What it cannot:
speed, memory, concurrency between blocks, and CUDA graphs (a stream's capture
raises NotImplementedError: CuPy's own operations would run at once instead of
being recorded).  The memory pool counts nothing.
"""

import functools
import sys
import types

import numpy

from . import cuda
from ._launch import ElementwiseKernel, RawKernel, RawModule  # noqa: F401  (cupy.RawModule &c.)

__version__ = "0.0-emulated"
EMULATED = True


class ndarray(numpy.ndarray):
    """A CuPy array: NumPy's, with ``.data.ptr``, ``.get()``, and CuPy's refusals."""

    @property
    def data(self):
        return cuda.MemoryPointer(self)

    @property
    def device(self):
        return cuda.Device(0)

    def get(self, stream=None, out=None):
        host = numpy.array(self.view(numpy.ndarray))
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, array, stream=None):
        _refuse_device(array, "set")
        self.view(numpy.ndarray)[...] = array

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        for value in inputs:
            _refuse_host(value, f"numpy.{ufunc.__name__}")
        kwargs = dict(kwargs)
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        result = getattr(ufunc, method)(*(_unwrap(v) for v in inputs), **kwargs)
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"emulated CuPy: numpy.{func.__name__} was given a CuPy array "
                        f"(CuPy refuses implicit conversion to NumPy; use cupy.asnumpy)")

    def __repr__(self):
        return "emulated cupy " + repr(self.view(numpy.ndarray))

    def __str__(self):
        return str(self.view(numpy.ndarray))

    def __iter__(self):
        return (_wrap(v) for v in self.view(numpy.ndarray))

    def tolist(self):
        return self.view(numpy.ndarray).tolist()


def _refuse_host(value, what):
    """CuPy's TypeError for a NumPy array among a CuPy operation's operands (0-d ones pass)."""
    if isinstance(value, numpy.ndarray) and not isinstance(value, ndarray) and value.ndim > 0:
        raise TypeError(f"emulated CuPy: {what} was given a NumPy array of shape {value.shape} "
                        f"among CuPy operands (move it with cupy.asarray)")
    if isinstance(value, (list, tuple)):
        for v in value:
            _refuse_host(v, what)


def _refuse_device(value, what):
    if isinstance(value, ndarray):
        raise TypeError(f"emulated CuPy: {what} expects a NumPy array, got a CuPy array")


def _unwrap(value):
    if isinstance(value, ndarray):
        return value.view(numpy.ndarray)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    return value


def _wrap(value):
    if isinstance(value, ndarray):
        return value
    if isinstance(value, numpy.ndarray):
        return value.view(ndarray)
    if isinstance(value, numpy.generic):
        return numpy.asarray(value).view(ndarray)      # CuPy's reductions give 0-d arrays
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _device_function(function, name):
    @functools.wraps(function)
    def run(*args, **kwargs):
        for value in list(args) + list(kwargs.values()):
            _refuse_host(value, f"cupy.{name}")
        return _wrap(function(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
    return run


# --- moving data: the only places a NumPy array may come in or go out ---

def asarray(a, dtype=None, order=None, **kwargs):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == numpy.dtype(dtype) else a.astype(dtype)
    return numpy.array(a, dtype=dtype, order=order or "C").view(ndarray)   # a copy, as to the device


def array(a, dtype=None, copy=True, order="K", **kwargs):
    if isinstance(a, ndarray):
        return numpy.array(a.view(numpy.ndarray), dtype=dtype, copy=copy, order=order).view(ndarray)
    return numpy.array(a, dtype=dtype, order=order).view(ndarray)


def asnumpy(a, stream=None, out=None):
    if isinstance(a, ndarray):
        return a.get(out=out)
    return numpy.asarray(a)


def ascontiguousarray(a, dtype=None):
    _refuse_host(a, "cupy.ascontiguousarray")
    return _wrap(numpy.ascontiguousarray(_unwrap(a), dtype=dtype))


def get_array_module(*args):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else numpy


def get_default_memory_pool():
    return cuda.DEFAULT_POOL


def get_default_pinned_memory_pool():
    return cuda.DEFAULT_POOL


class _Namespace:
    """A NumPy submodule (cupy.lib.stride_tricks, cupy.random...) with its functions on the device."""

    def __init__(self, module, name):
        self._module, self._name = module, name

    def __getattr__(self, name):
        return _on_device(getattr(self._module, name), f"{self._name}.{name}")


def _on_device(value, name):
    if isinstance(value, types.ModuleType):
        return _Namespace(value, name)
    if isinstance(value, type) or not callable(value):
        return value
    return _device_function(value, name)


def __getattr__(name):
    """Every other NumPy name: types and constants as they are, functions and submodules on the device."""
    return _on_device(getattr(numpy, name), name)
