"""One timer for the bench and ``tools/``: the milliseconds a call takes, its device work included.

    Timer("cpu")            time.perf_counter before and after the call
    Timer("cupy")           two CuPy CUDA events around the call, the end event waited for
    Timer("torch", torch)   the same with torch.cuda events, for the PyTorch twin

A GPU call returns once its kernels are queued, so perf_counter alone would time the
queueing; the event pair measures the GPU from the start event to the end event, and
waiting for the end event makes the next call start on an idle GPU.

Example:
    >>> timer = Timer("cpu")
    >>> timer(lambda: sum(range(10 ** 6)))            # one call, in ms
    >>> timer.median(step, reps=20, warmup=3)          # the median of 20 calls after 3 untimed
"""

import statistics
import time

from .. import backend

CLOCKS = ("cpu", "cupy", "torch")


class Timer:
    """Elapsed milliseconds of ``fn()`` on one clock: "cpu", "cupy" or "torch"."""

    def __init__(self, clock="cpu", torch=None):
        if clock not in CLOCKS:
            raise ValueError(f"Timer: clock must be one of {CLOCKS}, not {clock!r}")
        if clock == "torch" and torch is None:
            raise ValueError("Timer: the 'torch' clock needs the torch module (torch=torch)")
        self.clock, self.torch = clock, torch

    @classmethod
    def for_backend(cls):
        """CUDA events when tinyunet runs on the GPU, perf_counter otherwise."""
        return cls("cupy" if backend.device == "gpu" else "cpu")

    def measure(self, fn, *args):
        """(fn(*args), elapsed ms)."""
        if self.clock == "cpu":
            start = time.perf_counter()
            value = fn(*args)
            return value, (time.perf_counter() - start) * 1e3
        if self.clock == "cupy":
            cuda = backend.xp.cuda
            start, end = cuda.Event(), cuda.Event()
        else:
            start, end = (self.torch.cuda.Event(enable_timing=True) for _ in range(2))
        start.record()
        value = fn(*args)
        end.record()
        end.synchronize()
        elapsed = cuda.get_elapsed_time(start, end) if self.clock == "cupy" else start.elapsed_time(end)
        return value, elapsed

    def __call__(self, fn):
        """Elapsed ms of one call of ``fn()``."""
        return self.measure(fn)[1]

    def median(self, fn, reps, warmup=0):
        """Median ms of ``reps`` calls of ``fn()``, after ``warmup`` calls that are not timed."""
        for _ in range(warmup):
            fn()
        return statistics.median(self(fn) for _ in range(reps))
