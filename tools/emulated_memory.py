"""Predict the GPU memory in use at the peak of a training step, without a GPU.

    python tools/emulated_memory.py --batch 2 8 [--size 256] [--preset article]

On the emulated device (tools/emulated_gpu) the training step takes the GPU path:
the same layers, kernels and arrays as on CuPy, each array a NumPy buffer that
tracemalloc sees.  One step of a fresh model (the kernels built beforehand on
another) is traced; what was held before it (weights, images, masks) is added.
That is the figure the bench's ``tinyunet_live_peak_bytes`` measures on a GPU
(CuPy's memory pool: bytes handed out and not yet given back), less what CuPy
keeps outside its arrays (cuBLAS's workspace, the kernels' code) and the 512-byte
rounding of its blocks.  The step is slow here (minutes at 256 x 256): it runs
the CUDA kernels on the CPU.
"""

import argparse
import os
import pathlib
import sys
import time
import tracemalloc

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools" / "emulated_gpu"), str(ROOT)]
os.environ["TINYUNET_DEVICE"] = "gpu"

import cupy  # noqa: E402

from tinyunet import backend, losses, models, optimizers  # noqa: E402
from tinyunet.bench.step import LEARNING_RATE, make_batch, train_step  # noqa: E402

assert getattr(cupy, "EMULATED", False) and backend.xp is cupy, "tools/emulated_gpu must come first on the path"


def traced_step(preset, size, batch):
    """(bytes held before the step, peak bytes the step added, seconds): one Adam step of a fresh model."""
    model = models.UNet(preset, input_shape=(size, size, 1), seed=0)
    optimizer = optimizers.Adam(LEARNING_RATE)
    x, y = (backend.to_device(a) for a in make_batch(batch, size))
    held = sum(p.nbytes for p in model.params.values()) + x.nbytes + y.nbytes
    start = time.perf_counter()
    tracemalloc.start()
    try:
        train_step(model, losses.DiceLoss(), optimizer, x, y)
        added = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return held, added, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="article")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[2, 8])
    args = parser.parse_args(argv)
    print(f"{'batch':>5} {'held MiB':>9} {'step MiB':>9} {'in use MiB':>10} {'s':>6}")
    for batch in args.batch:
        traced_step(args.preset, args.size, batch)      # builds every kernel of these shapes
        held, added, seconds = traced_step(args.preset, args.size, batch)
        print(f"{batch:>5} {held / 2**20:>9.1f} {added / 2**20:>9.1f} {(held + added) / 2**20:>10.1f} {seconds:>6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
