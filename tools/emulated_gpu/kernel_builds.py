"""A pytest plugin for the emulated device: how many distinct kernel sources each test builds.

    bash tools/emulated_gpu_tests.sh -p kernel_builds

Every distinct source a run meets is one compilation on a real GPU too (NVRTC, a
few tenths of a second each, when CuPy's disk cache is cold, as on a fresh
machine), so this names the tests whose time on a GPU goes to compiling.
"""

import collections

import pytest

from cupy import _launch

BUILDS = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = len(_launch._LIBRARIES)
    yield
    BUILDS[item.nodeid] = len(_launch._LIBRARIES) - before


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    total = sum(BUILDS.values())
    write(f"kernel sources built: {total} distinct, over {len(BUILDS)} tests")
    by_file = collections.Counter()
    for nodeid, count in BUILDS.items():
        by_file[nodeid.split("::")[0]] += count
    for path, count in by_file.most_common(12):
        write(f"  {count:5d}  {path}")
    write("the tests that built the most:")
    for nodeid, count in sorted(BUILDS.items(), key=lambda kv: -kv[1])[:15]:
        write(f"  {count:5d}  {nodeid}")
