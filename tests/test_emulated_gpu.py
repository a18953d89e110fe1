"""tools/emulated_gpu: the stand-in CuPy that runs the gpu tests on a machine without a GPU.

It runs in a fresh interpreter with the stand-in first on the path (as
tools/emulated_gpu_tests.sh does), and must keep doing what the gpu test set
relies on: take tinyunet's GPU path, kernels included, give the NumPy path's
results, and refuse what CuPy refuses.
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
"""


def test_the_stand_in_runs_the_gpu_path_as_numpy_and_refuses_a_host_array(tmp_path):
    env = dict(os.environ, TINYUNET_DEVICE="gpu", TINYUNET_EMULATED_GPU_CACHE=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tools" / "emulated_gpu"), str(ROOT)]))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert float(lines["max"].split()[-1]) < 1e-5, result.stdout
    assert "conv_direct" in lines["kernels"] and "weight_grad_partial" in lines["kernels"], result.stdout
    assert "NumPy array of shape (2, 6, 6, 4)" in lines["refused:"], result.stdout
