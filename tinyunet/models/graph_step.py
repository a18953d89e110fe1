"""One training step captured as a CUDA graph and replayed: all of a step's launches in one.

At batch 8 the GPU step is bound by its few hundred kernel launches and the Python between
them, not by the GPU.  A CUDA graph records every launch of one step once (stream capture)
and replays them all with one call, without running any of the Python again:

    step = GraphStep(model, loss, optimizer)
    value = step(x, y)          # what train_step(model, loss, optimizer, x, y) does

``fit(..., cuda_graph=True)`` trains with it, and ``python -m tinyunet.bench --cuda-graph``
times it beside the eager step.

How:

- the first ``warmup`` calls run train_step as usual (real steps; every kernel is compiled
  by them), with the matrix products on gemm.py's own kernel, as in the graph: CuPy refuses
  cuBLAS calls while capturing;
- the next call captures one step on a stream of its own, reading fixed copies of x and y,
  every array it allocates taken from a memory pool of its own that nothing else uses, so
  that the addresses the graph was recorded with stay the graph's; then it replays it.
  Before the capture, the blocks the warm-up steps left cached in CuPy's default pool (free,
  but still held on the device) are given back, so that the graph's pool can use that memory
  instead of doubling the step's footprint;
- each later call copies x and y into the graph's inputs, counts the step on the host
  (``optimizer.count``), uploads Adam's table with that step's bias corrections (the one
  value of a step that changes from step to step: kernels/optimizers.py) and replays.

The loss comes back as a copy, since every replay rewrites the graph's own.  x and y must
keep the capture's shapes and dtypes; an eager step of another shape may run between two
replays (fit's last, smaller batch): the graph keeps its own arrays, and the weights and
Adam's moments, which both update in place, are the same arrays for both.  Adam must run as
its one-kernel twin (every param of one dtype): its per-tensor form would replay the first
step's bias correction for ever.
"""

import contextlib
import warnings

from .. import backend
from ..kernels import dispatch
from ..kernels import optimizers as optimizer_kernels
from ..optimizers import SGD, Adam
from .step import train_step


class CaptureError(RuntimeError):
    """The step could not be captured as a CUDA graph; the reason is in the message.  Nothing
    ran (a capture only records) and the optimizer's counts are as they were, so the same step
    can be run eagerly instead."""


class GraphStep:
    """train_step(model, loss, optimizer, x, y) as a CUDA graph, captured once and replayed."""

    def __init__(self, model, loss, optimizer, warmup=2):
        if backend.device != "gpu":
            raise RuntimeError("GraphStep: CUDA graphs need the GPU backend (TINYUNET_DEVICE=gpu)")
        if type(optimizer) not in (Adam, SGD):
            raise TypeError(f"GraphStep: takes Adam or SGD, whose only step-dependent value it "
                            f"knows (Adam's t), not {type(optimizer).__name__}")
        if not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f"GraphStep: warmup must be an int >= 1 (the steps that compile "
                             f"the kernels before the capture), not {warmup!r}")
        self.model, self.loss, self.optimizer, self.warmup = model, loss, optimizer, warmup
        self.eager_steps = 0
        self.graph = None

    @contextlib.contextmanager
    def _own_gemm(self):
        previous = dispatch.set_own_gemm(True)
        try:
            yield
        finally:
            dispatch.set_own_gemm(previous)

    def __call__(self, x, y):
        """One training step on device arrays x and y; the loss, a 0-d device array."""
        if self.graph is None and self.eager_steps < self.warmup:
            self.eager_steps += 1
            with self._own_gemm():
                return train_step(self.model, self.loss, self.optimizer, x, y)
        if self.graph is None:
            self._capture(x, y)         # the capture ran optimizer.step's host part: counted
        else:
            self._check_inputs(x, y)
            self.optimizer.count(self.model.params)
        return self._replay(x, y)

    def _check_inputs(self, x, y):
        for name, given, held in (("x", x, self.x), ("y", y, self.y)):
            if tuple(given.shape) != tuple(held.shape) or given.dtype != held.dtype:
                raise ValueError(f"GraphStep: {name} is {tuple(given.shape)} {given.dtype}, but the "
                                 f"captured step takes {tuple(held.shape)} {held.dtype}; build a new "
                                 "GraphStep for another shape")

    def _capture(self, x, y):
        cupy = backend.xp
        counts = (self.optimizer.iterations, dict(self.optimizer.state.get("step", {})))
        self.x, self.y = cupy.empty_like(x), cupy.empty_like(y)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.pool = cupy.cuda.MemoryPool()      # the graph's arrays: kept, never handed out again
        cupy.get_default_memory_pool().free_all_blocks()     # the warm-up steps' cached blocks
        self.stream.wait_event(cupy.cuda.get_current_stream().record())
        optimizer_kernels.take_captured_tables()      # none left over from a failed capture
        with self._own_gemm(), cupy.cuda.using_allocator(self.pool.malloc), self.stream:
            self.stream.begin_capture()
            capturing = True
            try:
                self.value = train_step(self.model, self.loss, self.optimizer, self.x, self.y)
                capturing = False
                graph = self.stream.end_capture()       # raises if the capture was invalidated
            except Exception as error:
                if capturing:
                    with contextlib.suppress(Exception):
                        self.stream.end_capture()
                self._restore_counts(counts)
                raise CaptureError(f"GraphStep: the training step could not be captured as a CUDA "
                                   f"graph: {type(error).__name__}: {error}") from error
        self.tables = optimizer_kernels.take_captured_tables()
        if isinstance(self.optimizer, Adam) and (len(self.tables) != 1 or len(self._steps()) != 1):
            self._restore_counts(counts)
            raise CaptureError("GraphStep: Adam did not run as its one-kernel twin with one step "
                               "count t for every param (mixed dtypes, or state loaded per param): "
                               "a graph would replay the first step's bias correction")
        self.graph = graph

    def _steps(self):
        return {self.optimizer.state["step"][key] for key in self.model.params}

    def _restore_counts(self, counts):
        self.optimizer.iterations = counts[0]
        if "step" in self.optimizer.state:
            self.optimizer.state["step"] = counts[1]

    def _replay(self, x, y):
        cupy = backend.xp
        current = cupy.cuda.get_current_stream()
        self.stream.wait_event(current.record())      # x and y are written
        with self.stream:
            self.x[...] = x
            self.y[...] = y
            if self.tables:
                step = next(iter(self._steps()))
                for table in self.tables:
                    table.upload(step, self.stream)
            self.graph.launch(stream=self.stream)
            value = self.value.copy()
        current.wait_event(self.stream.record())     # the caller's stream sees the new weights
        return value


def fit_step(model, loss, optimizer, size):
    """The step of fit(..., cuda_graph=True), ``step(x, y) -> loss``: a GraphStep for the
    batches of ``size`` images, train_step for a smaller last one.  A step that cannot be
    captured (a product on cuBLAS, say: bilinear upsampling) runs eagerly instead, with a
    RuntimeWarning that says why, and so does every later one."""
    graph = GraphStep(model, loss, optimizer)

    def step(x, y):
        nonlocal graph
        if graph is not None and x.shape[0] == size:
            try:
                return graph(x, y)
            except CaptureError as error:
                graph = None
                # stacklevel: step, _train_epoch, training.fit, Model.fit, the caller
                warnings.warn(f"fit: {error}; training goes on without a CUDA graph", RuntimeWarning,
                              stacklevel=5)
        return train_step(model, loss, optimizer, x, y)

    return step
