"""The emulated device's kernels: CUDA C++ compiled by g++ and run on the CPU.

``RawModule`` takes the very source CuPy would get and adds a few macros
(``__global__``, ``__shared__``, ``blockIdx``...) and one launcher per kernel.
A kernel that calls ``__syncthreads`` runs each block's threads as fibers
(ucontext) on one CPU thread: each runs to its next ``__syncthreads``, then the
next; as on a GPU, a thread that has returned no longer holds the others back.
Blocks run one after another.  A kernel without ``__syncthreads`` runs its
threads one after another, which is faster and means the same.
Since one order of blocks and threads is not a GPU's many, a race cannot show
as a wrong result here; with TINYUNET_EMULATED_GPU_CHECK_ORDER=1, every launch
runs twice from the same contents, as numbered and backwards, and a result that
differs in one bit (two threads writing one place, a read of what another thread
has or has not written yet: a missing ``__syncthreads``) raises OrderDependent,
naming the kernel, the buffer and the first element.  No tinyunet kernel uses
atomics, so a race-free one gives the same bits in either order.
``ElementwiseKernel`` does the same for CuPy's element-wise kernels, for the
small grammar tinyunet uses ("raw T b, int32 f" in, "T z" out).
"""

import ctypes
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy

SHIM = r"""
#include <algorithm>
#include <cmath>
#include <functional>
#include <ucontext.h>
#include <vector>
using std::sqrt;
using std::min;
using std::max;
struct dim3_ { unsigned x, y, z; };
dim3_ threadIdx, blockIdx, blockDim, gridDim;
// a block's threads as fibers on one CPU thread: each runs until its next __syncthreads (or its
// end), then the next one; when all have come there, the next round starts.  A thread that has
// returned drops out, as on a GPU.
static ucontext_t scheduler;
static std::vector<ucontext_t> fibers;
static std::vector<std::vector<char>> stacks;
static std::vector<char> finished;
static unsigned current;
static std::function<void()> body;
static void __syncthreads() { swapcontext(&fibers[current], &scheduler); }
static void fiber_entry() { body(); finished[current] = 1; }
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
// the order blocks and threads run in: 0 as numbered, 1 backwards (emulate_set_order); a
// race-free kernel gives the same bits either way (CHECK_ORDER below)
static int reverse_order = 0;
extern "C" void emulate_set_order(int reverse) { reverse_order = reverse; }
static unsigned nth(unsigned i, unsigned n) { return reverse_order ? n - 1 - i : i; }
template <class F> static void emulate_threads(unsigned gx, unsigned gy, unsigned bx, F f) {
    blockDim = {bx, 1, 1}; gridDim = {gx, gy, 1};
    body = f;
    fibers.resize(bx); finished.resize(bx);
    while (stacks.size() < bx) stacks.emplace_back(1 << 16);
    for (unsigned by = 0; by < gy; ++by)
        for (unsigned b = 0; b < gx; ++b) {
            blockIdx = {nth(b, gx), nth(by, gy), 0};
            for (unsigned t = 0; t < bx; ++t) {
                getcontext(&fibers[t]);
                fibers[t].uc_stack.ss_sp = stacks[t].data();
                fibers[t].uc_stack.ss_size = stacks[t].size();
                fibers[t].uc_link = &scheduler;
                makecontext(&fibers[t], fiber_entry, 0);
                finished[t] = 0;
            }
            for (bool alive = true; alive;) {
                alive = false;
                for (unsigned i = 0; i < bx; ++i) {
                    unsigned t = nth(i, bx);
                    if (finished[t]) continue;
                    current = t; threadIdx = {t, 0, 0};
                    swapcontext(&scheduler, &fibers[t]);
                    alive = alive || !finished[t];
                }
            }
        }
}
// a kernel without __syncthreads: its threads one after another
template <class F> static void emulate_serial(unsigned gx, unsigned gy, unsigned bx, F f) {
    blockDim = {bx, 1, 1}; gridDim = {gx, gy, 1};
    for (unsigned by = 0; by < gy; ++by)
        for (unsigned b = 0; b < gx; ++b)
            for (unsigned t = 0; t < bx; ++t) {
                blockIdx = {nth(b, gx), nth(by, gy), 0}; threadIdx = {nth(t, bx), 0, 0}; f();
            }
}
"""

SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)', re.S)
_LIBRARIES = {}
CHECK_ORDER = os.environ.get("TINYUNET_EMULATED_GPU_CHECK_ORDER", "0") not in ("", "0")


class OrderDependent(RuntimeError):
    """A kernel's result depended on the order its blocks or threads ran in: a race."""


CACHE = pathlib.Path(os.environ.get("TINYUNET_EMULATED_GPU_CACHE",
                                    pathlib.Path(tempfile.gettempdir()) / "tinyunet_emulated_gpu"))


FLAGS = ("-std=c++17", "-O1", "-shared", "-fPIC", "-w")


def build(source):
    """The shared library of ``source`` (the shim prepended), built once per source and kept
    in CACHE (as CuPy keeps its compiled kernels), so a later run loads it."""
    source = SHIM + source
    key = hashlib.sha1((" ".join(FLAGS) + source).encode()).hexdigest()
    if key not in _LIBRARIES:
        library = CACHE / f"{key}.so"
        if not library.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            folder = pathlib.Path(tempfile.mkdtemp(prefix="build_", dir=CACHE))
            (folder / "k.cpp").write_text(source)
            subprocess.run(["g++", *FLAGS, str(folder / "k.cpp"), "-o", str(folder / "k.so")], check=True)
            os.replace(folder / "k.so", library)      # whole or not at all, also with two runs at once
            shutil.rmtree(folder, ignore_errors=True)
        _LIBRARIES[key] = ctypes.CDLL(str(library))
    return _LIBRARIES[key]


def _pointer(value, name):
    from . import ndarray
    if not isinstance(value, ndarray):
        raise TypeError(f"emulated CuPy: kernel argument {name} is {type(value).__name__}, not a CuPy array")
    if not value.flags.c_contiguous:
        raise ValueError(f"emulated CuPy: kernel argument {name} is not C-contiguous (a kernel reads it flat)")
    return ctypes.c_void_p(value.ctypes.data)


def _scalar(kind, value, name):
    if kind == "int":
        if not isinstance(value, numpy.int32):
            raise TypeError(f"emulated CuPy: int parameter {name} given {type(value).__name__}, not numpy.int32")
        return ctypes.c_int(int(value))
    if kind == "long long":
        return ctypes.c_longlong(int(value))
    if kind == "double":
        if not isinstance(value, (float, numpy.float64)):
            raise TypeError(f"emulated CuPy: double parameter {name} given {type(value).__name__}")
        return ctypes.c_double(float(value))
    if kind == "float":
        return ctypes.c_float(float(value))
    raise TypeError(f"emulated CuPy: kernel parameter type {kind!r} ({name}) is not emulated")


class Function:
    """One kernel of a RawModule: ``f(grid, block, args)`` as CuPy's RawKernel."""

    def __init__(self, library, name, params):
        self.function = getattr(library, "launch_" + name)
        self.library, self.name, self.params = library, name, params

    def __call__(self, grid, block, args, **kwargs):
        from . import cuda
        grid = tuple(grid) + (1,) * (2 - len(grid))
        block = tuple(block)
        if len(grid) > 2 or any(b != 1 for b in block[1:]):
            raise ValueError(f"emulated CuPy: {self.name}: only 1-D blocks and 2-D grids are emulated")
        if len(args) != len(self.params):
            raise TypeError(f"emulated CuPy: {self.name} takes {len(self.params)} arguments, given {len(args)}")
        converted = [_pointer(value, name) if kind == "pointer" else _scalar(kind, value, name)
                     for (kind, name), value in zip(self.params, args)]
        cuda.launched(self.name)
        buffers = {name: value for (kind, name), value in zip(self.params, args) if kind == "pointer"}
        # an address table (int64) lets the kernel write arrays it is not given: then all are compared
        everything = any(value.dtype == numpy.int64 for value in buffers.values())
        # the record holds the arrays too: their memory stays the graph's (its pool, on a GPU)
        _run_or_record(lambda: _checked(self.library, self.name, buffers, everything, lambda: self.function(
            ctypes.c_uint(grid[0]), ctypes.c_uint(grid[1]), ctypes.c_uint(block[0]), *converted)))


class RawModule:
    """cupy.RawModule: g++ builds the source with the shim and one launcher per kernel."""

    def __init__(self, code, options=(), **kwargs):
        self.signatures = {}
        wrappers = []
        for name, params in SIGNATURE.findall(code):
            parsed = []
            for param in params.split(","):
                param = " ".join(param.split())
                argname = param.split()[-1]
                kind = "pointer" if "*" in param else " ".join(w for w in param.split()[:-1] if w != "const")
                parsed.append((kind, argname))
            self.signatures[name] = parsed
            names = ", ".join(p[1] for p in parsed)
            body = code[code.index(f"void {name}("):]
            end = body.find('extern "C"', 1)
            threads = "__syncthreads" in (body if end < 0 else body[:end])
            launcher = "emulate_threads" if threads else "emulate_serial"
            wrappers.append(f'extern "C" void launch_{name}(unsigned gx, unsigned gy, unsigned bx, {params}) '
                            f'{{ {launcher}(gx, gy, bx, [&] {{ {name}({names}); }}); }}')
        self.library = build(code + "\n" + "\n".join(wrappers))

    def get_function(self, name):
        if name not in self.signatures:
            raise AttributeError(f"emulated CuPy: the module has no kernel {name!r}")
        return Function(self.library, name, self.signatures[name])


class RawKernel:
    """cupy.RawKernel: the one kernel ``name`` of ``code``."""

    def __init__(self, code, name, options=(), **kwargs):
        self.function = RawModule(code, options).get_function(name)

    def __call__(self, grid, block, args, **kwargs):
        self.function(grid, block, args)


_CTYPE = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long", "uint8": "unsigned char"}


class ElementwiseKernel:
    """cupy.ElementwiseKernel for parameters "raw T a", "T a" and "int32 n" (inputs) and "T z"
    (outputs, given by the caller): one C++ loop over the outputs' elements, index i."""

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        self.inputs = [p.split() for p in in_params.split(",")]
        self.outputs = [p.split() for p in out_params.split(",")]
        self.operation, self.name = operation, name

    def __call__(self, *args):
        from . import cuda, ndarray
        params = self.inputs + self.outputs
        if len(args) != len(params):
            raise TypeError(f"emulated CuPy: {self.name}: the caller gives every output; "
                            f"{len(params)} arguments expected, {len(args)} given")
        typed = [a for a, p in zip(args, params) if p[-2] == "T"]
        t = _CTYPE[typed[0].dtype.name]
        size = args[-1].size
        signature, prologue, converted = [], [], []
        for (words, value) in zip(params, args):
            name, kind = words[-1], words[-2]
            if kind == "T" or words[0] == "raw":
                if not isinstance(value, ndarray):
                    raise TypeError(f"emulated CuPy: {self.name}: {name} must be a CuPy array")
                if value.dtype != typed[0].dtype:
                    raise TypeError(f"emulated CuPy: {self.name}: {name} is {value.dtype}, T is {typed[0].dtype}")
                signature.append(f"{t}* {name}_p")
                converted.append(_pointer(value, name))
                if words[0] == "raw":
                    prologue.append(f"{t}* {name} = {name}_p;")
                elif value.size != size:
                    raise ValueError(f"emulated CuPy: {self.name}: {name} has {value.size} elements, not {size}")
                else:
                    prologue.append(f"{t}& {name} = {name}_p[i];")
            else:
                signature.append(f"{_CTYPE[kind]} {name}")
                converted.append(_scalar(_CTYPE[kind], numpy.int32(value) if kind == "int32" else value, name))
        source = (f"typedef {t} T;\n"
                  f'extern "C" void launch(long long n, {", ".join(signature)}) {{\n'
                  f"    for (long long k = 0; k < n; ++k) {{ long long i = reverse_order ? n - 1 - k : k;\n"
                  f"        {' '.join(prologue)} {self.operation} }}\n}}\n")
        cuda.launched(self.name)
        library = build(source)
        buffers = {words[-1]: value for words, value in zip(params, args) if isinstance(value, ndarray)}
        _run_or_record(lambda: _checked(library, self.name, buffers, False,
                                        lambda: library.launch(ctypes.c_longlong(size), *converted)))


def _flat(array):
    """The bytes of a contiguous array, as a flat uint8 view."""
    return numpy.ravel(array.view(numpy.ndarray), order="K").view(numpy.uint8)


def _checked(library, kernel, buffers, everything, run):
    """Run a kernel; with CHECK_ORDER, run it again backwards from the same contents and raise
    OrderDependent unless every buffer it could write (``buffers``, {name: array}, or every
    live array when ``everything``) holds the same bits after both runs."""
    if not CHECK_ORDER:
        run()
        return
    from . import _graph
    if everything:
        buffers = [(f"an array of shape {b.shape}", b) for b in list(_graph.LIVE.values()) if b.flags.writeable]
    else:
        buffers = list(buffers.items())
    buffers = [(name, b, _flat(b)) for name, b in buffers if b.flags.c_contiguous or b.flags.f_contiguous]
    before = [flat.copy() for _, _, flat in buffers]
    run()
    forward = [flat.copy() for _, _, flat in buffers]
    for (_, _, flat), saved in zip(buffers, before):
        flat[...] = saved
    library.emulate_set_order(1)
    try:
        run()
    finally:
        library.emulate_set_order(0)
    for (name, b, flat), expected in zip(buffers, forward):
        differs = numpy.flatnonzero(flat != expected)
        if differs.size:
            for (_, _, each), value in zip(buffers, forward):
                each[...] = value
            raise OrderDependent(
                f"emulated CuPy: kernel {kernel} is not the same when its blocks and threads run backwards: "
                f"{name} differs in {len(numpy.unique(differs // b.itemsize))} of {b.size} elements, "
                f"first at flat index {differs[0] // b.itemsize} (a race: a missing __syncthreads, "
                "or two threads writing one element)")


def _run_or_record(launch):
    """A kernel runs now, or, while a stream captures, only goes into the graph (as on a GPU)."""
    from . import _graph
    if _graph.capturing():
        _graph.record(launch)
    else:
        launch()
