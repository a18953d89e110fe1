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
