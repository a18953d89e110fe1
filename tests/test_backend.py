"""backend: TINYUNET_DEVICE=cpu|auto|gpu, the fallback, and moving arrays between devices.

The device is chosen at import, so those cases run in a fresh interpreter with
the variable set.  A stand-in ``cupy`` package placed first on PYTHONPATH plays
the machines we may not have: CuPy installed without a driver, CuPy missing.
"""

import os
import subprocess
import sys
import textwrap

import numpy
import pytest

from tinyunet import backend

PRINT_DEVICE = "from tinyunet import backend; print(backend.device, backend.xp.__name__)"

BROKEN_CUPY = """
class _Runtime:
    @staticmethod
    def getDeviceCount():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

class cuda:
    runtime = _Runtime
"""


def run_python(code, device=None, fake_cupy=None, tmp_path=None):
    env = dict(os.environ)
    env.pop("TINYUNET_DEVICE", None)
    if device is not None:
        env["TINYUNET_DEVICE"] = device
    if fake_cupy is not None:
        package = tmp_path / "cupy"
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(fake_cupy))
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_cpu_is_numpy():
    result = run_python(PRINT_DEVICE, device="cpu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cpu", "numpy"]


def test_auto_uses_the_gpu_when_one_answers_else_numpy():
    result = run_python(PRINT_DEVICE, device="auto")
    assert result.returncode == 0, result.stderr
    expected = ["gpu", "cupy"] if backend.gpu_available() else ["cpu", "numpy"]
    assert result.stdout.split() == expected
    assert run_python(PRINT_DEVICE).stdout.split() == expected  # auto is the default


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU answers: TINYUNET_DEVICE=gpu succeeds here")
def test_gpu_without_a_gpu_is_a_clear_error():
    result = run_python(PRINT_DEVICE, device="gpu")
    assert result.returncode != 0
    assert "RuntimeError" in result.stderr and "TINYUNET_DEVICE=gpu" in result.stderr


@pytest.mark.gpu
def test_gpu_with_a_gpu_is_cupy():
    assert run_python(PRINT_DEVICE, device="gpu").stdout.split() == ["gpu", "cupy"]


@pytest.mark.parametrize("fake_cupy, why", [(BROKEN_CUPY, "cudaErrorNoDevice"),
                                            ("raise ImportError('libcudart.so.12: not found')", "libcudart")],
                         ids=["no-driver", "import-fails"])
def test_auto_falls_back_cleanly_when_cupy_cannot_run(tmp_path, fake_cupy, why):
    result = run_python(PRINT_DEVICE, device="auto", fake_cupy=fake_cupy, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cpu", "numpy"]
    assert result.stderr == ""


def test_gpu_with_broken_cupy_names_the_reason(tmp_path):
    result = run_python(PRINT_DEVICE, device="gpu", fake_cupy=BROKEN_CUPY, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "cudaErrorNoDevice" in result.stderr and "pip install" in result.stderr


def test_unknown_device_name_is_refused():
    result = run_python(PRINT_DEVICE, device="tpu")
    assert result.returncode != 0 and "ValueError" in result.stderr and "'tpu'" in result.stderr
    with pytest.raises(ValueError, match="'tpu'"):
        backend.set_device("tpu")


def test_asnumpy_and_to_device_round_trip(xp):
    a = numpy.arange(6, dtype=numpy.float32).reshape(2, 3)
    on_device = backend.to_device(a)
    assert isinstance(on_device, xp.ndarray) and on_device.dtype == numpy.float32
    back = backend.asnumpy(on_device)
    assert isinstance(back, numpy.ndarray)
    numpy.testing.assert_array_equal(back, a)
    assert backend.to_device(a, dtype="float64").dtype == numpy.float64
    assert backend.get_array_module(on_device) is xp
    assert backend.asnumpy(on_device * 2).tolist() == [[0, 2, 4], [6, 8, 10]]


def test_use_restores_the_previous_device(xp):
    before = backend.device
    with backend.use("cpu") as module:
        assert module is numpy and backend.device == "cpu"
    assert backend.device == before and backend.xp is xp


def test_device_name_is_readable(xp):
    assert isinstance(backend.device_name(), str) and backend.device_name()
