"""The training step as a CUDA graph (models/graph_step.py) and what it needs: the products on gemm.py's
own kernel (CuPy refuses cuBLAS while capturing), and Adam's bias corrections in its table.

On the GPU the graph's steps must train exactly as train_step does with the same products:
the same losses step after step, the same weights and the same optimizer counts, with new
data each step (the graph must read its inputs afresh).  Without a GPU the refusals run, and
the table's layout is checked on NumPy.
"""

import warnings

import numpy
import pytest

from tinyunet import backend
from tinyunet.bench import make_batch, train_step
from tinyunet.models.graph_step import GraphStep
from tinyunet.kernels import dispatch
from tinyunet.kernels.optimizers import adam_table, set_corrections
from tinyunet.losses import DiceLoss
from tinyunet.models import UNet
from tinyunet.optimizers import SGD, Adam, Optimizer


def _setup(size=32):
    return UNet("article", input_shape=(size, size, 1), seed=0), DiceLoss(), Adam(1e-3)


def test_a_graph_step_needs_the_gpu_backend():
    with backend.use("cpu"):
        model, loss, optimizer = _setup()
        with pytest.raises(RuntimeError, match="GPU backend"):
            GraphStep(model, loss, optimizer)


class _Tensor:
    """What adam_table reads of a CuPy array: its size and its address (data.ptr)."""

    def __init__(self, size, ptr):
        self.size, self.data = size, type("Pointer", (), {"ptr": ptr})()


def test_the_table_holds_the_addresses_offsets_and_bias_corrections_of_t():
    params, grads = [_Tensor(6, 100), _Tensor(5, 200)], [_Tensor(6, 300), _Tensor(5, 400)]
    ms, vs = [_Tensor(6, 500), _Tensor(5, 600)], [_Tensor(6, 700), _Tensor(5, 800)]
    table = adam_table(params, grads, ms, vs, 1, 0.9, 0.999)
    assert table.dtype == numpy.int64 and table.size == 5 * 2 + 3
    assert list(table[:8]) == [100, 200, 300, 400, 500, 600, 700, 800]
    assert list(table[8:11]) == [0, 6, 11]                         # the offsets
    numpy.testing.assert_array_equal(table[-2:].view(numpy.float64), [1 - 0.9, 1 - 0.999])
    set_corrections(table, 7, 0.9, 0.999)
    numpy.testing.assert_array_equal(table[-2:].view(numpy.float64), [1 - 0.9 ** 7, 1 - 0.999 ** 7])


def test_counting_a_step_is_what_step_counts():
    model, loss, optimizer = _setup()
    x, y = make_batch(2, 32)
    train_step(model, loss, optimizer, x, y)
    counted = Adam(1e-3)
    counted.count(model.params)
    assert counted.iterations == optimizer.iterations == 1
    assert counted.state["step"] == optimizer.state["step"]


@pytest.mark.gpu
def test_the_own_matmul_trains_as_cublas_does(cupy):
    """A step with every product on gemm.py's kernel gives cuBLAS's loss and gradients."""
    x, y = (cupy.asarray(a) for a in make_batch(2, 32))
    results = []
    for own in (False, True):
        model, loss, optimizer = _setup()
        previous = dispatch.set_own_gemm(own)
        try:
            value = float(train_step(model, loss, optimizer, x, y))
        finally:
            dispatch.set_own_gemm(previous)
        results.append((value, {k: cupy.asnumpy(g) for k, g in model.grads.items()}))
    (loss_blas, grads_blas), (loss_own, grads_own) = results
    assert loss_own == pytest.approx(loss_blas, rel=1e-5)
    for key, grad in grads_blas.items():
        numpy.testing.assert_allclose(grads_own[key], grad, rtol=1e-3, atol=1e-5 * numpy.abs(grad).max(),
                                      err_msg=key)


@pytest.mark.gpu
@pytest.mark.parametrize("optimizer_class", [Adam, SGD])
def test_graph_steps_train_as_the_eager_steps(cupy, optimizer_class):
    batches = [tuple(cupy.asarray(a) for a in make_batch(2, 32, seed=seed)) for seed in range(6)]
    runs = {}
    for graphed in (False, True):
        model, loss = UNet("article", input_shape=(32, 32, 1), seed=0), DiceLoss()
        optimizer = optimizer_class(1e-3)
        step = GraphStep(model, loss, optimizer, warmup=2) if graphed else None
        previous = dispatch.set_own_gemm(True)        # the eager steps on the graph's products too
        try:
            losses = [float(step(x, y) if graphed else train_step(model, loss, optimizer, x, y))
                      for x, y in batches]
        finally:
            dispatch.set_own_gemm(previous)
        assert not graphed or step.graph is not None
        runs[graphed] = (losses, {k: cupy.asnumpy(p) for k, p in model.params.items()}, optimizer.state_dict())
    (losses, params, state), (graph_losses, graph_params, graph_state) = runs[False], runs[True]
    numpy.testing.assert_allclose(graph_losses, losses, rtol=1e-5)
    assert len(set(graph_losses)) == len(batches)          # each replay read its own batch
    for key, value in params.items():
        numpy.testing.assert_allclose(graph_params[key], value, rtol=1e-4, atol=1e-6, err_msg=key)
    assert graph_state["iterations"] == state["iterations"] == len(batches)
    assert {k: v for k, v in graph_state.items() if k.startswith("step/")} == \
        {k: v for k, v in state.items() if k.startswith("step/")}


@pytest.mark.gpu
def test_a_graph_step_refuses_another_shape_and_goes_on(cupy):
    model, loss, optimizer = _setup()
    step = GraphStep(model, loss, optimizer, warmup=1)
    x, y = (cupy.asarray(a) for a in make_batch(2, 32))
    step(x, y)
    step(x, y)                                             # captured and replayed
    small_x, small_y = (cupy.asarray(a) for a in make_batch(1, 32))
    with pytest.raises(ValueError, match=r"x is \(1, 32, 32, 1\)"):
        step(small_x, small_y)
    assert optimizer.iterations == 2                       # the refused step counted nothing
    assert numpy.isfinite(float(step(x, y)))


def test_a_graph_step_refuses_what_it_cannot_replay(monkeypatch):
    model, loss, _ = _setup()
    monkeypatch.setattr(backend, "device", "gpu")         # only the argument checks run

    class Custom(Optimizer):
        def apply(self, params, grads):
            pass

    with pytest.raises(TypeError, match="Adam or SGD"):
        GraphStep(model, loss, Custom(1e-3))
    with pytest.raises(ValueError, match="warmup"):
        GraphStep(model, loss, Adam(), warmup=0)


class _Stream:
    """What GraphStep asks of a CuPy stream, for the capture's bookkeeping on the CPU."""

    def __init__(self, non_blocking=False):
        self.capturing = False

    def wait_event(self, event):
        pass

    def record(self):
        return None

    def begin_capture(self):
        self.capturing = True

    def end_capture(self):
        self.capturing = False
        return "graph"

    def __enter__(self):
        return self

    def __exit__(self, *error):
        return False


@pytest.mark.parametrize("failure", ["raises", "no Adam kernel"])
def test_a_failed_capture_leaves_the_optimizer_counts_as_they_were(monkeypatch, failure):
    """Without a GPU: a capture that raises, or one in which Adam did not run as its one-kernel
    twin, is refused with the reason, and the step it counted on the host is taken back."""
    import contextlib
    from types import SimpleNamespace

    from tinyunet.models import graph_step as graph_module
    model, loss, optimizer = _setup()
    x, y = make_batch(2, 32)
    train_step(model, loss, optimizer, x, y)                # a real step: Adam has its state
    counts = (optimizer.iterations, dict(optimizer.state["step"]))
    pool = SimpleNamespace(malloc=None, free_all_blocks=lambda: None)
    fake = SimpleNamespace(empty_like=numpy.empty_like, get_default_memory_pool=lambda: pool, cuda=SimpleNamespace(
        Stream=_Stream, MemoryPool=lambda: SimpleNamespace(malloc=None), get_current_stream=_Stream,
        using_allocator=lambda malloc: contextlib.nullcontext()))
    monkeypatch.setattr(backend, "device", "gpu")
    monkeypatch.setattr(backend, "xp", fake)

    def captured_step(model, loss, optimizer, x, y):       # counts on the host as optimizer.step does
        optimizer.count(model.params)
        if failure == "raises":
            raise ValueError("cuBLAS is not supported during stream capture")

    monkeypatch.setattr(graph_module, "train_step", captured_step)
    step = GraphStep(model, loss, optimizer, warmup=1)
    step.eager_steps = 1
    expected = "cuBLAS is not supported" if failure == "raises" else "did not run as its one-kernel twin"
    with pytest.raises(RuntimeError, match=expected):
        step(x, y)
    assert step.graph is None
    assert (optimizer.iterations, optimizer.state["step"]) == counts


def test_fit_refuses_a_cuda_graph_without_the_gpu_backend_or_with_another_optimizer(monkeypatch):
    model = UNet("article", input_shape=(32, 32, 1), seed=0)
    x, y = make_batch(2, 32)
    with backend.use("cpu"):
        with pytest.raises(ValueError, match="cuda_graph=True needs the GPU backend"):
            model.fit(x, y, epochs=1, verbose=0, cuda_graph=True)
    with pytest.raises(ValueError, match="cuda_graph must be True or False, not 1"):
        model.fit(x, y, epochs=1, verbose=0, cuda_graph=1)

    class Custom(SGD):
        pass

    monkeypatch.setattr(backend, "device", "gpu")         # refused before the first step
    with pytest.raises(TypeError, match="takes Adam or SGD.*not Custom"):
        model.fit(x, y, epochs=1, verbose=0, optimizer=Custom(1e-3), cuda_graph=True)


@pytest.mark.gpu
def test_fit_with_a_cuda_graph_trains_as_fit_without(cupy, monkeypatch):
    """7 images in batches of 2: three full steps an epoch and a last one of 1 image (eager).
    Over 2 epochs, 2 warm-up steps, then the capture and 4 replays, with the probe and the
    validation between epochs, give eager fit's losses and weights (every product on the
    graph's own kernel in both runs, so the arithmetic is the same)."""
    from tinyunet.models import graph_step as graph_module
    replays = []
    replay = graph_module.GraphStep._replay
    monkeypatch.setattr(graph_module.GraphStep, "_replay", lambda self, x, y: replays.append(1) or replay(self, x, y))
    x, y = make_batch(7, 32, seed=3)
    runs = []
    previous = dispatch.set_own_gemm(True)
    try:
        for cuda_graph in (False, True):
            model = UNet("article", input_shape=(32, 32, 1), seed=0)
            history = model.fit(x, y, validation_data=(x[:3], y[:3]), epochs=2, batch_size=2,
                                optimizer=Adam(1e-3), verbose=0, cuda_graph=cuda_graph)
            runs.append((history.history, {k: cupy.asnumpy(p) for k, p in model.params.items()}))
    finally:
        dispatch.set_own_gemm(previous)
    (eager, eager_params), (graphed, graph_params) = runs
    assert len(replays) == 4
    for key in ("loss", "val_loss"):
        numpy.testing.assert_allclose(graphed[key], eager[key], rtol=1e-5, err_msg=key)
    for key, value in eager_params.items():
        numpy.testing.assert_allclose(graph_params[key], value, rtol=1e-4, atol=1e-6, err_msg=key)


def test_a_step_that_cannot_be_captured_trains_eagerly_with_a_warning(monkeypatch):
    """Without a GPU: fit's graphed step (graph_step.fit_step) with a GraphStep whose capture
    fails trains exactly as fit without one, warns once with the reason, and asks no more."""
    from tinyunet.models import graph_step as graph_module
    asked = []

    class Refusing:
        def __init__(self, model, loss, optimizer):
            pass

        def __call__(self, x, y):
            asked.append(x.shape[0])
            raise graph_module.CaptureError("GraphStep: the training step could not be captured as a "
                                            "CUDA graph: RuntimeError: cupy.matmul runs on cuBLAS")

    monkeypatch.setattr(graph_module, "GraphStep", Refusing)
    x, y = make_batch(5, 32, seed=1)
    losses = []
    for cuda_graph in (False, True):
        model = UNet("article", input_shape=(32, 32, 1), seed=0)
        monkeypatch.setattr(backend, "device", "gpu" if cuda_graph else "cpu")   # the arrays stay NumPy's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(x, y, epochs=2, batch_size=2, optimizer=Adam(1e-3), verbose=0,
                                cuda_graph=cuda_graph)
        losses.append(history.history["loss"])
        messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert messages == ([] if not cuda_graph else
                            ["fit: GraphStep: the training step could not be captured as a CUDA graph: "
                             "RuntimeError: cupy.matmul runs on cuBLAS; training goes on without a CUDA graph"])
    assert asked == [2]                                    # refused once, then never asked again
    assert losses[1] == losses[0]


@pytest.mark.gpu
def test_fit_with_a_cuda_graph_and_a_cublas_product_trains_eagerly(cupy):
    """Bilinear upsampling is two cuBLAS products, which a capture does not take: fit warns and
    trains as without a graph."""
    x, y = make_batch(4, 32, seed=2)
    losses = []
    previous = dispatch.set_own_gemm(True)
    try:
        for cuda_graph in (False, True):
            model = UNet("article", input_shape=(32, 32, 1), upsampling="bilinear", seed=0)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                history = model.fit(x, y, epochs=2, batch_size=2, optimizer=Adam(1e-3), verbose=0,
                                    cuda_graph=cuda_graph)
            losses.append(history.history["loss"])
            warned = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
            assert len(warned) == int(cuda_graph) and all("could not be captured" in m for m in warned), warned
    finally:
        dispatch.set_own_gemm(previous)
    numpy.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)


@pytest.mark.gpu
def test_a_capture_gives_back_the_warm_up_steps_cached_blocks(cupy):
    # the graph's pool is its own: without the release, the warm-up steps' free blocks stay
    # reserved in the default pool beside it, and the step holds its memory twice
    model, loss, optimizer = _setup(64)
    step = GraphStep(model, loss, optimizer, warmup=1)
    x, y = (cupy.asarray(a) for a in make_batch(4, 64))
    default = cupy.get_default_memory_pool()
    step(x, y)
    cupy.cuda.get_current_stream().synchronize()
    held_eagerly, cached = default.total_bytes(), default.free_bytes()
    assert cached > 0                                      # the warm-up step's temporaries
    step(x, y)                                             # captured and replayed
    cupy.cuda.get_current_stream().synchronize()
    assert step.pool.total_bytes() > 0
    assert default.total_bytes() + step.pool.total_bytes() <= held_eagerly - cached + 1.1 * step.pool.total_bytes()
