"""One row of the benchmark: a (preset, size, batch) timed for tinyunet and, if given, its twin.

The row holds the first step's time (kernel compilation and memory-pool growth) apart from
the median and minimum of ``steps`` steps after ``warmup``; the peak memory of a step;
``predict`` throughput; and, with the PyTorch twin, the same figures for it and the ratio
of the medians, which is None unless the twin check passed.
"""

import statistics

from .. import backend, kernels
from ..losses import DiceLoss
from ..models import UNet
from ..optimizers import Adam
from .step import LEARNING_RATE, layer_breakdown, make_batch, peak_bytes, train_step
from .timing import Timer
from .twin import TwinTraining, twin_check


def _step_figures(name, times):
    """The median and the minimum of a list of step times (ms), keyed for the row."""
    return {f"{name}_step_ms": round(statistics.median(times), 3), f"{name}_step_ms_min": round(min(times), 3)}


def _images_per_s(batch, milliseconds):
    return round(batch / (milliseconds / 1e3), 1)


def bench_one(preset, size, batch, steps, warmup, torch, layers, log, apart=False):
    """Measure one (preset, size, batch); returns the JSON row.

    ``torch`` is the torch module or None (tinyunet alone); ``layers`` adds the per-layer
    breakdown; ``log`` prints the twin check's outcome.  ``apart`` times all of tinyunet's
    steps, then PyTorch's (after a warm-up of its own), instead of interleaving them: on a CPU
    each library's idle threads keep spinning for a while after its step, on the cores the
    other needs, so interleaved steps measure that as well.
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
    row["tinyunet_peak_bytes"] = peak_bytes(ours)

    twin = None
    if torch is not None:
        # the GPU checks the timed shapes in float32; the CPU a smaller float64 copy of the problem
        check_size, check_batch = (size, batch) if on_gpu else (min(size, 64), min(batch, 2))
        ok, text = twin_check(preset, check_size, check_batch, torch, "cuda" if on_gpu else "cpu", on_gpu)
        row["twin_check"], row["twin_check_ok"] = text, bool(ok)
        log(f"  twin check {'passed' if ok else 'FAILED'}: {text}")
        twin = TwinTraining(model, torch, x_host, y_host, on_gpu, LEARNING_RATE)
        row["torch_first_step_ms"] = round(twin.timer(twin.step), 3)
        row["torch_peak_bytes"] = twin.peak_bytes()

    for _ in range(warmup):
        ours()
        if twin is not None:
            twin.step()
    ours_ms, theirs_ms = [], []
    row["timing"] = "apart" if apart else "interleaved"
    for _ in range(steps):            # interleaved, so drifting clocks hit both alike
        ours_ms.append(timer(ours))
        if twin is not None and not apart:
            theirs_ms.append(twin.timer(twin.step))
    if twin is not None and apart:
        for _ in range(warmup):
            twin.step()
        theirs_ms = [twin.timer(twin.step) for _ in range(steps)]
    row.update(_step_figures("tinyunet", ours_ms))
    if twin is not None:
        row.update(_step_figures("torch", theirs_ms))
        row["ratio"] = round(row["tinyunet_step_ms"] / row["torch_step_ms"], 3) if row["twin_check_ok"] else None

    predict_runs = max(3, min(steps, 10))
    predict_ms = timer.median(lambda: model.predict(x, batch_size=batch), predict_runs, warmup=1)
    row["tinyunet_predict_images_per_s"] = _images_per_s(batch, predict_ms)
    if twin is not None:
        row["torch_predict_images_per_s"] = _images_per_s(batch, twin.predict_ms(predict_runs))
        row["torch_threads"] = torch.get_num_threads()
    if layers:
        row["layers"] = layer_breakdown(model, loss, optimizer, x, y)
    return row
