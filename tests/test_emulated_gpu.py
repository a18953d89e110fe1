"""tools/emulated_gpu: the stand-in CuPy that runs the gpu tests on a machine without a GPU.

It runs in a fresh interpreter with the stand-in first on the path (as
tools/emulated_gpu_tests.sh does), and must keep doing what the gpu test set
relies on: take tinyunet's GPU path, kernels included, give the NumPy path's
results, refuse what CuPy refuses, and capture and replay a CUDA graph.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ builds the emulated kernels")

# A ReLU Conv2D on 6 x 6 pixels: the direct kernel (its bias and activation in its write), its
# adjoint and its weight gradient, each with fewer pixels than threads in a block (most threads
# return after the block's __syncthreads, as on a GPU)
SCRIPT = """
import numpy, cupy
from tinyunet import backend, layers
assert backend.xp is cupy and cupy.EMULATED
rng = numpy.random.default_rng(0)
x, dy = rng.standard_normal((2, 6, 6, 4)).astype("float32"), rng.standard_normal((2, 6, 6, 8)).astype("float32")
results = {}
for device in ("gpu", "cpu"):
    with backend.use(device) as xp:
        conv = layers.Conv2D(8, 3, activation="relu", seed=0)
        y = conv.forward(xp.asarray(x))
        dx = conv.backward(xp.asarray(dy) * (y > 0))
        results[device] = [backend.asnumpy(a) for a in (y, dx, conv.grads["kernel"], conv.grads["bias"])]
print("max diff", max(float(numpy.abs(a - b).max()) for a, b in zip(*results.values())))
print("kernels", sorted(cupy.cuda.KERNELS_LAUNCHED))
try:
    cupy.asarray(x) + x
except TypeError as error:
    print("refused:", error)
# a graph: the capture runs nothing (a stays 1), each launch replays on the same buffers
a = cupy.ones(3, dtype="float32")
stream = cupy.cuda.Stream(non_blocking=True)
with stream:
    stream.begin_capture()
    b = a * 2
    a += b
    try:
        float(a[0])
    except RuntimeError as error:
        print("capture refused:", error)
    graph = stream.end_capture()
print("captured", float(a[0]))
graph.launch(stream)
graph.launch(stream)
print("replayed", float(a[0]))
"""


def test_the_stand_in_runs_the_gpu_path_as_numpy_refuses_a_host_array_and_replays_a_graph(tmp_path):
    env = dict(os.environ, TINYUNET_DEVICE="gpu", TINYUNET_EMULATED_GPU_CACHE=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tools" / "emulated_gpu"), str(ROOT)]))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert float(lines["max"].split()[-1]) < 1e-5, result.stdout
    assert "conv_direct" in lines["kernels"] and "weight_grad_partial" in lines["kernels"], result.stdout
    assert "NumPy array of shape (2, 6, 6, 4)" in lines["refused:"], result.stdout
    assert "while a stream is being captured" in lines["capture"], result.stdout
    assert float(lines["captured"]) == 1.0 and float(lines["replayed"]) == 9.0, result.stdout   # 1 -> 3 -> 9


# Three kernels run with TINYUNET_EMULATED_GPU_CHECK_ORDER=1 (each launch also backwards): a
# block's tree sum with its __syncthreads, the same without them (a race), and a grid whose
# every block writes one element (a race between blocks); and an element-wise kernel
RACES = r"""
import numpy, cupy
from cupy._launch import OrderDependent
SOURCE = '''
extern "C" __global__ void block_sum(const float* x, float* out) {
    __shared__ float s[64];
    int t = threadIdx.x;
    s[t] = x[blockIdx.x * 64 + t];
    SYNC
    for (int step = 32; step > 0; step >>= 1) {
        if (t < step) s[t] += s[t + step];
        SYNC
    }
    if (t == 0) out[blockIdx.x] = s[0];
}
extern "C" __global__ void last_block_wins(float* out) {
    if (threadIdx.x == 0) out[0] = (float)blockIdx.x;
}
'''
x = cupy.asarray(numpy.arange(128, dtype="float32"))
for name, sync, grid in (("synced", "__syncthreads();", 2), ("unsynced", "", 2), ("blocks", "", 4)):
    kernel = "last_block_wins" if name == "blocks" else "block_sum"
    f = cupy.RawModule(code=SOURCE.replace("SYNC", sync)).get_function(kernel)
    out = cupy.zeros(2, dtype="float32")
    try:
        f((grid,), (64,), (out,) if name == "blocks" else (x, out))
        print(name, "same", *out.get())
    except OrderDependent as error:
        print(name, "race:", error)
# through a table of addresses (as Adam's one kernel): each of two arrays doubled once, not twice
TABLE = '''
extern "C" __global__ void double_all(const long long* table, int k) {
    float* a = (float*)table[blockIdx.x];
    a[threadIdx.x] *= 2.0f;
}
'''
arrays = [cupy.ones(8, dtype="float32"), cupy.ones(8, dtype="float32")]
table = cupy.asarray(numpy.array([a.data.ptr for a in arrays], dtype=numpy.int64))
cupy.RawModule(code=TABLE).get_function("double_all")((2,), (8,), (table, numpy.int32(2)))
print("table", *sorted({float(v) for a in arrays for v in a.get()}))
double = cupy.ElementwiseKernel("T a", "T z", "z = 2 * a;", "double")
z = cupy.empty_like(x)
double(x, z)
print("elementwise", float(z.sum()))
"""


def test_checking_the_order_finds_a_missing_syncthreads_and_blocks_writing_one_element(tmp_path):
    env = dict(os.environ, TINYUNET_EMULATED_GPU_CHECK_ORDER="1", TINYUNET_EMULATED_GPU_CACHE=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tools" / "emulated_gpu"), str(ROOT)]))
    result = subprocess.run([sys.executable, "-c", RACES], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["synced"] == "same 2016.0 6112.0", result.stdout          # 0 + ... + 63, 64 + ... + 127
    assert lines["unsynced"].startswith("race: emulated CuPy: kernel block_sum is not the same when its "
                                        "blocks and threads run backwards: out differs in 2 of 2"), result.stdout
    assert "kernel last_block_wins" in lines["blocks"] and "out differs in 1 of 2" in lines["blocks"], result.stdout
    assert lines["table"] == "2.0", result.stdout
    assert float(lines["elementwise"]) == 2 * 127 * 128 / 2, result.stdout
