"""The matrix product as tinyunet's own CUDA kernel: what a step captured in a CUDA graph uses.

    matmul_xp(a, b)     a @ b                                   the reference (NumPy or CuPy)
    matmul_cuda(a, b)   the same product by hand-written CUDA kernels, no cuBLAS
    matmul(a, b)        what conv.py calls: matmul_cuda where dispatch.use_own_gemm says so
                        (switched on, CuPy arrays), else a @ b

The step's products (im2col @ K, the kernel gradients cols^T @ dL/dy, the transposed
convolutions' y @ K^T) go to cuBLAS through ``@``, which is faster.  But CuPy refuses cuBLAS
calls while a stream is being captured into a CUDA graph, and a graph is how a step at
batch 8, bound by some 300 kernel launches and the Python between them, is replayed with one
launch (models/graph_step.py switches this kernel on for its capture; tools/time_gemm.py times it
against cuBLAS on the U-Net's products).

The kernel: C (M, N) = A (M, K) @ B (K, N), each a row-major matrix or the transpose of
one (an F-contiguous view, as ``cols.T`` is), read in place.  A block of 256 threads owns a
64 x 64 tile of C: it stages a 64 x 16 slice of A and a 16 x 64 slice of B in shared memory
(zeros past the edges), and each thread adds their product into its 4 x 4 outputs, rows
ty + 16 i and columns tx + 16 j, so that a warp reads B's row at 16 consecutive addresses
and A's column at one (a broadcast).  A product with few tiles and a long K (a kernel
gradient: K is every pixel of the batch) is cut into splits of K, each block writing a
partial C, and a second kernel adds the partials in split order.  The sums run in one fixed
order: the result is the same on every run.
"""

import functools

import numpy

from .. import backend
from . import _cuda
from ._cuda import ctype
from .dispatch import use_own_gemm

TILE, DEPTH, THREADS = 64, 16, 256

# The tile loop, shared with tiled_conv_cuda.py.  The including source defines T and
#   A_ELEM(gr, gk), B_ELEM(gk, gc)   an element of A (m, k) and B (k, n), zero outside them
#   A_ROWS_FASTEST, B_COLS_FASTEST   1 when consecutive threads should load consecutive rows
#                                    of A (columns of B), 0 for consecutive k: whichever is
#                                    consecutive in memory, so that a warp's loads coalesce
# Block (blockIdx.x, blockIdx.y = column tile + column tiles * s) sums k in
# [s * k_split, (s + 1) * k_split) into c + s * m * n: a split of the sum over k, for a
# product whose k is long and whose m * n is small (a kernel gradient); one split otherwise.
TILE_LOOP = r"""
#define TILE 64
#define DEPTH 16

extern "C" __global__ void tile_product(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                                        int m, int n, int k, int k_split) {
    __shared__ T as[DEPTH][TILE + 1];      // as[kk][row]: A's tile, turned so a column is a row
    __shared__ T bs[DEPTH][TILE];          // bs[kk][col]
    int t = threadIdx.x, tx = t % 16, ty = t / 16;
    int col_tiles = (n + TILE - 1) / TILE;
    int split = blockIdx.y / col_tiles;
    int row0 = blockIdx.x * TILE, col0 = (blockIdx.y % col_tiles) * TILE;
    int k_begin = split * k_split, k_end = min(k, k_begin + k_split);
    T acc[4][4];
    #pragma unroll
    for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0;
    for (int k0 = k_begin; k0 < k_end; k0 += DEPTH) {
        #pragma unroll
        for (int q = 0; q < 4; ++q) {      // 1024 elements of each slice, 4 per thread
#if A_ROWS_FASTEST
            int kk = t / TILE + 4 * q, r = t % TILE;
#else
            int r = t / DEPTH + 16 * q, kk = t % DEPTH;
#endif
            int gr = row0 + r, gk = k0 + kk;
            as[kk][r] = (gr < m && gk < k_end) ? A_ELEM(gr, gk) : (T)0;
#if B_COLS_FASTEST
            int kb = t / TILE + 4 * q, cc = t % TILE;
#else
            int cc = t / DEPTH + 16 * q, kb = t % DEPTH;
#endif
            int gc = col0 + cc, gkb = k0 + kb;
            bs[kb][cc] = (gc < n && gkb < k_end) ? B_ELEM(gkb, gc) : (T)0;
        }
        __syncthreads();
        #pragma unroll
        for (int kk = 0; kk < DEPTH; ++kk) {
            T av[4], bv[4];
            #pragma unroll
            for (int i = 0; i < 4; ++i) av[i] = as[kk][ty + 16 * i];
            #pragma unroll
            for (int j = 0; j < 4; ++j) bv[j] = bs[kk][tx + 16 * j];
            #pragma unroll
            for (int i = 0; i < 4; ++i)
                #pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
        }
        __syncthreads();
    }
    T* out = c + (long long)split * m * n;
    #pragma unroll
    for (int i = 0; i < 4; ++i) {
        int gr = row0 + ty + 16 * i;
        if (gr >= m) continue;
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            int gc = col0 + tx + 16 * j;
            if (gc < n) out[(long long)gr * n + gc] = acc[i][j];
        }
    }
}
"""

_GEMM_OPERANDS = r"""
typedef %(T)s T;
#define A_ROWS_FASTEST %(TA)d   // A stored as its transpose, (K, M) row-major: rows are consecutive
#define B_COLS_FASTEST %(NB)d   // B stored as (K, N) row-major: columns are consecutive
#if A_ROWS_FASTEST
#define A_ELEM(gr, gk) a[(long long)(gk) * m + (gr)]
#else
#define A_ELEM(gr, gk) a[(long long)(gr) * k + (gk)]
#endif
#if B_COLS_FASTEST
#define B_ELEM(gk, gc) b[(long long)(gk) * n + (gc)]
#else
#define B_ELEM(gk, gc) b[(long long)(gc) * k + (gk)]
#endif
"""


# c[e] = sum over s of partial[s, e], in split order (also the tiled kernel gradient's)
SUM_SPLITS = r"""
typedef %(T)s T;
extern "C" __global__ void sum_splits(const T* __restrict__ partial, T* __restrict__ c, int splits, int size) {
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= size) return;
    T total = 0;
    for (int s = 0; s < splits; ++s) total += partial[(long long)s * size + e];
    c[e] = total;
}
"""

# a product of fewer tiles than this is split along k, each split at least MIN_SPLIT_DEPTH long
FEW_TILES = 128
MIN_SPLIT_DEPTH = 4096
MAX_SPLITS = 128


def matmul_xp(a, b):
    """a (M, K) @ b (K, N): the reference."""
    return a @ b


def matmul(a, b):
    """a @ b: by matmul_cuda where dispatch.use_own_gemm says so, else by ``@``."""
    return matmul_cuda(a, b) if use_own_gemm(a, b) else a @ b


def splits_of(k, tiles=0):
    """(splits, k per split, a multiple of the tile loop's depth of 16) of a sum over k for a
    product of ``tiles`` output tiles: one split unless the tiles are few and k is long."""
    splits = 1 if tiles >= FEW_TILES else max(1, min(MAX_SPLITS, k // MIN_SPLIT_DEPTH))
    per_split = -(-k // splits)
    per_split = -(-per_split // DEPTH) * DEPTH
    return -(-k // per_split), per_split


@functools.lru_cache(maxsize=None)
def sum_splits_kernel(dtype):
    return _cuda.compiled(SUM_SPLITS % dict(T=ctype(dtype)), "sum_splits")


def add_splits(partial, out):
    """out[...] = partial.sum(axis=0), the splits added in order by one kernel."""
    size = out.size
    sum_splits_kernel(out.dtype)((-(-size // THREADS),), (THREADS,),
                                 (partial, out, numpy.int32(partial.shape[0]), numpy.int32(size)))


@functools.lru_cache(maxsize=None)
def _kernel(dtype, transpose_a, transpose_b):
    source = _GEMM_OPERANDS % dict(T=ctype(dtype), TA=int(transpose_a), NB=int(not transpose_b)) + TILE_LOOP
    return _cuda.compiled(source, "tile_product")


def grid(m, n, splits=1):
    """The launch grid of tile_product: row tiles, column tiles times splits of k."""
    return (-(-m // TILE), -(-n // TILE) * splits)


def _stored(cupy, a):
    """(the row-major matrix a is read from, whether it is a's transpose): an F-contiguous a
    (such as ``cols.T``) is read in place as its C-contiguous transpose."""
    if a.flags.c_contiguous:
        return a, False
    if a.flags.f_contiguous:
        return a.T, True
    return cupy.ascontiguousarray(a), False


def matmul_cuda(a, b):
    """matmul_xp as one CUDA kernel, a 64 x 64 tile of the product per block of 256 threads (and
    a second one that adds the splits of a long k, splits_of)."""
    cupy = backend.get_array_module(a)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_cuda: cannot multiply {tuple(a.shape)} by {tuple(b.shape)}")
    if a.dtype != b.dtype or numpy.dtype(a.dtype) not in _cuda.CTYPES:
        raise ValueError(f"matmul_cuda: both matrices must be float32 or both float64, not {a.dtype} and {b.dtype}")
    (m, k), n = a.shape, b.shape[1]
    if max(m, n, k) >= 2 ** 31:
        raise ValueError(f"matmul_cuda: dimensions must be below 2^31, not {(m, k, n)}")
    a_stored, transpose_a = _stored(cupy, a)
    b_stored, transpose_b = _stored(cupy, b)
    c = cupy.empty((m, n), dtype=a.dtype)
    if m == 0 or n == 0:
        return c
    if k == 0:
        c[...] = 0
        return c
    tiles = grid(m, n)[0] * grid(m, n)[1]
    splits, per_split = splits_of(k, tiles)
    out = c if splits == 1 else cupy.empty((splits, m, n), dtype=a.dtype)
    _kernel(a.dtype, transpose_a, transpose_b)(grid(m, n, splits), (THREADS,), (
        a_stored, b_stored, out, numpy.int32(m), numpy.int32(n), numpy.int32(k), numpy.int32(per_split)))
    if splits > 1:
        add_splits(out, c)
    return c
