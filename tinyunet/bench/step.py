"""The data a training step runs on, and what the step costs: per layer and in peak memory.

The step is fit's, ``tinyunet.models.step.train_step``, the one a reader writes by hand:

    p = model.forward(x); loss.forward(y, p); model.backward(loss.backward())
    optimizer.step(model.params, model.grads)

with DiceLoss and Adam (learning rate 1e-4, the lesson's).
"""

import statistics
import tracemalloc

import numpy

from .. import backend
from ..models.step import train_step
from .timing import Timer

LEARNING_RATE = 1e-4


def make_batch(batch, size, channels=1, seed=0):
    """Random images in [0, 1] and blob-like binary masks, NHWC float32 (NumPy)."""
    rng = numpy.random.default_rng(seed)
    x = rng.random((batch, size, size, channels), dtype=numpy.float32)
    yy, xx = numpy.mgrid[0:size, 0:size] / size
    centre = rng.random((batch, 2, 1, 1)) * 0.5 + 0.25
    y = ((yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2 < 0.02).astype(numpy.float32)
    return x, y[..., None]


def layer_breakdown(model, loss, optimizer, x, y, steps=3):
    """{layer name: {"forward_ms", "backward_ms"}} medians over ``steps`` steps, each call
    waited for, plus the loss (forward + backward) and the optimizer's {"step_ms"}.

    Each method is replaced by a timed wrapper on the instance for the steps, and the
    class's method is visible again afterwards.
    """
    timer = Timer.for_backend()
    times = {}

    def wrap(owner, method, key):
        original = getattr(owner, method)

        def timed(*args, **kwargs):
            value, elapsed = timer.measure(lambda: original(*args, **kwargs))
            times.setdefault(key, []).append(elapsed)
            return value

        setattr(owner, method, timed)

    targets = [(layer, layer.name) for layer in model.layers] + [(loss, "loss")]
    for owner, name in targets:
        wrap(owner, "forward", (name, "forward_ms"))
        wrap(owner, "backward", (name, "backward_ms"))
    wrap(optimizer, "step", ("optimizer", "step_ms"))
    try:
        for _ in range(steps):
            train_step(model, loss, optimizer, x, y)
    finally:
        for owner, _ in targets:
            del owner.forward, owner.backward
        del optimizer.step
    table = {}
    for (name, what), values in times.items():
        table.setdefault(name, {})[what] = round(statistics.median(values), 4)
    return table


def _live_bytes_hook(memory_hook_class, start):
    """A CuPy memory hook counting the bytes the memory pool has handed out and not yet had back
    (from ``start``), and their peak: what ``torch.cuda.max_memory_allocated`` counts for PyTorch."""

    class LiveBytes(memory_hook_class):
        name = "tinyunet_live_bytes"

        def __init__(self):
            super().__init__()
            self.live = self.peak = start

        def malloc_postprocess(self, **kwargs):
            self.live += kwargs["mem_size"]
            self.peak = max(self.peak, self.live)

        def free_postprocess(self, **kwargs):
            self.live -= kwargs["mem_size"]

    return LiveBytes()


def peak_bytes(run):
    """Peak memory of one call of ``run``: on the GPU, CuPy's memory pool (emptied first) after
    the call, which holds every block the step took, in use or cached for reuse (what
    ``torch.cuda.max_memory_reserved`` counts); on the CPU, tracemalloc's peak (NumPy reports
    its buffers to it)."""
    return memory_peaks(run)["pool" if backend.device == "gpu" else "live"]


def memory_peaks(run):
    """{"live": peak bytes in use during one call of ``run``, "pool": what the GPU's memory
    pool held after it (None on the CPU)}.

    live: on the CPU tracemalloc's peak; on the GPU the peak of the bytes CuPy's pool handed
    out and had not been given back, counted by a memory hook (``cupy.cuda.MemoryHook``),
    comparable with ``torch.cuda.max_memory_allocated``; None where CuPy has no such hook.
    """
    if backend.device == "gpu":
        cupy = backend.xp
        pool = cupy.get_default_memory_pool()
        backend.synchronize()
        pool.free_all_blocks()
        hook_class = getattr(cupy.cuda, "MemoryHook", None)
        if hook_class is None:
            run()
            live = None
        else:
            counter = _live_bytes_hook(hook_class, pool.used_bytes())   # from what is held before
            with counter:
                run()
            live = int(counter.peak)
        backend.synchronize()
        return {"live": live, "pool": int(pool.total_bytes())}
    tracemalloc.start()
    try:
        run()
        return {"live": int(tracemalloc.get_traced_memory()[1]), "pool": None}
    finally:
        tracemalloc.stop()
