#!/usr/bin/env bash
# The GPU check of tinyunet's fast path, for one short run on a lent GPU machine.
#
#   bash tools/device_check.sh            (from the repository root; writes under $OUT)
#
# Steps, each under `timeout` so that one hang cannot eat the lease, and each
# run whatever happened before it (about 6 minutes on an H100 before the torch.compile
# step, of which the gpu tests take 3-4).  All of them share BUDGET seconds (default 540,
# under the device's 600 s a call): a step's limit is cut to what is left, and a step that
# would get under 20 s is skipped, so the summary is always written.  LESSON=0 skips the
# lesson (step g), COMPILE=0 the torch.compile column (step d); ONLY="bench bench-compile"
# runs just the steps named (kernel-tests gpu-tests bench bench-graph bench-compile bench-plain
# bench-tiled direct-conv own-gemm lesson-gpu), for a second call when the first ran out of budget.
#   a. the card and the versions                                   -> $OUT/env.txt
#   b. the kernel tests (CUDA twin vs xp twin), then every gpu test -> $OUT/tests.log
#   c. python -m tinyunet.bench, article 256x256, batches 8 32 128,
#      with the PyTorch twin                                        -> $OUT/bench.log, bench.json
#   c2. the same with tinyunet's step as a CUDA graph beside it    -> $OUT/bench_graph.json
#   d. the same, batches 8 32 128, with torch.compile beside eager -> $OUT/bench_compile.json
#   e. the same at batch 32 with the fast kernels off (plain CuPy) -> $OUT/bench_plain.json
#      and with the tiled kernel for many channels on              -> $OUT/bench_tiled.json
#   f. direct convolution vs im2col + GEMM per layer shape;
#      tinyunet's own (graph-capturable) matmul vs cuBLAS           -> $OUT/bench.log
#   g. the article's lesson (run_all --config gpu)                  -> $OUT/gpurun.tgz
#   h. a short summary table, printed last (tools/device_summary.py) -> $OUT/summary.txt
set -u
OUT=${OUT:-/tmp/tinyunet_device_check}
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
export TINYUNET_DEVICE=gpu
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-/tmp/tinyunet_cupy_cache}
unset CUPY_TF32
STEPS="$OUT/steps.txt"
: > "$STEPS"

BUDGET=${BUDGET:-540}

step() {   # step NAME SECONDS LOG COMMAND...: run under timeout, append its status to steps.txt
    local name=$1 limit=$2 log=$3
    shift 3
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
        echo "$name: not in ONLY" >> "$STEPS"
        return
    fi
    local left=$((BUDGET - SECONDS - 15))
    if [ $left -lt 20 ]; then
        echo "$name: SKIPPED (${left} s of the budget left)" >> "$STEPS"
        return
    fi
    [ $limit -gt $left ] && limit=$left
    local start=$SECONDS
    echo "===== $name: $* (limit ${limit}s)" >> "$log"
    timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
    local rc=$?
    local what=ok
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then what=TIMEOUT; elif [ $rc -ne 0 ]; then what=FAILED; fi
    echo "$name: $what (rc $rc, $((SECONDS - start)) s)" >> "$STEPS"
}

# a. the card and the versions
{
    date -u +"%Y-%m-%d %H:%M UTC"
    nvidia-smi -L
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python - <<'PY'
import sys, numpy
print("python", sys.version.split()[0], "numpy", numpy.__version__)
try:
    import cupy
    print("cupy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion())
except Exception as error:
    print("cupy: does not import:", error)
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
except Exception as error:
    print("torch: does not import:", error)
PY
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# b. tests: the CUDA twins first (they matter most here), then every gpu-marked test; NumPy is
#    the default backend there, as in CI, and the gpu cases switch to CuPy themselves
step kernel-tests 120 "$OUT/tests.log" env TINYUNET_DEVICE=cpu python -m pytest -q -rs tests/test_kernels.py
# the "gpu" hypothesis profile (8 examples instead of 25) so the whole set fits one run, and
# SHARDS pytest processes at once (default 6, tools/sharded_tests.py): the set compiles about
# 1,000 distinct kernel sources (counted on the emulated device), one after another in one process
step gpu-tests 280 "$OUT/tests.log" env TINYUNET_DEVICE=cpu HYPOTHESIS_PROFILE=gpu python tools/sharded_tests.py \
    --shards "${SHARDS:-6}" -- -q -rfEs -m gpu --maxfail=10 -p no:cacheprovider --ignore=tests/test_kernels.py

# c. the benchmark beside PyTorch
step bench 180 "$OUT/bench.log" python -m tinyunet.bench --preset article --size 256 \
    --batch 8 32 128 --steps 20 --warmup 3 --json "$OUT/bench.json"

# c2. the step captured as a CUDA graph (models/graph_step.py), beside the eager step and PyTorch eager
step bench-graph 120 "$OUT/bench.log" python -m tinyunet.bench --preset article --size 256 \
    --batch 8 32 128 --steps 20 --warmup 3 --no-layers --cuda-graph --json "$OUT/bench_graph.json"

# d. torch.compile (default mode) beside eager PyTorch: three compilations, one per batch size
if [ "${COMPILE:-1}" != 0 ]; then
    step bench-compile 200 "$OUT/bench.log" python -m tinyunet.bench --preset article --size 256 \
        --batch 8 32 128 --steps 20 --warmup 3 --no-layers --torch-compile --json "$OUT/bench_compile.json"
fi

# e. the plain CuPy path (fast kernels off), batch 32, for the before / after
step bench-plain 45 "$OUT/bench.log" env TINYUNET_FAST_KERNELS=0 python -m tinyunet.bench --preset article \
    --size 256 --batch 32 --steps 10 --warmup 2 --no-torch --no-layers --json "$OUT/bench_plain.json"

# e2. the same with the tiled direct kernel for the layers of many channels (off by default)
step bench-tiled 45 "$OUT/bench.log" env TINYUNET_TILED_CONV=1 python -m tinyunet.bench --preset article \
    --size 256 --batch 32 --steps 10 --warmup 2 --no-torch --no-layers --json "$OUT/bench_tiled.json"

# f. direct convolution against im2col + GEMM, per U-Net layer shape
step direct-conv 60 "$OUT/bench.log" python tools/time_direct_conv.py --batch 32
step own-gemm 40 "$OUT/bench.log" python tools/time_gemm.py --batch 32

# g. the article's configuration end to end: 256 x 256, 82 subjects, batch 16, 15 epochs
#    (LESSON=0 skips it when the lease is short)
RUN=/tmp/tinyunet_gpurun
if [ "${LESSON:-1}" != 0 ] && { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" lesson-gpu "* ]]; }; then
    rm -rf "$RUN"
    # LESSON_FLAGS=--cuda-graph trains it with the step as a CUDA graph
    step lesson-gpu 200 "$OUT/lesson.log" python lessons/run_all.py --config gpu --out "$RUN" ${LESSON_FLAGS:-}
    tar czf "$OUT/gpurun.tgz" -C "$RUN" --exclude='*.npz' . "$OUT/lesson.log" 2>/dev/null
    rm -f "$OUT/lesson.log"
fi

# h. the summary, last, because only the end of the output comes back
python tools/device_summary.py "$OUT" "$RUN" > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
