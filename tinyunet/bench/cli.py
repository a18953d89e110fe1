"""The command line of the benchmark: ``python -m tinyunet.bench [options]``.

    python -m tinyunet.bench [--preset article] [--size 256] [--batch 8 32 128] [--steps 20]
                             [--warmup 3] [--no-torch] [--apart] [--torch-compile]
                             [--cuda-graph] [--no-layers] [--json PATH]

PyTorch is imported only when it is installed and ``--no-torch`` is not given; it then runs
with TF32 off and cuDNN's autotuner off, so both sides compute in plain float32.
``--torch-compile`` adds the twin under ``torch.compile`` (default mode) as a third column;
``--cuda-graph`` adds tinyunet's step captured as a CUDA graph (GPU only).
"""

import argparse
import json
import os

from .. import backend
from ..fileio import atomic_write
from .measure import bench_one


def format_row(row):
    """A few lines of text for one row."""
    ratio = row.get("ratio")
    live = row.get("tinyunet_live_peak_bytes")
    lines = [f"{row['preset']} {row['size']}x{row['size']} batch {row['batch']} on {row['device']} "
             f"({row['backend']}, fast kernels {'on' if row['fast_kernels'] else 'off'})",
             f"  tinyunet step {row['tinyunet_step_ms']:.2f} ms (first step {row['tinyunet_first_step_ms']:.1f} ms), "
             f"peak {row['tinyunet_peak_bytes'] / 2**20:.0f} MiB"
             + (f" (in use {live / 2**20:.0f} MiB)" if live else "")
             + f", predict {row['tinyunet_predict_images_per_s']:.0f} images/s"]
    if "torch_step_ms" in row:
        peak, reserved = row.get("torch_peak_bytes"), row.get("torch_reserved_peak_bytes")
        peak_text = f"{reserved / 2**20:.0f} MiB (in use {peak / 2**20:.0f} MiB)" if peak and reserved else \
            f"{peak / 2**20:.0f} MiB" if peak else "n/a on CPU"
        lines.append(f"  torch    step {row['torch_step_ms']:.2f} ms (first step {row['torch_first_step_ms']:.1f} ms), "
                     f"peak {peak_text}, predict {row['torch_predict_images_per_s']:.0f} images/s")
        lines.append(f"  ratio tinyunet / torch: {ratio:.2f}" if ratio is not None
                     else "  ratio refused: the twin check failed")
    if "torch_compile_step_ms" in row:
        peak = row.get("torch_compile_peak_bytes")
        peak_text = f"{peak / 2**20:.0f} MiB" if peak else "n/a on CPU"
        compiled_ratio = row.get("ratio_compile")
        lines.append(f"  torch.compile step {row['torch_compile_step_ms']:.2f} ms (compilation "
                     f"{row['torch_compile_first_step_ms'] / 1e3:.1f} s), peak {peak_text}")
        lines.append(f"  ratio tinyunet / torch.compile: {compiled_ratio:.2f}" if compiled_ratio is not None
                     else "  ratio refused: a twin check failed")
    elif "torch_compile_error" in row:
        lines.append(f"  torch.compile failed: {row['torch_compile_error']}")
    if "tinyunet_graph_step_ms" in row:
        ratios = ", ".join(f"/ {name} {row[key]:.2f}" for name, key in
                           (("torch", "ratio_graph"), ("torch.compile", "ratio_graph_compile"))
                           if row.get(key) is not None)
        if not row.get("tinyunet_graph_check_ok"):
            ratios = "refused: the graph check failed"
        pool = row.get("tinyunet_graph_pool_bytes")
        lines.append(f"  tinyunet CUDA graph step {row['tinyunet_graph_step_ms']:.2f} ms (capture and first "
                     f"replay {row['tinyunet_graph_first_step_ms']:.1f} ms"
                     + (f", the graph's pool {pool / 2**20:.0f} MiB" if pool else "") + ")"
                     + (f", ratio {ratios}" if ratios else ""))
    elif "tinyunet_graph_error" in row:
        lines.append(f"  CUDA graph step failed: {row['tinyunet_graph_error']}")
    if "layers" in row:
        slowest = sorted(row["layers"].items(), key=lambda kv: -sum(kv[1].values()))[:8]
        lines.append("  slowest layers (ms): " + ", ".join(
            f"{name} {'/'.join(f'{v:.2f}' for v in times.values())}" for name, times in slowest))
    return "\n".join(lines)


def argument_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tinyunet.bench",
        description="How long one training step and predict take, beside an identical PyTorch model.")
    parser.add_argument("--preset", default="article", choices=("article", "notebook"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch twin")
    parser.add_argument("--apart", action="store_true",
                        help="time tinyunet's steps, then PyTorch's, instead of interleaving them "
                             "(on a CPU each one's spinning threads slow the other)")
    parser.add_argument("--torch-compile", action="store_true",
                        help="also time the twin under torch.compile (default mode: forward, loss and "
                             "backward compiled, Adam eager); its compilation is reported apart")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="also time tinyunet's step captured as a CUDA graph and replayed (GPU only)")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer breakdown")
    parser.add_argument("--json", help="write the rows to this file")
    return parser


def _import_torch():
    """The torch module with TF32 and cuDNN's autotuner off, or None when it does not import."""
    try:
        import torch
    except ImportError:
        print("PyTorch does not import: timing tinyunet alone")
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    return torch


def main(argv=None):
    """Run the benchmark for each ``--batch``; returns the rows (also written to ``--json``)."""
    args = argument_parser().parse_args(argv)
    torch = None if args.no_torch else _import_torch()
    if os.environ.get("CUPY_TF32", "0") != "0":
        print("warning: CUPY_TF32 is set; CuPy's matmul runs in TF32")

    rows = []
    for batch in args.batch:
        row = bench_one(args.preset, args.size, batch, args.steps, args.warmup, torch,
                        not args.no_layers, print, apart=args.apart, torch_compile=args.torch_compile,
                        cuda_graph=args.cuda_graph)
        rows.append(row)
        print(format_row(row), flush=True)
        if backend.device == "gpu":
            backend.xp.get_default_memory_pool().free_all_blocks()
            if torch is not None:
                torch.cuda.empty_cache()
        if args.json:        # rewritten after each batch, whole: a stopped run keeps its rows
            text = json.dumps(rows, indent=1).encode()
            atomic_write(args.json, lambda handle: handle.write(text))
    return rows

