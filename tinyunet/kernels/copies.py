"""The U-Net's big copies, on every core on NumPy: the skip connections' concatenation and its
split, and the zero padding in front of a convolution.

    concatenate(arrays, axis)   xp.concatenate(arrays, axis)
    split(y, sizes, axis)       [y[..., start:start + size] for each size], each a contiguous copy
    pad(x, pads)                x with pads = ((top, bottom), (left, right)) rows and columns of zeros

NumPy copies on one thread.  On NumPy arrays these copy block by block (cpu_threads.py),
each thread taking the next block of rows left; elsewhere (CuPy, other shapes) they are the plain
xp calls, which are also the reference the tests compare against.
"""

import numpy

from .. import backend
from . import cpu_threads
from .dispatch import use_cpu_threads


def _blocks(shape, itemsize, arrays=2):
    """plan_blocks for an (N, H, W, ...) array of this shape, ``arrays`` arrays touched."""
    n, h, w = shape[:3]
    return cpu_threads.plan_blocks(n, h, w, int(numpy.prod(shape[2:])) * itemsize * arrays)


def _on_cores(arrays, axis):
    """NumPy arrays of one dtype, 4-D, joined or split along an axis after the rows (2 or 3)."""
    return (use_cpu_threads(*arrays) and len({a.dtype for a in arrays}) == 1
            and all(a.ndim == 4 for a in arrays) and axis % 4 >= 2 and arrays[0].size > 0)


def concatenate(arrays, axis=-1):
    """xp.concatenate(arrays, axis); on NumPy, for 4-D arrays joined along W or C, block by block
    on every core."""
    if not _on_cores(arrays, axis):
        return backend.get_array_module(arrays[0]).concatenate(arrays, axis=axis)
    axis = axis % 4
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    y = numpy.empty(shape, dtype=arrays[0].dtype)

    def work(n0, n1, r0, r1):
        numpy.concatenate([a[n0:n1, r0:r1] for a in arrays], axis=axis, out=y[n0:n1, r0:r1])

    cpu_threads.run_blocks(work, _blocks(y.shape, y.itemsize))
    return y


def split(y, sizes, axis=-1):
    """[contiguous copy of y's slice along ``axis`` for each size, in order]; on NumPy, for a 4-D
    y split along W or C, block by block on every core."""
    xp = backend.get_array_module(y)
    axis = axis % y.ndim
    starts = numpy.cumsum([0] + list(sizes))

    def part(k, index=()):
        full = [slice(None)] * y.ndim
        full[:len(index)] = index
        full[axis] = slice(starts[k], starts[k + 1])
        return y[tuple(full)]

    if not _on_cores([y], axis):
        return [xp.ascontiguousarray(part(k)) for k in range(len(sizes))]
    parts = [numpy.empty(part(k).shape, dtype=y.dtype) for k in range(len(sizes))]

    def work(n0, n1, r0, r1):
        for k, out in enumerate(parts):
            out[n0:n1, r0:r1] = part(k, (slice(n0, n1), slice(r0, r1)))

    cpu_threads.run_blocks(work, _blocks(y.shape, y.itemsize))
    return parts


def pad(x, pads):
    """x (N, H, W, C) with zero rows and columns, pads = ((top, bottom), (left, right)):
    xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0))); on NumPy the copy block by block on every core."""
    if not _on_cores([x], 2):
        return backend.get_array_module(x).pad(x, ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)))
    (pt, pb), (pl, pr) = pads
    n, h, w, c = x.shape
    xpad = numpy.empty((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    xpad[:, :pt], xpad[:, pt + h:] = 0, 0
    xpad[:, pt:pt + h, :pl], xpad[:, pt:pt + h, pl + w:] = 0, 0

    def work(n0, n1, r0, r1):
        xpad[n0:n1, pt + r0:pt + r1, pl:pl + w] = x[n0:n1, r0:r1]

    cpu_threads.run_blocks(work, _blocks(x.shape, x.itemsize))
    return xpad
