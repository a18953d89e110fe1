"""Time the direct convolution against im2col + GEMM on a GPU, for the U-Net's layers.

    python tools/time_direct_conv.py [--batch 32] [--size 256] [--dtype float32] [--reps 20]

For each layer shape it times both paths (tinyunet.bench.Timer: CUDA events around each
call, 3 warm-up calls, median of --reps), checks that they give the same forward, weight
gradient and input gradient (the largest relative error is the last column), and prints a
table in milliseconds:

    fwd   im2col + GEMM: kernels.im2col (CUDA) then cols @ K, as Conv2D.forward did up to now
          direct:        kernels.direct_conv_cuda.conv2d_direct_cuda
    wgrad GEMM:          cols.T @ dz, with cols kept from the forward (as Conv2D does)
          direct:        conv2d_weight_grad_direct_cuda from x and dz (no cols needed)
    dgrad GEMM + col2im: col2im(dz @ K^T)
          direct:        conv2d_direct_cuda(dz, flip_kernel(K), transpose_pads(pads))

For the layers with many channels (C > 32, where the one-thread-per-pixel kernel stops) the
"dir" columns are the tiled twins instead (tiled_conv_cuda.py: conv2d_tiled_cuda and
conv2d_weight_grad_tiled_cuda), which the layers take only with TINYUNET_TILED_CONV=1.

The baseline is written out here rather than taken from tinyunet.layers.conv, so that it stays
im2col + GEMM whatever the layer dispatches to.  TF32 stays off (CUPY_TF32 unset), as in bench.
"""

import argparse
import pathlib
import sys

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from tinyunet import backend  # noqa: E402
from tinyunet.bench import Timer  # noqa: E402
from tinyunet.kernels import direct_conv_cuda, dispatch, tiled_conv_cuda, windows  # noqa: E402
from tinyunet.kernels.conv import flip_kernel  # noqa: E402
from tinyunet.shapes import padding_amounts, transpose_pads  # noqa: E402

# name, H, W, C, F, k: the article U-Net's layers where im2col costs most, at 256 x 256 input
LAYERS = [("up1_conv", 256, 256, 16, 8, 3), ("up2_conv", 128, 128, 32, 16, 3), ("down1_conv", 256, 256, 1, 8, 5),
          ("up3_conv", 64, 64, 64, 32, 3), ("output", 256, 256, 8, 1, 1),
          ("down5_conv", 16, 16, 64, 128, 3), ("up4_conv", 32, 32, 128, 64, 3), ("up5_conv", 16, 16, 256, 128, 3)]


def relative_error(a, b):
    a, b = a.astype("float64"), b.astype("float64")
    return float(abs(a - b).max() / max(float(abs(b).max()), 1e-300))


def time_layer(cupy, name, h, w, c, f, k, batch, dtype, reps):
    timer = Timer("cupy")

    def median_ms(fn):
        return timer.median(fn, reps, warmup=3)

    rng = numpy.random.default_rng(0)
    pads = (padding_amounts(h, k, 1, "same"), padding_amounts(w, k, 1, "same"))
    x = cupy.asarray(rng.standard_normal((batch, h, w, c)).astype(dtype))
    kernel = cupy.asarray((rng.standard_normal((k, k, c, f)) / (k * k * c) ** 0.5).astype(dtype))
    dz = cupy.asarray(rng.standard_normal((batch, h, w, f)).astype(dtype))
    pixels, depth = batch * h * w, k * k * c

    def gemm_forward():
        cols = windows.im2col_cuda(x, (k, k), (1, 1), pads, (h, w)).reshape(pixels, depth)
        return cols @ kernel.reshape(depth, f), cols

    y_gemm, cols = gemm_forward()
    dz2 = dz.reshape(pixels, f)
    wgrad_gemm = lambda: cols.T @ dz2  # noqa: E731
    kernel_t = kernel.reshape(depth, f).T
    dgrad_gemm = lambda: windows.col2im_cuda((dz2 @ kernel_t).reshape(batch, h, w, k, k, c),  # noqa: E731
                                          (h, w), (1, 1), pads)
    row = {"layer": name, "shape": f"{h}x{w} {c}->{f} {k}x{k}", "cols_MB": cols.nbytes / 2 ** 20,
           "chosen": dispatch.direct_conv_supported(c, f, k, k, dtype),
           "fwd_gemm": median_ms(gemm_forward), "wgrad_gemm": median_ms(wgrad_gemm),
           "dgrad_gemm": median_ms(dgrad_gemm)}
    dk_gemm, dx_gemm = wgrad_gemm().reshape(kernel.shape), dgrad_gemm()
    flipped, adjoint = flip_kernel(kernel), transpose_pads(pads, k, k)
    if dispatch.direct_conv_fits_cuda(c, f, k, k, dtype):
        forward = lambda: direct_conv_cuda.conv2d_direct_cuda(x, kernel, pads)  # noqa: E731
        wgrad = lambda: direct_conv_cuda.conv2d_weight_grad_direct_cuda(x, dz, kernel.shape, pads)  # noqa: E731
        row["fwd_direct"] = median_ms(forward)
        row["wgrad_direct"] = median_ms(wgrad)
        row["max_rel_err"] = max(relative_error(forward().reshape(pixels, f), y_gemm),
                                 relative_error(wgrad(), dk_gemm))
    flipped = cupy.ascontiguousarray(flipped)
    if dispatch.direct_conv_fits_cuda(f, c, k, k, dtype):
        dgrad = lambda: direct_conv_cuda.conv2d_direct_cuda(dz, flipped, adjoint)  # noqa: E731
        row["dgrad_direct"] = median_ms(dgrad)
        row["max_rel_err"] = max(row.get("max_rel_err", 0.0), relative_error(dgrad(), dx_gemm))
    if not dispatch.direct_conv_supported(c, f, k, k, dtype):     # many channels: the tiled twins
        forward = lambda: tiled_conv_cuda.conv2d_tiled_cuda(x, kernel, pads)  # noqa: E731
        wgrad = lambda: tiled_conv_cuda.conv2d_weight_grad_tiled_cuda(x, dz, kernel.shape, pads)  # noqa: E731
        dgrad = lambda: tiled_conv_cuda.conv2d_tiled_cuda(dz, flipped, adjoint)  # noqa: E731
        row["fwd_tiled"], row["wgrad_tiled"], row["dgrad_tiled"] = median_ms(forward), median_ms(wgrad), median_ms(dgrad)
        row["max_rel_err"] = max(row.get("max_rel_err", 0.0), relative_error(forward().reshape(pixels, f), y_gemm),
                                 relative_error(wgrad(), dk_gemm), relative_error(dgrad(), dx_gemm))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=256, help="input image size; the layers' sizes scale with it")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    if not backend.gpu_available():
        print("no CUDA device answers: nothing to time")
        return 1
    with backend.use("gpu") as cupy:
        device = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
        print(f"{device}, batch {args.batch}, {args.dtype}, median of {args.reps} (ms); "
              f"'direct?' = direct_conv_supported (what the layer would pick)")
        header = ("layer", "shape", "direct?", "fwd gemm", "fwd dir", "wgrad gemm", "wgrad dir",
                  "dgrad gemm", "dgrad dir", "cols MB", "max rel err")
        print(("{:<11} {:<20} {:>7}" + " {:>10}" * 8).format(*header))
        for name, h, w, c, f, k in LAYERS:
            h, w = h * args.size // 256, w * args.size // 256
            r = time_layer(cupy, name, h, w, c, f, k, args.batch, args.dtype, args.reps)
            direct = lambda key: r.get(key, r.get(key.replace("direct", "tiled")))  # noqa: E731
            cells = [f"{direct(key):.3f}" if direct(key) is not None else "n/a" for key in
                     ("fwd_gemm", "fwd_direct", "wgrad_gemm", "wgrad_direct", "dgrad_gemm", "dgrad_direct")]
            err = f"{r['max_rel_err']:.1e}" if "max_rel_err" in r else "n/a"
            print(("{:<11} {:<20} {:>7}" + " {:>10}" * 8).format(
                r["layer"], r["shape"], "yes" if r["chosen"] else "no", *cells, f"{r['cols_MB']:.0f}", err))
            cupy.get_default_memory_pool().free_all_blocks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
