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
every kernel's indexing and arithmetic) against the NumPy path, and CUDA graphs:
a stream's capture records every operation with its buffers and a launch
replays them (_graph.py); a cuBLAS product (matmul, dot...) while capturing is
refused, since tinyunet's captured step must not make one.  What it cannot:
speed, memory, concurrency between blocks or streams (TINYUNET_EMULATED_GPU_CHECK_ORDER=1
runs each kernel backwards too, which finds most races: _launch.py).  The memory
pool counts nothing.
"""

import functools
import sys
import types

import numpy

from . import _graph, cuda
from ._launch import ElementwiseKernel, RawKernel, RawModule  # noqa: F401  (cupy.RawModule &c.)

__version__ = "0.0-emulated"
EMULATED = True


class ndarray(numpy.ndarray):
    """A CuPy array: NumPy's, with ``.data.ptr``, ``.get()``, CuPy's refusals, and every
    operation that writes it recorded while a stream captures a graph (_graph.py)."""

    def __array_finalize__(self, obj):
        buffer = _graph.root(self)
        _graph.LIVE[id(buffer)] = buffer

    @property
    def data(self):
        return cuda.MemoryPointer(self)

    @property
    def device(self):
        return cuda.Device(0)

    def _host(self):
        return self.view(numpy.ndarray)

    def get(self, stream=None, out=None):
        _graph.refuse_host("a copy to the host (.get, cupy.asnumpy)")
        host = numpy.array(self._host())
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, array, stream=None):
        _refuse_device(array, "set")
        _graph.refuse_host("a copy from the host (.set)")
        self._host()[...] = array

    def item(self, *args):
        _graph.refuse_host("a value read on the host (.item)")
        return self._host().item(*args)

    def __float__(self):
        _graph.refuse_host("a value read on the host (float)")
        return float(self._host())

    def __int__(self):
        _graph.refuse_host("a value read on the host (int)")
        return int(self._host())

    def __bool__(self):
        _graph.refuse_host("a value read on the host (bool)")
        return bool(self._host())

    def tolist(self):
        _graph.refuse_host("a value read on the host (.tolist)")
        return self._host().tolist()

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        for value in inputs:
            _refuse_host(value, f"numpy.{ufunc.__name__}")
        _refuse_cublas(ufunc.__name__)
        inputs = tuple(_unwrap(v) for v in inputs)
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        result = _wrap(getattr(ufunc, method)(*inputs, **kwargs))
        if _graph.capturing():
            if method == "at":
                _graph.record(lambda: ufunc.at(*inputs, **kwargs))
            else:
                outs = kwargs.pop("out", None) or tuple(_unwrap(r) for r in
                                                        (result if isinstance(result, tuple) else (result,)))
                _graph.record(lambda: getattr(ufunc, method)(*inputs, out=outs, **kwargs))
        return result

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"emulated CuPy: numpy.{func.__name__} was given a CuPy array "
                        f"(CuPy refuses implicit conversion to NumPy; use cupy.asnumpy)")

    # the methods that write memory without a ufunc: recorded while capturing
    def __setitem__(self, key, value):
        _refuse_host(value, "setitem")
        key, value = _unwrap(key), _unwrap(value)
        host = self._host()
        host[key] = value
        _graph.record(lambda: host.__setitem__(key, value))

    def __getitem__(self, key):
        key = _unwrap(key)
        host = self._host()
        result = host[key]
        if not isinstance(result, numpy.ndarray):
            return _wrap(result)
        return _view_or_copy(result, host, lambda: host[key])      # fancy indexing copies

    def copy(self, order="C"):
        host = self._host()
        return _copied(host.copy(order), lambda: host)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        host = self._host()
        result = host.astype(dtype, order=order, casting=casting, copy=copy)
        if result is host:
            return self
        return _copied(result, lambda: host)

    def fill(self, value):
        host = self._host()
        host.fill(value)
        _graph.record(lambda: host.fill(value))

    def reshape(self, *shape, order="C"):
        host = self._host()
        return _view_or_copy(host.reshape(*shape, order=order), host, lambda: host.reshape(*shape, order=order))

    def ravel(self, order="C"):
        return self.reshape(-1, order=order)

    def flatten(self, order="C"):
        return self.copy(order).reshape(-1)

    def __repr__(self):
        return "emulated cupy " + repr(self._host())

    def __str__(self):
        return str(self._host())

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _copied(result, source):
    """result (a new buffer), its copy from ``source()`` recorded while capturing; as a CuPy array."""
    result = _unwrap(result)
    _graph.record(lambda: numpy.copyto(result, source(), casting="unsafe"))
    return _wrap(result)


def _view_or_copy(result, host, source):
    """result of an operation on ``host`` that copies only sometimes: a view as it is, a copy
    recorded (_copied)."""
    return _wrap(result) if _graph.root(result) is _graph.root(host) else _copied(result, source)


def _refuse_host(value, what):
    """CuPy's TypeError for a NumPy array among a CuPy operation's operands (0-d ones pass)."""
    if isinstance(value, numpy.ndarray) and not isinstance(value, ndarray) and value.ndim > 0:
        raise TypeError(f"emulated CuPy: {what} was given a NumPy array of shape {value.shape} "
                        f"among CuPy operands (move it with cupy.asarray)")
    if isinstance(value, (list, tuple)):
        for v in value:
            _refuse_host(v, what)


_CUBLAS = {"matmul", "dot", "tensordot", "einsum", "inner", "vdot"}     # CuPy's products: cuBLAS


def _refuse_cublas(name):
    """A cuBLAS product while a stream captures is refused: tinyunet's graph step keeps cuBLAS
    out of a capture (gemm.py's kernel takes its products), so one that slips in is named."""
    if name in _CUBLAS and _graph.capturing():
        raise RuntimeError(f"emulated CuPy: cupy.{name} runs on cuBLAS, which a CUDA graph's capture "
                           "does not take here (tinyunet's captured step does its products on gemm.py's kernel)")


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


_NO_KERNEL = {"empty", "empty_like"}     # allocation only: nothing for a graph to replay


def _device_function(function, name):
    @functools.wraps(function)
    def run(*args, **kwargs):
        for value in list(args) + list(kwargs.values()):
            _refuse_host(value, f"cupy.{name}")
        _refuse_cublas(name)
        args, kwargs = _unwrap(args), {k: _unwrap(v) for k, v in kwargs.items()}
        result = function(*args, **kwargs)
        if _graph.capturing() and name.split(".")[-1] not in _NO_KERNEL:
            sources = {id(_graph.root(a)) for a in _arrays(args) + _arrays(list(kwargs.values()))}
            if isinstance(result, (tuple, list)):
                for i, r in enumerate(result):
                    if isinstance(r, numpy.ndarray) and id(_graph.root(r)) not in sources:     # not a view
                        _graph.record(lambda r=r, i=i: numpy.copyto(r, function(*args, **kwargs)[i], casting="unsafe"))
            elif isinstance(result, numpy.ndarray) and id(_graph.root(result)) not in sources:
                _graph.record(lambda: numpy.copyto(result, function(*args, **kwargs), casting="unsafe"))
        return _wrap(result)
    return run


def _arrays(values):
    found = []
    for v in values:
        if isinstance(v, numpy.ndarray):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found += _arrays(v)
    return found


# --- moving data: the only places a NumPy array may come in or go out ---

def asarray(a, dtype=None, order=None, **kwargs):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == numpy.dtype(dtype) else a.astype(dtype)
    if isinstance(a, numpy.ndarray) and a.ndim > 0:
        _graph.refuse_host(f"a copy of a NumPy array {a.shape} to the device (cupy.asarray)")
    return numpy.array(a, dtype=dtype, order=order or "C").view(ndarray)   # a copy, as to the device


def array(a, dtype=None, copy=True, order="K", **kwargs):
    if isinstance(a, ndarray):
        host = a.view(numpy.ndarray)
        return _view_or_copy(numpy.array(host, dtype=dtype, copy=copy, order=order), host, lambda: host)
    return asarray(numpy.asarray(a), dtype=dtype, order=None if order == "K" else order)


def asnumpy(a, stream=None, out=None):
    if isinstance(a, ndarray):
        return a.get(out=out)
    return numpy.asarray(a)


def ascontiguousarray(a, dtype=None):
    _refuse_host(a, "cupy.ascontiguousarray")
    host = _unwrap(a)
    result = numpy.ascontiguousarray(host, dtype=dtype)
    return _view_or_copy(result, host, lambda: host) if isinstance(host, numpy.ndarray) else _wrap(result)


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
