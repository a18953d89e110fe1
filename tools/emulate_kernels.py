"""Run the CUDA twins on the CPU, on the emulated device (tools/emulated_gpu), against their xp twins.

    python tools/emulate_kernels.py

For machines without a GPU.  The stand-in CuPy of tools/emulated_gpu hands the
kernels' host code (tinyunet.kernels.*_cuda) NumPy arrays and compiles the very
source CuPy would get with g++, running each thread block on the CPU.  Each
CUDA twin's result is compared with its xp twin on random inputs, shapes chosen
to reach every branch of the kernels (several blocks, splits, short tails).  It
checks the indexing, the host glue and the arithmetic; it cannot check timing,
memory coalescing or races between blocks (blocks never run concurrently here).
The whole gpu test set on the same device: tools/emulated_gpu_tests.sh.
"""

import pathlib
import sys

import numpy

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools" / "emulated_gpu"), str(ROOT)]

import cupy  # noqa: E402  (the emulated device: tools/emulated_gpu/cupy)

from tinyunet import backend  # noqa: E402

assert getattr(cupy, "EMULATED", False), "tools/emulated_gpu must come first on the path"


def fake(a):
    """a on the emulated device."""
    return cupy.asarray(a)


def install():
    """Take the emulated CuPy as tinyunet's, whatever the backend found at import."""
    backend._cupy, backend._cupy_error = cupy, None


def check(name, got, want, rtol, atol=0.0):
    got, want = numpy.asarray(got), numpy.asarray(want)
    ok = got.shape == want.shape and numpy.allclose(got, want, rtol=rtol, atol=atol)
    error = float(numpy.max(numpy.abs(got.astype(float) - want.astype(float)))) if got.shape == want.shape else None
    print(f"{'ok    ' if ok else 'FAILED'} {name}  max abs diff {error}")
    return ok


def _check_conv_twins(rng, dtype, tol, name, cases, forward, weight_grads):
    """A direct convolution's CUDA twins on each case against direct_conv's xp forms: the
    forward, the adjoint through the forward (the flipped kernel), and each weight gradient
    of ``weight_grads`` ({label: function})."""
    from tinyunet.kernels import direct_conv
    from tinyunet.kernels.conv import flip_kernel
    from tinyunet.shapes import padding_amounts, transpose_pads

    results = []
    for shape, (kh, kw), f, padding in cases:
        pads = tuple(padding_amounts(n, k, 1, padding) for n, k in zip(shape[1:3], (kh, kw)))
        x = rng.standard_normal(shape).astype(dtype)
        kernel = rng.standard_normal((kh, kw, shape[3], f)).astype(dtype)
        label = f"{dtype} {shape} k{(kh, kw)} F{f} {padding}"
        y = direct_conv.conv2d_direct_xp(x, kernel, pads)
        results.append(check(f"{name} {label}", forward(fake(x), fake(kernel), pads), y, tol, tol * float(numpy.abs(y).max())))
        dz = rng.standard_normal(y.shape).astype(dtype)
        flipped, adjoint = flip_kernel(kernel), transpose_pads(pads, kh, kw)
        dx = direct_conv.conv2d_direct_xp(dz, flipped, adjoint)
        results.append(check(f"{name} adjoint {label}", forward(fake(dz), fake(flipped), adjoint),
                             dx, tol, tol * float(numpy.abs(dx).max())))
        dk = direct_conv.conv2d_weight_grad_direct_xp(x, dz, kernel.shape, pads)
        for variant, weight_grad in weight_grads.items():
            results.append(check(f"{name} weight grad {label}{variant}", weight_grad(fake(x), fake(dz), kernel.shape, pads),
                                 dk, tol, tol * float(numpy.abs(dk).max())))
    return results


def check_direct_conv(rng, dtype, tol):
    """The direct convolution (few channels): forward, adjoint through the forward, weight gradient."""
    from tinyunet.kernels import direct_conv_cuda

    cases = [((2, 6, 7, 16), (3, 3), 8, "same"), ((2, 9, 9, 1), (5, 5), 8, "same"),
             ((1, 5, 6, 8), (1, 1), 1, "same"), ((2, 6, 6, 32), (3, 3), 16, "same"),
             ((2, 7, 5, 3), (3, 2), 5, "valid"), ((1, 6, 5, 6), (2, 2), 12, "same"),
             ((2, 20, 20, 16), (3, 3), 8, "same"),    # several blocks of partial sums
             ((1, 12, 12, 4), (3, 3), 64, "same")]   # several dz stages per block
    return _check_conv_twins(rng, dtype, tol, "conv2d_direct", cases, direct_conv_cuda.conv2d_direct_cuda,
                             {"": direct_conv_cuda.conv2d_weight_grad_direct_cuda})


def check_direct_conv_epilogue(rng, dtype, tol):
    """The direct convolution with the bias and activation in its write (Conv2D's forward on the
    GPU) against the readable steps: conv2d_direct_xp, then bias_activation_xp."""
    from tinyunet.kernels import activation as activations
    from tinyunet.kernels import direct_conv, direct_conv_cuda
    from tinyunet.shapes import padding_amounts

    results = []
    for shape, (kh, kw), f in [((2, 6, 7, 16), (3, 3), 8), ((2, 9, 9, 1), (5, 5), 8), ((1, 5, 6, 8), (1, 1), 1)]:
        pads = tuple(padding_amounts(n, k, 1, "same") for n, k in zip(shape[1:3], (kh, kw)))
        x = rng.standard_normal(shape).astype(dtype)
        kernel = rng.standard_normal((kh, kw, shape[3], f)).astype(dtype)
        bias = rng.standard_normal(f).astype(dtype)
        for name in ("linear", "relu", "sigmoid"):
            for b in (bias, None):
                want = activations.bias_activation_xp(direct_conv.conv2d_direct_xp(x, kernel, pads), b, name)
                got = direct_conv_cuda.conv2d_direct_cuda(fake(x), fake(kernel), pads,
                                                          None if b is None else fake(b), name)
                results.append(check(f"conv2d_direct + bias {b is not None} + {name} {dtype} {shape} F{f}",
                                     got, want, tol, tol * max(1.0, float(numpy.abs(want).max()))))
    return results


def check_tiled_conv(rng, dtype, tol):
    """The tiled direct convolution (many channels); its weight gradient in one split of the
    pixels, then in splits of 16 pixels (the last one short)."""
    from tinyunet.kernels import gemm, tiled_conv_cuda

    def in_small_splits(*args):
        default, gemm.MIN_SPLIT_DEPTH = gemm.MIN_SPLIT_DEPTH, 16
        try:
            return tiled_conv_cuda.conv2d_weight_grad_tiled_cuda(*args)
        finally:
            gemm.MIN_SPLIT_DEPTH = default

    cases = [((2, 5, 6, 64), (3, 3), 32, "same"), ((1, 4, 4, 48), (3, 3), 70, "same"),
             ((2, 6, 5, 20), (2, 3), 9, "valid"), ((1, 3, 3, 128), (1, 1), 64, "same"),
             ((2, 8, 8, 32), (3, 3), 16, "same")]
    return _check_conv_twins(rng, dtype, tol, "conv2d_tiled", cases, tiled_conv_cuda.conv2d_tiled_cuda,
                             {" (one split)": tiled_conv_cuda.conv2d_weight_grad_tiled_cuda,
                              " (16-pixel splits)": in_small_splits})


def check_gemm(rng, dtype, tol):
    """The capturable matrix product, each operand row-major or a transposed (F-contiguous) view;
    then a long k in splits of 16 (the last one short), added by the second kernel."""
    from tinyunet.kernels import gemm

    results = []
    cases = [(130, 40, 70, None), (64, 16, 64, None), (1, 1, 1, None), (5, 3, 2, None), (200, 100, 9, None),
             (17, 300, 65, None), (9, 100, 7, 16), (70, 37, 3, 16), (1, 50, 1, 16)]
    for m, k, n, min_split in cases:
        for transpose_a in (False, True):
            for transpose_b in (False, True):
                a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
                b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
                a, b = (a.T if transpose_a else a), (b.T if transpose_b else b)
                want = gemm.matmul_xp(a, b)
                default = gemm.MIN_SPLIT_DEPTH
                gemm.MIN_SPLIT_DEPTH = min_split or default
                try:
                    got = gemm.matmul_cuda(fake(a), fake(b))
                    splits = gemm.splits_of(k)[0]
                finally:
                    gemm.MIN_SPLIT_DEPTH = default
                results.append(check(f"matmul {dtype} {m}x{k} @ {k}x{n} (A^T {transpose_a}, B^T {transpose_b}, "
                                     f"{splits} split(s))", got, want, tol, tol * float(numpy.abs(want).max()) * k))
    return results


def main():
    install()
    from tinyunet.kernels import normalization, optimizers, pooling, windows
    from tinyunet.shapes import conv_geometry

    rng = numpy.random.default_rng(0)
    results = []
    for dtype in ("float32", "float64"):
        tol = 1e-5 if dtype == "float32" else 1e-12
        for shape, k, s, padding in [((2, 9, 9, 1), (5, 5), (1, 1), "same"), ((2, 6, 6, 3), (3, 3), (1, 1), "same"),
                                     ((2, 4, 4, 5), (2, 2), (2, 2), "same"), ((2, 9, 7, 3), (3, 2), (2, 3), "valid"),
                                     ((1, 7, 10, 2), (4, 3), (2, 2), "same")]:
            out, pads = conv_geometry(shape[1:3], k, s, padding)
            x = rng.standard_normal(shape).astype(dtype)
            results.append(check(f"im2col {dtype} {shape} k{k} s{s} {padding}",
                                 windows.im2col_cuda(fake(x), k, s, pads, out), windows.im2col_xp(x, k, s, pads, out), 0))
            c = rng.standard_normal((shape[0], *out, *k, shape[3])).astype(dtype)
            results.append(check(f"col2im {dtype} {shape} k{k} s{s} {padding}",
                                 windows.col2im_cuda(fake(c), shape[1:3], s, pads),
                                 windows.col2im_xp(c, shape[1:3], s, pads), tol, tol))
        for shape, p, s in [((2, 8, 8, 3), (2, 2), (2, 2)), ((2, 7, 9, 3), (3, 3), (2, 2)), ((1, 9, 9, 2), (2, 3), (3, 2))]:
            for x in (rng.standard_normal(shape).astype(dtype), rng.integers(0, 3, size=shape).astype(dtype)):
                y, argmax = pooling.max_pool_cuda(fake(x), p, s)
                y2, argmax2 = pooling.max_pool_xp(x, p, s)
                results.append(check(f"max_pool {dtype} {shape} p{p} s{s}", y, y2, 0))
                results.append(check(f"max_pool argmax {dtype} {shape}", argmax.astype(int), argmax2, 0))
                dy = rng.standard_normal(y.shape).astype(dtype)
                results.append(check(f"max_pool_backward {dtype} {shape}",
                                     pooling.max_pool_backward_cuda(fake(dy), argmax, shape, p, s),
                                     pooling.max_pool_backward_xp(dy, argmax2, shape, p, s), tol))
        for shape, loc in [((2, 4, 4, 3), 0.0), ((3, 40, 40, 4), 1000.0), ((1, 1, 1, 5), 2.0)]:
            x = (loc + rng.standard_normal(shape)).astype(dtype)
            xhat, sigma, d = normalization.layer_norm_cuda(fake(x), 1e-7)
            ref = normalization.layer_norm_xp(x.astype("float64"), 1e-7)
            ntol = 2e-4 if dtype == "float32" else 1e-10
            results.append(check(f"layer_norm {dtype} {shape} mean {loc}", xhat, ref[0], ntol, ntol))
            results.append(check(f"layer_norm sigma {dtype} {shape}", sigma, ref[1], ntol))
            g = rng.standard_normal(shape).astype(dtype)
            dx = normalization.layer_norm_backward_cuda(fake(g), xhat, sigma, d)
            want = normalization.layer_norm_backward_xp(g.astype("float64"), *ref)
            results.append(check(f"layer_norm_backward {dtype} {shape}", dx, want, ntol * 10,
                                 ntol * 10 * float(numpy.abs(want).max())))
        xc = numpy.full((2, 3, 3, 2), 7.0, dtype)
        xhat, sigma, d = normalization.layer_norm_cuda(fake(xc), 1e-7)
        results.append(check(f"layer_norm constant sample {dtype}", xhat, numpy.zeros_like(xc), 0))
        shapes = [(3, 3, 2, 4), (4,), (1,), (2, 2, 4, 3)]
        state = {}
        for which in ("cuda", "xp"):
            r = numpy.random.default_rng(5)
            params = [r.standard_normal(sh).astype(dtype) for sh in shapes]
            ms, vs = [numpy.zeros(sh, dtype) for sh in shapes], [numpy.zeros(sh, dtype) for sh in shapes]
            if which == "cuda":
                params, ms, vs = [fake(a) for a in params], [fake(a) for a in ms], [fake(a) for a in vs]
            for step in (1, 2, 3):
                grads = [r.standard_normal(sh).astype(dtype) for sh in shapes]
                if which == "cuda":
                    optimizers.adam_update_all_cuda(params, [fake(g) for g in grads], ms, vs, step, 1e-3, 0.9, 0.999, 1e-7)
                else:
                    optimizers.adam_update_all_xp(params, grads, ms, vs, step, 1e-3, 0.9, 0.999, 1e-7)
            state[which] = params + ms + vs
        for i, (a, b) in enumerate(zip(state["cuda"], state["xp"])):
            results.append(check(f"adam {dtype} tensor {i}", a, b, tol, 1e-7))
        results += check_direct_conv(rng, dtype, tol)
        results += check_direct_conv_epilogue(rng, dtype, tol)
        results += check_gemm(rng, dtype, tol)
        results += check_tiled_conv(rng, dtype, tol)
    print(f"{sum(results)} of {len(results)} emulated CUDA results match their xp twins")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
