"""Running NumPy work on every core: a small pool of threads, NumPy's BLAS held to one thread meanwhile.

NumPy runs its copies and ufuncs on one thread; only its BLAS (OpenBLAS, in NumPy's wheels)
threads a matrix product, and only a large one.  A convolution on the CPU is mostly copies
(im2col) and products too thin to thread well, so blocked_conv.py cuts it into blocks and
runs them here, one share of the blocks per thread.  NumPy releases the GIL in both.

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
    run_shares(work, items)  work(share) on each thread's share of items; results in order
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
_holders = 0            # how many run_shares are inside blas_single_threaded right now
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


def shares(items, count):
    """items dealt round-robin into ``count`` shares (block i to share i % count): neighbouring
    blocks, which cost about the same, go to different threads."""
    return [items[t::count] for t in range(count) if items[t::count]]


def run_shares(work, items):
    """[work(share) for share in shares(items, threads())], the shares on the pool's threads
    (the first on the calling thread) with OpenBLAS at one thread meanwhile.

    The result is the same whatever the timing: each share is fixed before the threads start,
    and the results come back in share order.  An exception in any share is raised here,
    after every share has finished.
    """
    parts = shares(list(items), threads())
    with blas_single_threaded():
        if len(parts) <= 1:
            return [work(part) for part in parts]
        futures = [_executor(len(parts) - 1).submit(work, part) for part in parts[1:]]
        try:
            first = work(parts[0])
        finally:
            others = [future.exception() for future in futures]
        errors = [error for error in others if error is not None]
        if errors:
            raise errors[0]
        return [first] + [future.result() for future in futures]
