"""cupy.cuda on the emulated device: one device, streams that run everything at once (or
record it, while capturing a graph: _graph.py), events timed by the host clock, and a memory
pool that counts nothing."""

import contextlib
import time
import types

from . import _graph

KERNELS_LAUNCHED = {}


def launched(name):
    """Count one launch of kernel ``name`` (what a test can read, as a profiler would)."""
    KERNELS_LAUNCHED[name] = KERNELS_LAUNCHED.get(name, 0) + 1


class MemoryPointer:
    def __init__(self, array):
        self.ptr = array.ctypes.data


class Device:
    def __init__(self, device=0):
        self.id = int(device)
        self.compute_capability = "90"

    def synchronize(self):
        pass

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _properties(device):
    return {"name": b"Emulated GPU (on the CPU, tools/emulated_gpu)", "major": 9, "minor": 0,
            "totalGlobalMem": 0, "multiProcessorCount": 1}


runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, getDeviceProperties=_properties, runtimeGetVersion=lambda: 0,
                                deviceSynchronize=lambda: None, CUDARuntimeError=RuntimeError)


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = time.perf_counter()

    def synchronize(self):
        pass

    @property
    def done(self):
        return True


def get_elapsed_time(start, end):
    return (end.time - start.time) * 1e3


class Stream:
    """A stream: everything runs when it is called, so ordering is never an issue."""

    _current = []

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.null = null
        self.ptr = 0 if null else id(self)

    def __enter__(self):
        Stream._current.append(self)
        return self

    def __exit__(self, *exc):
        Stream._current.pop()
        return False

    def use(self):
        return self

    def synchronize(self):
        pass

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        pass

    def is_capturing(self):
        return _graph.capturing(self)

    def begin_capture(self, mode=None):
        _graph.begin(self)

    def end_capture(self):
        return _graph.Graph(_graph.end(self))


Stream.null = Stream(null=True)


def get_current_stream():
    return Stream._current[-1] if Stream._current else Stream.null


class MemoryPool:
    """A pool that hands out nothing and counts nothing: the emulated arrays are NumPy's."""

    def __init__(self, allocator=None):
        pass

    def malloc(self, size):
        raise NotImplementedError("emulated CuPy: device memory is not emulated")

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass


DEFAULT_POOL = MemoryPool()


@contextlib.contextmanager
def using_allocator(allocator=None):
    yield
