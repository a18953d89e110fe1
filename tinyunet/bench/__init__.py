"""Benchmark: how long one training step and ``predict`` take, beside an identical PyTorch model.

    python -m tinyunet.bench [--preset article] [--size 256] [--batch 8 32 128] [--steps 20]
                             [--warmup 3] [--no-torch] [--apart] [--torch-compile]
                             [--no-layers] [--json PATH]

    timing.py   Timer: the one timer of the bench and tools/ (CUDA events or perf_counter)
    step.py     make_batch, train_step, layer_breakdown, peak_bytes, memory_peaks
    twin.py     the PyTorch twin: torch_twin, torch_dice_loss, twin_check, TwinTraining,
                compiled_check
    measure.py  bench_one: one (preset, size, batch) measured, as one row
    cli.py      main and the printed rows

One training step is ``forward``, DiceLoss, ``backward``, ``Adam.step`` on random images on
the active backend (TINYUNET_DEVICE).  For each batch size the bench reports

- the first step's time (kernel compilation and memory-pool growth) apart from the rest;
- the median step time over ``--steps`` steps after ``--warmup`` steps (on the GPU each
  step is timed between two CUDA events, and the step's end is waited for);
- the peak memory of a step: on the GPU CuPy's memory pool (emptied first), which also
  holds the blocks cached for reuse (to compare with PyTorch's max_memory_reserved), and
  the peak of the bytes in use, counted by a CuPy memory hook (to compare with its
  max_memory_allocated); tracemalloc's peak on the CPU (NumPy reports its buffers to it);
- ``predict`` throughput (images per second);
- a per-layer forward / backward breakdown (each layer's call waited for, on a few
  extra steps that are not part of the median);
- when PyTorch imports (it is not a dependency) and ``--no-torch`` is not given: the
  same network in PyTorch (NCHW, the same weights copied over, TF32 off), timed in the
  same process with the steps interleaved (``--apart``: all of tinyunet's, then all of
  PyTorch's, so neither's spinning idle threads slow the other's steps), its peak memory
  (``torch.cuda.max_memory_allocated``; tracemalloc cannot see PyTorch's CPU buffers)
  and inference images per second.  Before any ratio is printed, both models start
  from the same weights and must give the same loss and gradients: in float64 on the
  CPU (relative error 1e-9), in float32 on the GPU (1e-3 on the loss, 1e-2 per
  gradient); otherwise the ratio is refused and the mismatch printed.
- with ``--torch-compile``: the twin's forward pass, DiceLoss and backward pass under
  ``torch.compile`` in its default mode (Adam stays eager), timed beside the other two.
  It must first give the eager twin's loss and gradients in float32 (1e-3, 1e-2); its
  compilation is its first step, reported apart.  Where compiling fails (inductor needs
  a C++ compiler on the CPU), the row says why and the bench goes on without it.

``--json PATH`` writes one row per batch size with the keys backend, device, preset,
batch, size, tinyunet_step_ms, tinyunet_first_step_ms, torch_step_ms, ratio,
tinyunet_peak_bytes, torch_peak_bytes (and on the GPU tinyunet_live_peak_bytes,
torch_reserved_peak_bytes), tinyunet_predict_images_per_s,
torch_predict_images_per_s, twin_check, layers ({name: {forward_ms, backward_ms}}); with
``--torch-compile`` also torch_compile_step_ms, torch_compile_first_step_ms,
torch_compile_peak_bytes, torch_compile_check, ratio_compile (or torch_compile_error).
The file is rewritten whole after each batch size.
"""

from .cli import format_row, main
from .measure import bench_one
from .step import LEARNING_RATE, layer_breakdown, make_batch, memory_peaks, peak_bytes, train_step
from .timing import Timer
from .twin import TwinTraining, compiled_check, torch_dice_loss, torch_twin, twin_check

__all__ = ["main", "format_row", "bench_one", "LEARNING_RATE", "layer_breakdown", "make_batch", "memory_peaks", "peak_bytes",
           "train_step", "Timer", "TwinTraining", "compiled_check", "torch_dice_loss", "torch_twin", "twin_check"]
