"""Compiling and launching the hand-written CUDA kernels (used for CuPy arrays only).

Each kernel module builds its CUDA source from a template whose shapes are
compile-time constants (so index arithmetic becomes multiplies and shifts), and
asks ``compiled`` for it: the first call compiles (CuPy also keeps an on-disk
cache in ~/.cupy/kernel_cache), later calls reuse the same function object.
Every kernel runs one thread per output element over a 1-D grid (unless its
module says otherwise); the flat index is split into coordinates at the top of
the kernel, as in Chainer's ``chainer/utils/conv.py``.  Whether a twin runs at
all is decided in dispatch.py.
"""

import functools

import numpy

from .. import backend

THREADS = 256

CTYPES = {numpy.dtype("float32"): "float", numpy.dtype("float64"): "double"}


# The element-wise activations as CUDA statements from v to z (T the element type), shared by
# bias_activation's twin (activation.py) and the direct convolution's write (direct_conv_cuda.py)
ACTIVATION_CODE = {
    "linear": "z = v;",
    "relu": "z = v > 0 ? v : (T)0;",
    # e = exp(-|v|) never overflows: 1 / (1 + e) for v >= 0, e / (1 + e) below
    "sigmoid": "T e = exp(-fabs(v)); z = v >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);",
}


def ctype(dtype):
    """The C type name of a float32 / float64 dtype."""
    return CTYPES[numpy.dtype(dtype)]


@functools.lru_cache(maxsize=None)
def _module(source):
    cupy = backend._load_cupy()[0]
    return cupy.RawModule(code=source, options=("--std=c++17",))


def compiled(source, name):
    """The kernel ``name`` of ``source``; compiled once per source, cached here and on disk."""
    return _module(source).get_function(name)


def launch(kernel, total, args):
    """Run ``kernel`` with one thread per element of a flat range of ``total``."""
    if total > 0:
        kernel(((total + THREADS - 1) // THREADS,), (THREADS,), args)


def capturing(cupy):
    """True while CuPy's current stream is being captured into a CUDA graph (models/graph_step.py):
    then nothing may be copied from the host, and no kernel argument may change between replays."""
    cuda = getattr(cupy, "cuda", None)
    return cuda is not None and cuda.get_current_stream().is_capturing()
