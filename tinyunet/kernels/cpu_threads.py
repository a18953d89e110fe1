"""Running NumPy work on every core: a small pool of threads, NumPy's BLAS held to one thread meanwhile.

NumPy runs its copies and ufuncs on one thread; only its BLAS (OpenBLAS, in NumPy's wheels)
threads a matrix product, and only a large one.  A convolution on the CPU is mostly copies
(im2col) and products too thin to thread well, so blocked_conv.py cuts it into blocks and
runs them here, each thread taking the next block left.  NumPy releases the GIL in both.

While the threads run, OpenBLAS is set to one thread: otherwise its own workers would take
the same cores, and after each product they keep spinning for a while, competing with ours
(measured on a 2-core Xeon: the blocked convolution gained nothing until BLAS was held to
one thread).  The setting is put back when the last block is done.

OpenBLAS is found with ctypes in the libraries this process has loaded (its
``openblas_set_num_threads``, under the ``scipy_`` prefix and ``64_`` suffix of NumPy's
wheels).  Where none is found (NumPy built on another BLAS), ``available()`` is False and
the convolutions keep their one-copy im2col path.

    available()              True when OpenBLAS's thread count can be set
    threads()                how many threads the pool runs: OpenBLAS's own thread count,
                             so OPENBLAS_NUM_THREADS=1 also keeps tinyunet on one core
    run_each(work, items)    [work(item) for item in items] on every core, results in order
    plan_blocks(n, h, w, row_bytes)   blocks (n0, n1, r0, r1) of an (N, H, W, ...) array's
                             images and rows, each about BLOCK_BYTES
    run_blocks(work, blocks) work(n0, n1, r0, r1) for every block, on every core

The element-wise and per-sample ops (pooling, LayerNormalization, the activations and the
convolution's epilogue, concatenation, padding) run their xp form on each block the same
way: a block is small enough to stay in the core's cache across the form's few passes.
"""

import contextlib
import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy

_SET_NAMES = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
              "openblas_set_num_threads64_", "openblas_set_num_threads")


def _loaded_libraries():
    """Paths of the shared libraries this process has mapped whose name says openblas."""
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and "openblas" in os.path.basename(fields[-1]).lower():
                    paths.append(fields[-1])
    except OSError:
        pass
    here = os.path.dirname(numpy.__file__)
    for folder in (os.path.join(here, "..", "numpy.libs"), os.path.join(here, ".dylibs")):
        paths += glob.glob(os.path.join(folder, "*openblas*"))
    return list(dict.fromkeys(paths))


def _find_openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS NumPy uses, or None."""
    for path in _loaded_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name in _SET_NAMES:
            setter = getattr(library, set_name, None)
            getter = getattr(library, set_name.replace("set_", "get_"), None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return None


_openblas = _find_openblas()
_lock = threading.Lock()
_holders = 0            # how many run_each calls are inside blas_single_threaded right now
_saved = None           # OpenBLAS's thread count before the first of them
_pool = None
_pool_size = 0


def available():
    """True when OpenBLAS's thread count can be set, so the pool can run without it competing."""
    return _openblas is not None


def threads():
    """The pool's size: the thread count OpenBLAS would use (1 where it cannot be set)."""
    if _openblas is None:
        return 1
    with _lock:
        count = _saved if _holders else _openblas[1]()
    return max(1, int(count))


@contextlib.contextmanager
def blas_single_threaded():
    """OpenBLAS at one thread inside, its previous count restored when the last holder leaves."""
    global _holders, _saved
    if _openblas is None:
        yield
        return
    with _lock:
        if _holders == 0:
            _saved = _openblas[1]()
            _openblas[0](1)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                _openblas[0](_saved)


def _executor(size):
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < size:
            _pool, _pool_size = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tinyunet-cpu"), size
        return _pool


def _forget_pool():
    # a forked child has none of the parent's threads: start a new pool there if needed
    global _pool, _pool_size, _holders
    _pool, _pool_size, _holders = None, 0, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


# a block of work: about this many bytes (a share of a core's 1-2 MB L2 cache) ...
BLOCK_BYTES = 1 << 20
# ... but at least this many pixels, so that each block's NumPy calls (a matrix product, a
# few ufuncs) run long enough to be worth their call overhead
MIN_PIXELS = 256


def plan_blocks(n, h, w, row_bytes, count=None):
    """[(n0, n1, r0, r1), ...]: blocks of images n0:n1, rows r0:r1, that cover the (N, H) rows
    once.  A block holds several images only when it holds all their rows, so a[n0:n1, r0:r1]
    of a C-contiguous (N, H, W, ...) array is one contiguous run; there are at least
    ``count`` (default threads()) blocks where the batch allows it.  row_bytes: what one
    row of the work touches (for a convolution, one output row's share of im2col).
    """
    count = threads() if count is None else count
    rows = max(1, BLOCK_BYTES // max(row_bytes, 1), -(-MIN_PIXELS // max(w, 1)))
    if rows >= h and n >= count:
        images = max(1, min(BLOCK_BYTES // max(row_bytes * h, 1), -(-n // count)))
        return [(i, min(i + images, n), 0, h) for i in range(0, n, images)]
    rows = max(1, min(rows, h, -(-h * n // count)))
    return [(i, i + 1, r, min(r + rows, h)) for i in range(n) for r in range(0, h, rows)]


def run_each(work, items):
    """[work(item) for item in items], on every core, OpenBLAS at one thread meanwhile.

    The calling thread and threads() - 1 of the pool's each take the next item no thread has
    taken yet, until none is left: a thread slowed by the others (they share the memory bus)
    takes fewer.  Which thread runs an item depends on the timing; the results, returned in
    item order, do not, as long as no two items write the same elements.  An exception in
    any item is raised here, after every thread has stopped (they take no item after it).
    """
    items = list(items)
    count = min(threads(), len(items))
    results, failed = [None] * len(items), []
    order, order_lock = iter(range(len(items))), threading.Lock()

    def drain():
        while not failed:
            with order_lock:
                i = next(order, None)
            if i is None:
                return
            try:
                results[i] = work(items[i])
            except BaseException as error:
                failed.append(error)

    with blas_single_threaded():
        if count <= 1:
            return [work(item) for item in items]
        futures = [_executor(count - 1).submit(drain) for _ in range(count - 1)]
        try:
            drain()
        finally:
            for future in futures:
                future.result()
    if failed:
        raise failed[0]
    return results


def run_blocks(work, blocks):
    """[work(n0, n1, r0, r1) for each block], on every core (run_each)."""
    return run_each(lambda block: work(*block), blocks)
