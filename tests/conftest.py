"""Shared test set-up: the backends every test runs on, and the hypothesis profiles.

``xp`` (fixture) runs a test once on NumPy and once on CuPy; the CuPy case
carries the ``gpu`` marker and is skipped, visibly, when no GPU answers.
Inside the test the active backend is the one of the case, so layers build
their weights there.

Hypothesis profiles: "ci" (the default: bounded examples, no deadline) and
"dev" (more examples); choose with HYPOTHESIS_PROFILE=dev.
"""

import os

import numpy
import pytest
from hypothesis import HealthCheck, settings

from tinyunet import backend

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = [
    pytest.param("cpu", id="numpy"),
    pytest.param("gpu", id="cupy", marks=[
        pytest.mark.gpu,
        pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device answers: CuPy case skipped"),
    ]),
]


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module of the case (numpy or cupy), active for the test's duration."""
    with backend.use(request.param) as module:
        yield module


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)


def to_numpy(a):
    return backend.asnumpy(a)
