"""One row of the benchmark: a (preset, size, batch) timed for tinyunet and, if given, its twin.

The row holds the first step's time (kernel compilation and memory-pool growth) apart from
the median and minimum of ``steps`` steps after ``warmup``; the peak memory of a step (on the
GPU two pairs: CuPy's pool against PyTorch's reserved memory, the bytes in use against its
allocated memory);
``predict`` throughput; and, with the PyTorch twin, the same figures for it and the ratio
of the medians, which is None unless the twin check passed.  With ``torch_compile`` the row
has a third column, ``torch_compile_*``, and ``ratio_compile``.
"""

import statistics

from .. import backend, kernels
from ..losses import DiceLoss
from ..models import UNet
from ..optimizers import Adam
from .step import LEARNING_RATE, layer_breakdown, make_batch, memory_peaks, train_step
from .timing import Timer
from .twin import TwinTraining, compiled_check, twin_check


def _step_figures(name, times):
    """The median and the minimum of a list of step times (ms), keyed for the row."""
    return {f"{name}_step_ms": round(statistics.median(times), 3), f"{name}_step_ms_min": round(min(times), 3)}


def _images_per_s(batch, milliseconds):
    return round(batch / (milliseconds / 1e3), 1)


def bench_one(preset, size, batch, steps, warmup, torch, layers, log, apart=False, torch_compile=False):
    """Measure one (preset, size, batch); returns the JSON row.

    ``torch`` is the torch module or None (tinyunet alone); ``layers`` adds the per-layer
    breakdown; ``log`` prints the twin checks' outcomes.  ``apart`` times all of tinyunet's
    steps, then PyTorch's (after a warm-up of its own), instead of interleaving them: on a CPU
    each library's idle threads keep spinning for a while after its step, on the cores the
    other needs, so interleaved steps measure that as well.  ``torch_compile`` adds a third
    column, the twin's loss under ``torch.compile`` (default mode), checked against the eager
    twin first; its first step holds the compilation, and a compilation that fails is
    reported in the row (``torch_compile_error``) instead of stopping the bench.
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

    for _ in range(warmup):
        ours()
        for twin in twins.values():
            twin.step()
    ours_ms, theirs_ms = [], {name: [] for name in twins}
    row["timing"] = "apart" if apart else "interleaved"
    for _ in range(steps):            # interleaved, so drifting clocks hit all alike
        ours_ms.append(timer(ours))
        for name, twin in twins.items():
            if not apart:
                theirs_ms[name].append(twin.timer(twin.step))
    if apart:
        for name, twin in twins.items():
            for _ in range(warmup):
                twin.step()
            theirs_ms[name] = [twin.timer(twin.step) for _ in range(steps)]
    row.update(_step_figures("tinyunet", ours_ms))
    for name in twins:
        row.update(_step_figures(name, theirs_ms[name]))
    if "torch" in twins:
        row["ratio"] = round(row["tinyunet_step_ms"] / row["torch_step_ms"], 3) if row["twin_check_ok"] else None
    if "torch_compile" in twins:
        ok = row["twin_check_ok"] and row["torch_compile_check_ok"]
        row["ratio_compile"] = round(row["tinyunet_step_ms"] / row["torch_compile_step_ms"], 3) if ok else None

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
