#!/usr/bin/env bash
# The gpu test set on the emulated device (tools/emulated_gpu): for a machine without a GPU.
#
#   bash tools/emulated_gpu_tests.sh [pytest arguments]     (from the repository root)
#
# A stand-in CuPy first on the path makes every gpu-marked test run: tinyunet's GPU path from
# the layers down, its CUDA kernels built by g++ and run on the CPU, against the NumPy
# path.  It says nothing about speed.  The first run builds every kernel with g++ (about
# 15 minutes on 2 cores); the built kernels are kept (TINYUNET_EMULATED_GPU_CACHE, default
# /tmp/tinyunet_emulated_gpu), and a later run takes about 5-6 minutes (653 tests).  The tests of what the
# stand-in does not emulate are deselected, each for the reason given.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="tools/emulated_gpu:.${PYTHONPATH:+:$PYTHONPATH}"
export TINYUNET_DEVICE=cpu
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-gpu}
PYTHON=${PYTHON:-python}
NOT_EMULATED=(
    # the memory pool counts nothing: the emulated arrays are NumPy's
    --deselect tests/test_bench.py::test_memory_peaks_on_the_gpu_count_the_bytes_in_use_and_the_pool
    --deselect tests/test_graph_step.py::test_a_capture_gives_back_the_warm_up_steps_cached_blocks
)
exec "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider -rfE "${NOT_EMULATED[@]}" "$@"
