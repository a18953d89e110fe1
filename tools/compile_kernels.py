"""Compile every CUDA kernel source of tinyunet.kernels with nvcc, without a GPU.

    python tools/compile_kernels.py [--keep DIR] [--resources]

Builds each kernel template for a few representative shapes (the article
preset's), writes the sources and runs ``nvcc -arch=sm_90 -c`` on each, so
that syntax and type errors show before any GPU time is spent.  With
``--resources`` it prints nvcc's register / spill report (-Xptxas -v).
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from tinyunet.kernels import (_cuda, direct_conv_cuda, gemm, normalization, optimizers, pooling,  # noqa: E402
                              tiled_conv_cuda, windows)

SOURCES = {}


def _record(source, name):
    SOURCES.setdefault(source, set()).add(name)
    return None


def build_all():
    _cuda.compiled = _record
    for dtype in (numpy.float32, numpy.float64):
        dt = numpy.dtype(dtype)
        # H, W, C, KH, KW, SH, SW, PT, PL, HO, WO: the first conv (5x5), a 3x3, a transposed 2x2
        for dims in ((256, 256, 1, 5, 5, 1, 1, 2, 2, 256, 256), (64, 64, 32, 3, 3, 1, 1, 1, 1, 64, 64),
                     (16, 16, 128, 2, 2, 2, 2, 0, 0, 8, 8), (9, 7, 3, 3, 2, 2, 3, 1, 0, 5, 2)):
            windows._conv_kernel(windows._IM2COL, "im2col", dt, dims)
            windows._conv_kernel(windows._COL2IM, "col2im", dt, dims)
        for dims in ((256, 256, 8, 2, 2, 2, 2, 128, 128), (7, 7, 3, 3, 3, 2, 2, 3, 3)):
            pooling._pool_kernel(pooling._FORWARD, "max_pool", dt, dims)
            pooling._pool_kernel(pooling._BACKWARD, "max_pool_backward", dt, dims)
        for m in (256 * 256 * 8, 16 * 16 * 128, 5):
            for mode in (0, 1):
                normalization._norm_kernels.__wrapped__(dt, m, mode)
        optimizers._adam_kernel.__wrapped__(dt)
        # H, W, C, F, KH, KW, PT, PL, HO, WO: up1_conv and its input gradient, up2_conv, down1_conv,
        # the 1x1 output, a 'valid' odd shape, F = 64
        for dims in ((256, 256, 16, 8, 3, 3, 1, 1, 256, 256), (256, 256, 8, 16, 3, 3, 1, 1, 256, 256),
                     (128, 128, 32, 16, 3, 3, 1, 1, 128, 128), (256, 256, 1, 8, 5, 5, 2, 2, 256, 256),
                     (256, 256, 8, 1, 1, 1, 0, 0, 256, 256), (9, 7, 3, 5, 3, 2, 0, 0, 7, 6),
                     (12, 12, 4, 64, 3, 3, 1, 1, 12, 12)):
            direct_conv_cuda._forward_kernel.__wrapped__(dt, dims)
            direct_conv_cuda._weight_grad_kernels.__wrapped__(dt, dims)
        for activation in ("linear", "relu", "sigmoid"):       # Conv2D's epilogue in the write
            direct_conv_cuda._forward_kernel.__wrapped__(dt, (256, 256, 16, 8, 3, 3, 1, 1, 256, 256), True, activation)
        # the own matrix product, each operand row-major or transposed, and its split sum
        for transpose_a in (False, True):
            for transpose_b in (False, True):
                gemm._kernel.__wrapped__(dt, transpose_a, transpose_b)
        gemm.sum_splits_kernel.__wrapped__(dt)
        # H, W, C, F, KW, PT, PL, HO, WO: down5_conv, up5_conv, a 'valid' odd shape
        for dims in ((16, 16, 64, 128, 3, 1, 1, 16, 16), (16, 16, 256, 128, 3, 1, 1, 16, 16),
                     (9, 7, 40, 70, 2, 0, 0, 7, 6)):
            tiled_conv_cuda._kernel.__wrapped__(tiled_conv_cuda._FORWARD, dt, dims)
            tiled_conv_cuda._kernel.__wrapped__(tiled_conv_cuda._WEIGHT_GRAD, dt, dims)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="write the sources here instead of a temporary folder")
    parser.add_argument("--resources", action="store_true", help="print nvcc's register report")
    args = parser.parse_args()
    build_all()
    folder = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="tinyunet_cuda_"))
    folder.mkdir(parents=True, exist_ok=True)
    failures = 0
    for number, (source, names) in enumerate(SOURCES.items()):
        path = folder / f"kernel_{number:02d}.cu"
        path.write_text(source)
        command = ["nvcc", "-arch=sm_90", "--std=c++17", "-c", str(path), "-o", str(path.with_suffix(".o"))]
        if args.resources:
            command[1:1] = ["-Xptxas", "-v"]
        result = subprocess.run(command, capture_output=True, text=True)
        status = "ok" if result.returncode == 0 else "FAILED"
        failures += result.returncode != 0
        print(f"{status:6s} {path.name}  {', '.join(sorted(names))}")
        if result.returncode != 0 or args.resources:
            print(result.stdout + result.stderr)
    print(f"{len(SOURCES) - failures} of {len(SOURCES)} sources compiled with nvcc -arch=sm_90")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
