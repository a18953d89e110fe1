"""One row of the benchmark: a (preset, size, batch) timed for tinyunet and, if given, its twin.

The row holds the first step's time (kernel compilation and memory-pool growth) apart from
the median and minimum of ``steps`` steps after ``warmup``; the peak memory of a step (on the
GPU two pairs: CuPy's pool against PyTorch's reserved memory, the bytes in use against its
allocated memory);
``predict`` throughput; and, with the PyTorch twin, the same figures for it and the ratio
of the medians, which is None unless the twin check passed.  With ``torch_compile`` the row
has a third column, ``torch_compile_*``, and ``ratio_compile``; with ``cuda_graph`` a column
``tinyunet_graph_*`` (the step as a CUDA graph, models/graph_step.py; ``_pool_bytes``: what
the graph's own pool holds) and ``ratio_graph`` and ``ratio_graph_compile`` against the twins.
"""

import statistics

from .. import backend, kernels
from ..losses import DiceLoss
from ..models import UNet
from ..optimizers import Adam
from ..models.graph_step import GraphStep
from .step import LEARNING_RATE, layer_breakdown, make_batch, memory_peaks, train_step
from .timing import Timer
from .twin import TwinTraining, compiled_check, twin_check


def _step_figures(name, times):
    """The median and the minimum of a list of step times (ms), keyed for the row."""
    return {f"{name}_step_ms": round(statistics.median(times), 3), f"{name}_step_ms_min": round(min(times), 3)}


def _images_per_s(batch, milliseconds):
    return round(batch / (milliseconds / 1e3), 1)


def bench_one(preset, size, batch, steps, warmup, torch, layers, log, apart=False, torch_compile=False,
              cuda_graph=False):
    """Measure one (preset, size, batch); returns the JSON row.

    ``torch`` is the torch module or None (tinyunet alone); ``layers`` adds the per-layer
    breakdown; ``log`` prints the twin checks' outcomes.  ``apart`` times all of tinyunet's
    steps, then PyTorch's (after a warm-up of its own), instead of interleaving them: on a CPU
    each library's idle threads keep spinning for a while after its step, on the cores the
    other needs, so interleaved steps measure that as well.  ``torch_compile`` adds a third
    column, the twin's loss under ``torch.compile`` (default mode), checked against the eager
    twin first; its first step holds the compilation, and a compilation that fails is
    reported in the row (``torch_compile_error``) instead of stopping the bench.
    ``cuda_graph`` adds tinyunet's step as a CUDA graph, on a second model with the same
    weights; its "first step" is the capture and the first replay, and a step that cannot be
    captured is reported in the row (``tinyunet_graph_error``).
    """
    on_gpu = backend.device == "gpu"
    timer = Timer.for_backend()
    x_host, y_host = make_batch(batch, size)
    x, y = backend.to_device(x_host), backend.to_device(y_host)
    model = UNet(preset, input_shape=(size, size, 1), seed=0)
    loss, optimizer = DiceLoss(), Adam(LEARNING_RATE)
    row = {"backend": "cupy" if on_gpu else "numpy", "device": backend.device_name(), "preset": preset,
           "batch": batch, "size": size, "fast_kernels": kernels.fast_enabled(), "steps": steps}

    def ours():
        train_step(model, loss, optimizer, x, y)

    row["tinyunet_first_step_ms"] = round(timer(ours), 3)
    peaks = memory_peaks(ours)
    # the GPU's pool holds blocks in use and blocks cached for reuse (PyTorch's "reserved");
    # "live" counts only those in use (PyTorch's "allocated"): both pairs go into the row
    row["tinyunet_peak_bytes"] = peaks["pool"] if on_gpu else peaks["live"]
    if on_gpu:
        row["tinyunet_live_peak_bytes"] = peaks["live"]

    twins = {}                        # row prefix -> TwinTraining, timed in this order
    if torch is not None:
        # the GPU checks the timed shapes in float32; the CPU a smaller float64 copy of the problem
        check_size, check_batch = (size, batch) if on_gpu else (min(size, 64), min(batch, 2))
        ok, text = twin_check(preset, check_size, check_batch, torch, "cuda" if on_gpu else "cpu", on_gpu)
        row["twin_check"], row["twin_check_ok"] = text, bool(ok)
        log(f"  twin check {'passed' if ok else 'FAILED'}: {text}")
        twins["torch"] = TwinTraining(model, torch, x_host, y_host, on_gpu, LEARNING_RATE)
        if torch_compile:
            _add_compiled_twin(row, twins, model, torch, x_host, y_host, on_gpu, log)
        for name, twin in twins.items():
            if name != "torch_compile":           # its first step was its compilation, above
                row[f"{name}_first_step_ms"] = round(twin.timer(twin.step), 3)
            row[f"{name}_peak_bytes"] = twin.peak_bytes()
            if on_gpu:
                row[f"{name}_reserved_peak_bytes"] = twin.reserved_peak_bytes

    graph = _graph_step(row, preset, size, x, y, timer, log) if cuda_graph else None
    for _ in range(warmup):
        ours()
        if graph is not None:
            graph()
        for twin in twins.values():
            twin.step()
    ours_ms, graph_ms, theirs_ms = [], [], {name: [] for name in twins}
    row["timing"] = "apart" if apart else "interleaved"
    for _ in range(steps):            # interleaved, so drifting clocks hit all alike
        ours_ms.append(timer(ours))
        if graph is not None:
            graph_ms.append(timer(graph))
        for name, twin in twins.items():
            if not apart:
                theirs_ms[name].append(twin.timer(twin.step))
    if apart:
        for name, twin in twins.items():
            for _ in range(warmup):
                twin.step()
            theirs_ms[name] = [twin.timer(twin.step) for _ in range(steps)]
    row.update(_step_figures("tinyunet", ours_ms))
    if graph is not None:
        row.update(_step_figures("tinyunet_graph", graph_ms))
    for name in twins:
        row.update(_step_figures(name, theirs_ms[name]))
    if "torch" in twins:
        row["ratio"] = round(row["tinyunet_step_ms"] / row["torch_step_ms"], 3) if row["twin_check_ok"] else None
    if "torch_compile" in twins:
        ok = row["twin_check_ok"] and row["torch_compile_check_ok"]
        row["ratio_compile"] = round(row["tinyunet_step_ms"] / row["torch_compile_step_ms"], 3) if ok else None
    if graph is not None:
        checks = {"torch": row.get("twin_check_ok"),
                  "torch_compile": row.get("twin_check_ok") and row.get("torch_compile_check_ok")}
        for name, key in (("torch", "ratio_graph"), ("torch_compile", "ratio_graph_compile")):
            if name in twins:
                ok = checks[name] and row["tinyunet_graph_check_ok"]
                row[key] = round(row["tinyunet_graph_step_ms"] / row[f"{name}_step_ms"], 3) if ok else None

    predict_runs = max(3, min(steps, 10))
    predict_ms = timer.median(lambda: model.predict(x, batch_size=batch), predict_runs, warmup=1)
    row["tinyunet_predict_images_per_s"] = _images_per_s(batch, predict_ms)
    if "torch" in twins:
        row["torch_predict_images_per_s"] = _images_per_s(batch, twins["torch"].predict_ms(predict_runs))
        row["torch_threads"] = torch.get_num_threads()
    if layers:
        row["layers"] = layer_breakdown(model, loss, optimizer, x, y)
    return row


def _add_compiled_twin(row, twins, model, torch, x_host, y_host, on_gpu, log):
    """Compile the twin's loss (its first call, timed), check it against the eager twin, and
    add it to ``twins``; a compilation error goes into the row and leaves ``twins`` as it was."""
    compiled = TwinTraining(model, torch, x_host, y_host, on_gpu, LEARNING_RATE, compile=True)
    reference = twins["torch"].gradients()
    try:
        result, elapsed = compiled.timer.measure(compiled.gradients)     # the compilation
    except Exception as error:     # inductor needs a C++ compiler on the CPU, Triton on the GPU
        row["torch_compile_error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        log(f"  torch.compile failed, no compiled column: {row['torch_compile_error']}")
        return
    ok, text = compiled_check(reference, result)
    row["torch_compile_check"], row["torch_compile_check_ok"] = text, ok
    row["torch_compile_first_step_ms"] = round(elapsed, 3)
    log(f"  compiled twin check {'passed' if ok else 'FAILED'}: {text}")
    twins["torch_compile"] = compiled


def _graph_step(row, preset, size, x, y, timer, log):
    """A second model with the same weights whose step runs as a CUDA graph (GraphStep): its
    eager warm-up steps, then the capture and first replay, timed as its first step, whose loss
    is checked against the same step run eagerly on a third model (``tinyunet_graph_check``);
    the step as a callable, or None with the reason in the row."""
    model = UNet(preset, input_shape=(size, size, 1), seed=0)
    try:
        step = GraphStep(model, DiceLoss(), Adam(LEARNING_RATE))
        for _ in range(step.warmup):
            step(x, y)
        value, elapsed = timer.measure(lambda: step(x, y))
    except (RuntimeError, TypeError, ValueError) as error:
        row["tinyunet_graph_error"] = str(error).splitlines()[0]
        log(f"  CUDA graph step failed, no graph column: {row['tinyunet_graph_error']}")
        return None
    row["tinyunet_graph_first_step_ms"] = round(elapsed, 3)
    row["tinyunet_graph_pool_bytes"] = int(step.pool.total_bytes())      # the graph's own arrays
    eager_model = UNet(preset, input_shape=(size, size, 1), seed=0)
    eager_loss, eager_optimizer = DiceLoss(), Adam(LEARNING_RATE)
    previous = kernels.set_own_gemm(True)
    try:
        for _ in range(step.warmup + 1):
            eager = train_step(eager_model, eager_loss, eager_optimizer, x, y)
    finally:
        kernels.set_own_gemm(previous)
    difference = abs(float(value) - float(eager)) / max(abs(float(eager)), 1e-12)
    row["tinyunet_graph_check_ok"] = bool(difference <= 1e-5)
    row["tinyunet_graph_check"] = f"step {step.warmup + 1}: loss {float(value):.6g}, eager {float(eager):.6g}"
    log(f"  CUDA graph check {'passed' if row['tinyunet_graph_check_ok'] else 'FAILED'}: "
        f"{row['tinyunet_graph_check']}")
    return lambda: step(x, y)
