"""CUDA graphs on the emulated device: a stream's capture records, a graph's launch replays.

While a stream captures, nothing that a GPU would queue runs as it would: the hand-written
kernels are only recorded, and CuPy's own operations (the NumPy calls of the stand-in) run
at once, because Python needs their shapes, and are recorded too, each with the very
buffers it wrote.  When the capture ends, every buffer that existed before it gets its
contents back, as if nothing had run, which is what a capture does on a GPU.  A launch of
the graph replays the records in order, on the same buffers: the graph's arrays keep their
addresses, as they must on a GPU.  As on a GPU, reading a value on the host while capturing
(float(), .item(), .get(), bool()) and copying a NumPy array to the device are errors.
"""

import weakref

import numpy

LIVE = weakref.WeakValueDictionary()     # id -> every emulated array's root buffer, for the snapshot
_capture = None                          # the records of the capture under way, or None


def capturing(stream=None):
    """True while a capture is under way (on ``stream``, when one is given)."""
    return _capture is not None and (stream is None or _capture["stream"] is stream)


def record(replay):
    """Keep ``replay`` (a callable that redoes one operation) when a capture is under way."""
    if _capture is not None:
        _capture["records"].append(replay)


def refuse_host(what):
    if _capture is not None:
        raise RuntimeError(f"emulated CuPy: {what} while a stream is being captured "
                           "(cudaErrorStreamCaptureUnsupported: no host synchronisation or copy in a graph)")


def root(array):
    """The array that owns the memory of ``array`` (itself when it owns it)."""
    while isinstance(array.base, numpy.ndarray):
        array = array.base
    return array


def begin(stream):
    global _capture
    if _capture is not None:
        raise RuntimeError("emulated CuPy: a capture is already under way")
    saved = [(buffer, buffer.copy()) for buffer in list(LIVE.values()) if buffer.flags.writeable]
    _capture = {"stream": stream, "records": [], "saved": saved, "errors": numpy.seterr(all="ignore")}


def end(stream):
    """The records of ``stream``'s capture; every buffer from before it restored."""
    global _capture
    if not capturing(stream):
        raise RuntimeError("emulated CuPy: end_capture on a stream that is not capturing")
    capture, _capture = _capture, None
    numpy.seterr(**capture["errors"])
    for buffer, contents in capture["saved"]:
        buffer[...] = contents
    return capture["records"]


class Graph:
    """An instantiated graph: ``launch`` replays its records in order."""

    def __init__(self, records):
        self.records = records

    def launch(self, stream=None):
        refuse_host("a graph launch inside a capture")
        errors = numpy.seterr(all="ignore")
        try:
            for replay in self.records:
                replay()
        finally:
            numpy.seterr(**errors)

    def upload(self, stream=None):
        pass
