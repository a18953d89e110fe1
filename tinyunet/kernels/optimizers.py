"""The optimizers' updates: Adam and SGD on one tensor, and Adam over every tensor at once.

    adam_update   Kingma & Ba's Algorithm 1 on one tensor, in place
    sgd_update    SGD with momentum on one tensor, in place
    adam_update_all   adam_update on lists of tensors; on the GPU one CUDA kernel for all

The xp forms are the reference: the CUDA twin is tested against adam_update run
on each tensor.  On the GPU, per-tensor Adam is bound by the host: ~56 tensors x
several ufunc launches took 9.3 ms a step on an H100, one kernel 0.014 ms.  So the
twin updates all tensors in one launch: the tensors stay where they are (the
layers' live arrays and the optimizer's own m and v), and the kernel reads a
small table of their addresses and of the step's two bias corrections, uploaded
asynchronously each step, since the gradient arrays are new every step.

In a step captured as a CUDA graph (models/graph_step.py) the addresses are the same at every
replay, but the bias corrections change with t, and nothing may be copied from the host
while capturing: the table is then left empty (``CapturedTable``), and the graph's owner
uploads it, with the corrections of each step's t, before each replay.
"""

import functools

import numpy

from .. import backend
from . import _cuda
from ._cuda import ctype, launch
from .dispatch import use_cuda_adam


def adam_update(param, grad, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    """One Adam step (Kingma & Ba 2015, Algorithm 1), in place on param, m and v.

        m      = beta_1 * m + (1 - beta_1) * g
        v      = beta_2 * v + (1 - beta_2) * g^2
        m_hat  = m / (1 - beta_1^t)          v_hat = v / (1 - beta_2^t)
        param  = param - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    ``step`` is t, counted from 1.  The same update as torch.optim.Adam
    (weight_decay=0, amsgrad=False); Keras differs only in where epsilon goes.
    """
    xp = backend.get_array_module(param)
    m *= beta_1
    m += (1 - beta_1) * grad
    v *= beta_2
    v += (1 - beta_2) * (grad * grad)
    m_hat = m / (1 - beta_1 ** step)
    v_hat = v / (1 - beta_2 ** step)
    param -= learning_rate * m_hat / (xp.sqrt(v_hat) + epsilon)


def sgd_update(param, grad, buffer, learning_rate, momentum):
    """One SGD step, in place on param and buffer (torch.optim.SGD, dampening 0, no Nesterov).

        buffer = momentum * buffer + g        (buffer starts at 0, so its first value is g)
        param  = param - learning_rate * buffer

    With momentum 0 there is no buffer (pass None): param = param - learning_rate * g.
    """
    if buffer is None:
        param -= learning_rate * grad
        return
    buffer *= momentum
    buffer += grad
    param -= learning_rate * buffer


def adam_update_all_xp(params, grads, ms, vs, step, learning_rate, beta_1, beta_2, epsilon):
    """adam_update on each (param, grad, m, v) of the lists, in place."""
    for param, grad, m, v in zip(params, grads, ms, vs):
        adam_update(param, grad, m, v, step, learning_rate, beta_1, beta_2, epsilon)


# --- the CUDA twin: one thread per element of all the tensors together ---

_ADAM = r"""
typedef %(T)s T;
// table: K parameter, K gradient, K m and K v addresses, then K + 1 offsets: tensor k owns
// the flat range [offset[k], offset[k + 1]); then the bias corrections 1 - beta_1^t and
// 1 - beta_2^t, two doubles.  idx runs over the concatenation of all tensors.
extern "C" __global__ void adam_all(const long long* __restrict__ table, int K, long long total,
                                    double lr, double beta_1, double beta_2, double epsilon) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const long long* offset = table + 4 * K;
    const double* correction = (const double*)(table + 5 * K + 1);
    int lo = 0, hi = K - 1;             // the tensor k with offset[k] <= idx < offset[k + 1]
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offset[mid] <= idx) lo = mid; else hi = mid - 1;
    }
    long long i = idx - offset[lo];
    T* param = (T*)table[lo];
    const T* grad = (const T*)table[K + lo];
    T* m = (T*)table[2 * K + lo];
    T* v = (T*)table[3 * K + lo];
    T g = grad[i];
    T mi = (T)beta_1 * m[i] + (T)(1 - beta_1) * g;
    T vi = (T)beta_2 * v[i] + (T)(1 - beta_2) * (g * g);
    m[i] = mi;
    v[i] = vi;
    T m_hat = mi / (T)correction[0], v_hat = vi / (T)correction[1];
    param[i] -= (T)lr * m_hat / (sqrt(v_hat) + (T)epsilon);
}
"""


@functools.lru_cache(maxsize=None)
def _adam_kernel(dtype):
    return _cuda.compiled(_ADAM % dict(T=ctype(dtype)), "adam_all")


def set_corrections(table, step, beta_1, beta_2):
    """Write the bias corrections of step t, 1 - beta_1^t and 1 - beta_2^t, into the table's
    last two entries (as the bits of two float64)."""
    table[-2:] = numpy.array([1.0 - beta_1 ** step, 1.0 - beta_2 ** step]).view(numpy.int64)


def adam_table(params, grads, ms, vs, step, beta_1, beta_2):
    """The kernel's table (int64): the addresses, the offsets and the bias corrections of t."""
    k = len(params)
    table = numpy.empty(5 * k + 3, dtype=numpy.int64)
    for column, arrays in enumerate((params, grads, ms, vs)):
        table[column * k:(column + 1) * k] = [a.data.ptr for a in arrays]
    table[4 * k] = 0
    numpy.cumsum([p.size for p in params], out=table[4 * k + 1:5 * k + 1])
    set_corrections(table, step, beta_1, beta_2)
    return table


class CapturedTable:
    """The table of an Adam launch captured in a CUDA graph: ``upload(t, stream)`` fills the
    device table, with the bias corrections of step t, before a replay that runs step t."""

    def __init__(self, device, host, beta_1, beta_2):
        self.device, self.host, self.beta_1, self.beta_2 = device, host, beta_1, beta_2

    def upload(self, step, stream):
        """Copy the table, with step t's corrections, to the device in ``stream``'s order."""
        set_corrections(self.host, step, self.beta_1, self.beta_2)
        self.device.set(self.host, stream=stream)


_captured = []      # the CapturedTables of the capture under way


def take_captured_tables():
    """The CapturedTables of the Adam launches captured since the last call (models/graph_step.py)."""
    tables = list(_captured)
    _captured.clear()
    return tables


def adam_update_all_cuda(params, grads, ms, vs, step, learning_rate, beta_1, beta_2, epsilon):
    """adam_update_all_xp as one CUDA kernel (every array contiguous and of one dtype)."""
    cupy = backend.get_array_module(params[0])
    table = adam_table(params, grads, ms, vs, step, beta_1, beta_2)
    total = int(table[-3])
    if _cuda.capturing(cupy):       # no copy from the host now: the graph's owner uploads it
        device_table = cupy.empty(table.size, dtype=numpy.int64)
        _captured.append(CapturedTable(device_table, table, beta_1, beta_2))
    else:
        device_table = cupy.asarray(table)   # staged through pinned memory: no host synchronisation
    launch(_adam_kernel(params[0].dtype), total,
           (device_table, numpy.int32(len(params)), numpy.int64(total), float(learning_rate), float(beta_1),
            float(beta_2), float(epsilon)))


def adam_update_all(params, grads, ms, vs, step, learning_rate, beta_1, beta_2, epsilon):
    """One Adam step on lists of tensors sharing the step count t: the CUDA twin where
    dispatch.use_cuda_adam takes every array, else adam_update per tensor."""
    arrays = [*params, *grads, *ms, *vs]
    if use_cuda_adam(arrays):
        adam_update_all_cuda(params, grads, ms, vs, step, learning_rate, beta_1, beta_2, epsilon)
    else:
        adam_update_all_xp(params, grads, ms, vs, step, learning_rate, beta_1, beta_2, epsilon)
