"""Time tinyunet's own matrix product (kernels/gemm.py) against cuBLAS on a GPU, for the U-Net's products.

    python tools/time_gemm.py [--batch 32] [--dtype float32] [--reps 20]

A training step could be captured in a CUDA graph only with its products off cuBLAS (CuPy
refuses cuBLAS calls while capturing).  This prints, for the products of the article U-Net's
im2col layers at 256 x 256 input, what that would cost: median ms of ``a @ b`` (cuBLAS) and of
``gemm.matmul_cuda(a, b)`` (CUDA events around each call, 3 warm-up calls), their ratio, and
the relative difference of the two results.

    fwd     cols (pixels, k*k*C) @ K (k*k*C, F)
    wgrad   cols^T (k*k*C, pixels) @ dz (pixels, F), cols^T a transposed view
    tconv   the 2 x 2 stride-2 transposed convolution: y (pixels, C) @ K2^T (C, 4 F)

TF32 stays off (CUPY_TF32 unset), as in the bench.
"""

import argparse
import pathlib
import sys

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from tinyunet import backend  # noqa: E402
from tinyunet.bench import Timer  # noqa: E402
from tinyunet.kernels import gemm  # noqa: E402

# name, side, C, F, k: the article's convolutions that run as im2col + GEMM on the GPU
# (C > 32), and the largest transposed convolutions
LAYERS = [("down5_conv", 16, 64, 128, 3), ("up3_conv", 64, 64, 32, 3), ("up4_conv", 32, 128, 64, 3),
          ("up5_conv", 16, 256, 128, 3)]
TRANSPOSED = [("up1_transpose", 128, 16, 8), ("up2_transpose", 64, 32, 16), ("up5_transpose", 8, 128, 128)]


def products(batch):
    """[(label, (M, K), (K, N), transpose_a)] of the step's products at this batch size."""
    cases = []
    for name, side, c, f, k in LAYERS:
        pixels, depth = batch * side * side, k * k * c
        cases.append((f"{name} fwd", (pixels, depth), (depth, f), False))
        cases.append((f"{name} wgrad", (depth, pixels), (pixels, f), True))
    for name, side, c, f in TRANSPOSED:
        cases.append((f"{name} tconv", (batch * side * side, c), (c, 4 * f), False))
    return cases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args(argv)
    backend.set_device("gpu")
    cupy = backend.xp
    timer, rng = Timer("cupy"), numpy.random.default_rng(0)
    print(f"{'product':>22} {'M x K @ K x N':>24} {'cuBLAS ms':>10} {'own ms':>8} {'own/cuBLAS':>10} {'rel diff':>9}")
    for label, a_shape, b_shape, transpose_a in products(args.batch):
        if transpose_a:        # stored as (pixels, depth), used as its transpose
            a = cupy.asarray(rng.standard_normal(a_shape[::-1]).astype(args.dtype)).T
        else:
            a = cupy.asarray(rng.standard_normal(a_shape).astype(args.dtype))
        b = cupy.asarray(rng.standard_normal(b_shape).astype(args.dtype))
        theirs = timer.median(lambda: a @ b, args.reps, warmup=3)
        ours = timer.median(lambda: gemm.matmul_cuda(a, b), args.reps, warmup=3)
        want, got = (a @ b).astype("float64"), gemm.matmul_cuda(a, b).astype("float64")
        diff = float(abs(got - want).max() / max(float(abs(want).max()), 1e-300))
        shape = f"{a_shape[0]}x{a_shape[1]} @ {b_shape[0]}x{b_shape[1]}"
        print(f"{label:>22} {shape:>24} {theirs:10.3f} {ours:8.3f} {ours / theirs:10.2f} {diff:9.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
