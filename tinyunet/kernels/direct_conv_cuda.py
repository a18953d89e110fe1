"""The direct convolution's CUDA twins (stride 1, NHWC): direct_conv.py has the maths.

    conv2d_direct_cuda              = direct_conv.conv2d_direct_xp, one kernel
    conv2d_weight_grad_direct_cuda  = direct_conv.conv2d_weight_grad_direct_xp, two kernels

Shapes and pads are compiled in.  The resource limits below (shared memory,
accumulators and threads per block) decide which shapes the twins take:
dispatch.direct_conv_fits_cuda reads them.
"""

import functools

import numpy

from .. import backend
from ..shapes import direct_geometry
from . import _cuda
from ._cuda import ACTIVATION_CODE, ctype, launch

SHARED_BYTES = 48 * 1024   # the static shared memory one block may declare
MAX_FILTERS = 64           # accumulators per thread in the forward kernel
MAX_OWNERS = 1024          # threads per block in the weight-gradient kernel
VECTOR_BYTES = 16          # the widest load: float4 / double2


# --- CUDA twins: shapes and pads compiled in -------------------------------------------------
#
# Forward: one thread per output pixel holds its F sums in registers; the whole kernel sits in
# shared memory, read by all threads of a warp at the same address at the same time (a
# broadcast, no bank conflicts), four (float) or two (double) weights per load when F allows.
# Each thread reads its pixel's C channels per tap with 16-byte loads; neighbouring threads
# read neighbouring pixels, so a warp's loads cover consecutive 32-byte sectors, and the kh*kw
# re-reads of a pixel by its neighbours hit L1.  Registers: F accumulators + one vector of x
# + addresses, so F <= 64 keeps a float thread under ~90 registers (3 blocks of 256 per SM
# at worst, 8 for F = 8); shared memory is kh*kw*C*F values, at most 48 KB (the static
# limit), 4.6 KB for the U-Net's 16 -> 8 layer, so it never limits occupancy there.

_FORWARD = r"""
typedef %(T)s T;
#define H %(H)d
#define W %(W)d
#define C %(C)d
#define F %(F)d
#define KH %(KH)d
#define KW %(KW)d
#define PT %(PT)d
#define PL %(PL)d
#define HO %(HO)d
#define WO %(WO)d
#define VX %(VX)d   // channels of x per load (VX divides C)
#define VF %(VF)d   // filters per shared load / store of y (VF divides F)
#define WITH_BIAS %(BIAS)d
template <int K> struct alignas(sizeof(T) * K) Vec { T v[K]; };

// y = act(x * K + bias): the bias and the activation are applied as each sum is written
extern "C" __global__ void conv_direct(const T* __restrict__ x, const T* __restrict__ kernel,
                                       const T* __restrict__ bias, T* __restrict__ y, int pixels) {
    alignas(16) __shared__ T ks[KH * KW * C * F];
    for (int k = threadIdx.x; k < KH * KW * C * F; k += blockDim.x) ks[k] = kernel[k];
    __syncthreads();
    int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= pixels) return;
    // p runs over y's pixels (N, HO, WO) in row-major order; this thread writes y[n, oh, ow, 0:F]
    int ow = p %% WO;
    int t = p / WO;
    int oh = t %% HO;
    int n = t / HO;
    T acc[F];
    #pragma unroll
    for (int f = 0; f < F; ++f) acc[f] = 0;
    for (int i = 0; i < KH; ++i) {
        int h = oh + i - PT;
        if (h < 0 || h >= H) continue;          // a zero row of the padding
        for (int j = 0; j < KW; ++j) {
            int w = ow + j - PL;
            if (w < 0 || w >= W) continue;
            const T* row = x + ((long long)(n * H + h) * W + w) * C;
            const T* kij = ks + (i * KW + j) * C * F;
            #pragma unroll
            for (int c = 0; c < C; c += VX) {
                Vec<VX> v = *reinterpret_cast<const Vec<VX>*>(row + c);
                #pragma unroll
                for (int cc = 0; cc < VX; ++cc) {
                    #pragma unroll
                    for (int f = 0; f < F; f += VF) {
                        Vec<VF> k = *reinterpret_cast<const Vec<VF>*>(kij + (c + cc) * F + f);
                        #pragma unroll
                        for (int ff = 0; ff < VF; ++ff) acc[f + ff] += v.v[cc] * k.v[ff];
                    }
                }
            }
        }
    }
    T* out = y + (long long)p * F;
    #pragma unroll
    for (int f = 0; f < F; f += VF) {
        Vec<VF> vec;
        #pragma unroll
        for (int ff = 0; ff < VF; ++ff) {
            T v = acc[f + ff];
#if WITH_BIAS
            v += bias[f + ff];
#endif
            T z;
            %(ACTIVATION)s
            vec.v[ff] = z;
        }
        *reinterpret_cast<Vec<VF>*>(out + f) = vec;
    }
}
"""

# Weight gradient, in two deterministic stages (no atomics).
# 1. Block b takes the pixels [b * tile, (b + 1) * tile) of dz's (N, HO, WO).  Each of its
#    OWNERS = kh*kw*C/CG owner threads keeps dK[i, j, c0:c0 + CG, 0:F] in registers (CG * F
#    <= 64 floats); LANES threads per owner take every LANES-th pixel.  The block stages a run
#    of dz rows in shared memory (one contiguous, coalesced copy; then read as broadcasts), each
#    thread reads CG channels of x per pixel with one vector load, and at the end the lanes add
#    their sums in a fixed order and the block writes its partial dK: partial[b, :].
# 2. One thread per weight adds the partials of all blocks in a fixed order (8 threads per
#    weight, each a strided share of the rows, then a shared-memory sum in order).

_WEIGHT_GRAD = r"""
typedef %(T)s T;
#define H %(H)d
#define W %(W)d
#define C %(C)d
#define F %(F)d
#define KH %(KH)d
#define KW %(KW)d
#define PT %(PT)d
#define PL %(PL)d
#define HO %(HO)d
#define WO %(WO)d
#define CG %(CG)d          // channels per owner thread (CG divides C)
#define VF %(VF)d          // filters per shared load of dz (VF divides F)
#define LANES %(LANES)d    // threads per owner
#define ROWS %(ROWS)d      // rows of dz staged in shared memory at a time
#define BUF %(BUF)d        // max(ROWS * F, KK)
#define OWNERS (KH * KW * (C / CG))
#define KK (KH * KW * C * F)
template <int K> struct alignas(sizeof(T) * K) Vec { T v[K]; };

extern "C" __global__ void weight_grad_partial(const T* __restrict__ x, const T* __restrict__ dz,
                                               T* __restrict__ partial, int pixels, int tile) {
    alignas(16) __shared__ T buf[BUF];
    // thread t: owner o = t %% OWNERS, lane = t / OWNERS (threads past OWNERS * LANES only copy);
    // o = (i * KW + j) * (C / CG) + c0 / CG: this thread sums dK[i, j, c0:c0 + CG, 0:F]
    int o = threadIdx.x %% OWNERS, lane = threadIdx.x / OWNERS;
    bool active = lane < LANES;
    int tap = o / (C / CG), c0 = (o %% (C / CG)) * CG;
    int i = tap / KW, j = tap %% KW;
    T acc[CG][F];
    #pragma unroll
    for (int cc = 0; cc < CG; ++cc)
        #pragma unroll
        for (int f = 0; f < F; ++f) acc[cc][f] = 0;
    int start = blockIdx.x * tile;
    int end = pixels - start < tile ? pixels : start + tile;
    for (int base = start; base < end; base += ROWS) {
        int rows = end - base < ROWS ? end - base : ROWS;
        const T* src = dz + (long long)base * F;      // dz[base:base + rows, :], contiguous
        for (int k = threadIdx.x; k < rows * F; k += blockDim.x) buf[k] = src[k];
        __syncthreads();
        for (int r = lane; active && r < rows; r += LANES) {
            // pixel p = (n * HO + oh) * WO + ow reads xpad[n, oh + i, ow + j, c0:c0 + CG]
            int p = base + r;
            int ow = p %% WO, t = p / WO;
            int oh = t %% HO, n = t / HO;
            int h = oh + i - PT, w = ow + j - PL;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            Vec<CG> v = *reinterpret_cast<const Vec<CG>*>(x + ((long long)(n * H + h) * W + w) * C + c0);
            const T* g = buf + r * F;
            #pragma unroll
            for (int f = 0; f < F; f += VF) {
                Vec<VF> d = *reinterpret_cast<const Vec<VF>*>(g + f);
                #pragma unroll
                for (int cc = 0; cc < CG; ++cc)
                    #pragma unroll
                    for (int ff = 0; ff < VF; ++ff) acc[cc][f + ff] += v.v[cc] * d.v[ff];
            }
        }
        __syncthreads();
    }
    // lanes 0, 1, ..., LANES - 1 add their sums into buf in turn: a fixed order, deterministic
    for (int l = 0; l < LANES; ++l) {
        if (active && lane == l) {
            #pragma unroll
            for (int cc = 0; cc < CG; ++cc)
                #pragma unroll
                for (int f = 0; f < F; ++f) {
                    int k = (tap * C + c0 + cc) * F + f;
                    buf[k] = (l == 0 ? (T)0 : buf[k]) + acc[cc][f];
                }
        }
        __syncthreads();
    }
    for (int k = threadIdx.x; k < KK; k += blockDim.x) partial[(long long)blockIdx.x * KK + k] = buf[k];
}

// grid ceil(KK / 32), 256 threads: thread t sums rows g, g + 8, ... (g = t / 32) of column
// k = blockIdx.x * 32 + t %% 32 of partial (rows, KK); then the 8 shares are added in order
extern "C" __global__ void sum_partials(const T* __restrict__ partial, T* __restrict__ dk, int rows) {
    __shared__ T share[8][32];
    int lane = threadIdx.x %% 32, g = threadIdx.x / 32;
    int k = blockIdx.x * 32 + lane;
    T acc = 0;
    if (k < KK)
        for (int r = g; r < rows; r += 8) acc += partial[(long long)r * KK + k];
    share[g][lane] = acc;
    __syncthreads();
    if (g == 0 && k < KK) {
        T total = 0;
        for (int q = 0; q < 8; ++q) total += share[q][lane];
        dk[k] = total;
    }
}
"""

_WGRAD_BLOCKS = 1024       # partial sums at most: about one resident wave of blocks on an H100
_WGRAD_MIN_TILE = 256      # pixels per block at least
_DZ_STAGE_BYTES = 8 * 1024


def _vector(n, itemsize, limit=None):
    """The widest vector (elements) of at most 16 bytes that divides n (and is <= limit)."""
    width = VECTOR_BYTES // itemsize
    while n % width or (limit is not None and width > limit):
        width //= 2
    return width


def channels_per_owner(c, f, itemsize):
    """CG of the weight-gradient kernel: CG * F accumulators, at most 64 registers' worth."""
    return _vector(c, itemsize, max(1, (256 // itemsize) // f))


def _aligned(cupy, a):
    """a as a C-contiguous array whose data starts on a 16-byte boundary (the vector loads')."""
    a = cupy.ascontiguousarray(a)
    if a.data.ptr % VECTOR_BYTES:
        a = a.copy()
    return a


@functools.lru_cache(maxsize=None)
def _forward_kernel(dtype, dims, with_bias=False, activation="linear"):
    h, w, c, f, kh, kw, pt, pl, ho, wo = dims
    itemsize = numpy.dtype(dtype).itemsize
    source = _FORWARD % dict(T=ctype(dtype), H=h, W=w, C=c, F=f, KH=kh, KW=kw, PT=pt, PL=pl, HO=ho, WO=wo,
                             VX=_vector(c, itemsize), VF=_vector(f, itemsize), BIAS=int(with_bias),
                             ACTIVATION=ACTIVATION_CODE[activation])
    return _cuda.compiled(source, "conv_direct")


@functools.lru_cache(maxsize=None)
def _weight_grad_kernels(dtype, dims):
    """(partial kernel, sum kernel, threads per block of the first)."""
    h, w, c, f, kh, kw, pt, pl, ho, wo = dims
    itemsize = numpy.dtype(dtype).itemsize
    cg = channels_per_owner(c, f, itemsize)
    owners = kh * kw * c // cg
    lanes = max(1, 256 // owners)
    threads = -(-owners * lanes // 32) * 32
    rows = max(_DZ_STAGE_BYTES, kh * kw * c * f * itemsize) // (f * itemsize)
    source = _WEIGHT_GRAD % dict(T=ctype(dtype), H=h, W=w, C=c, F=f, KH=kh, KW=kw, PT=pt, PL=pl, HO=ho, WO=wo,
                                 CG=cg, VF=_vector(f, itemsize), LANES=lanes, ROWS=rows,
                                 BUF=max(rows * f, kh * kw * c * f))
    return _cuda.compiled(source, "weight_grad_partial"), _cuda.compiled(source, "sum_partials"), threads


def conv2d_direct_cuda(x, kernel, pads, bias=None, activation="linear"):
    """conv2d_direct_xp as one CUDA kernel: a thread per output pixel, the kernel in shared memory;
    with a bias (F,) and an element-wise activation (not softmax), act(y + bias) in the same write."""
    cupy = backend.get_array_module(x)
    kh, kw, c, f = kernel.shape
    n, h, w, _ = x.shape
    (ho, wo), pads = direct_geometry(x.shape, kernel.shape, pads, "conv2d_direct")
    x, kernel = _aligned(cupy, x), cupy.ascontiguousarray(kernel, dtype=x.dtype)
    if bias is not None:
        if tuple(bias.shape) != (f,):
            raise ValueError(f"conv2d_direct_cuda: the bias must have shape ({f},), not {tuple(bias.shape)}")
        bias = cupy.ascontiguousarray(bias, dtype=x.dtype)
    y = cupy.empty((n, ho, wo, f), dtype=x.dtype)
    dims = (h, w, c, f, kh, kw, pads[0][0], pads[1][0], ho, wo)
    pixels = n * ho * wo
    function = _forward_kernel(x.dtype, dims, bias is not None, activation)
    # without a bias the kernel never reads that argument: the kernel array stands in for it
    launch(function, pixels, (x, kernel, kernel if bias is None else bias, y, numpy.int32(pixels)))
    return y


def conv2d_weight_grad_direct_cuda(x, dz, kernel_shape, pads):
    """conv2d_weight_grad_direct_xp in two kernels: per-block partial sums, then their sum."""
    cupy = backend.get_array_module(x)
    kh, kw, c, f = kernel_shape
    n, h, w, _ = x.shape
    (ho, wo), pads = direct_geometry(x.shape, kernel_shape, pads, "conv2d_weight_grad_direct", dz.shape)
    x, dz = _aligned(cupy, x), cupy.ascontiguousarray(dz, dtype=x.dtype)
    dk = cupy.empty(tuple(kernel_shape), dtype=x.dtype)
    pixels = n * ho * wo
    dims = (h, w, c, f, kh, kw, pads[0][0], pads[1][0], ho, wo)
    if pixels == 0:
        dk[...] = 0
    else:
        partial_kernel, sum_kernel, threads = _weight_grad_kernels(x.dtype, dims)
        blocks = max(1, min(_WGRAD_BLOCKS, -(-pixels // _WGRAD_MIN_TILE)))
        tile = -(-pixels // blocks)
        blocks = -(-pixels // tile)
        partial = cupy.empty((blocks, kh * kw * c * f), dtype=x.dtype)
        partial_kernel((blocks,), (threads,), (x, dz, partial, numpy.int32(pixels), numpy.int32(tile)))
        sum_kernel((-(-dk.size // 32),), (256,), (partial, dk, numpy.int32(blocks)))
    return dk
