"""Shared test set-up: the backends every test runs on, the GPU skip, and the hypothesis profiles.

``xp`` (fixture) runs a test once on NumPy and once on CuPy; the CuPy case
carries the ``gpu`` marker. Inside the test the active backend is the one of
the case, so layers build their weights there.

The ``gpu`` marker is the one way a test says it needs a GPU: every test that
carries it (a CuPy case of ``xp`` or a test marked ``@pytest.mark.gpu``) is
skipped, visibly and with the reason, when no CUDA device answers.

Hypothesis profiles: "ci" (the default: bounded examples, no deadline), "gpu"
(fewer examples, for the whole gpu test set in one short run on a lent GPU:
each CuPy example pays kernel launches and host copies that NumPy's do not) and
"dev" (more examples); choose with HYPOTHESIS_PROFILE=gpu or dev.
"""

import os

import numpy
import pytest
from hypothesis import HealthCheck, settings

from tinyunet import backend

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "gpu", max_examples=8, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

NO_GPU = "no CUDA device answers: gpu-marked test skipped"


def pytest_collection_modifyitems(config, items):
    """Skip every gpu-marked test when no CUDA device answers."""
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason=NO_GPU)
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(params=[pytest.param("cpu", id="numpy"), pytest.param("gpu", id="cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module of the case (numpy or cupy), active for the test's duration."""
    with backend.use(request.param) as module:
        yield module


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)


@pytest.fixture
def cupy():
    """The CuPy module, active for the test's duration (for tests marked ``gpu``)."""
    with backend.use("gpu") as module:
        yield module


@pytest.fixture(params=[1, 2, 3], ids=["1thread", "2threads", "3threads"])
def small_blocks(request, monkeypatch):
    """The NumPy fast paths' blocks (kernels/cpu_threads.py) at their smallest, a row or two of
    output each, on 1-3 threads: every shape of a test then has many blocks."""
    from tinyunet.kernels import cpu_threads
    monkeypatch.setattr(cpu_threads, "BLOCK_BYTES", 64)
    monkeypatch.setattr(cpu_threads, "MIN_PIXELS", 1)
    monkeypatch.setattr(cpu_threads, "threads", lambda: request.param)
    return request.param
