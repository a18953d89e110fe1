"""Run a pytest selection as several pytest processes at once, runs of a file's tests per process.

    python tools/sharded_tests.py --shards 6 -- -q -m gpu -p no:cacheprovider

For the gpu test set on a lent GPU machine (tools/device_check.sh): most of its time there
goes to compiling kernels (about 1,000 distinct CUDA sources over the set, each compiled
once by NVRTC, counted on the emulated device with tools/emulated_gpu/kernel_builds.py),
and one pytest process compiles them one after another on one core.  Several processes
compile on several cores; the GPU itself is mostly idle during these small tests.

The selection is collected once.  Each file's tests are cut into runs of consecutive tests
(neighbours share their kernels) of at most half a shard's share, so that one large file
(test_conv.py's grids compile a third of the set's kernels) cannot hold up the rest; the
runs are shared out over the shards, the longest first, each to the shard with the fewest
tests so far.  A kernel that two shards need is compiled twice only when both reach it at
once: CuPy's kernel cache on disk is theirs in common.  Each shard's output is printed
whole when it ends, then one line in pytest's words sums them all.  The exit status is 0 only when every
shard's is.  A SIGTERM (the `timeout` of the caller) stops the shards, and what they had
printed is still shown.
"""

import argparse
import collections
import math
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)")


def collect(pytest_args):
    """The selected test ids, grouped by file: {path: [node id, ...]}."""
    args = [a for a in pytest_args if a not in ("-q", "-v")]
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
                            capture_output=True, text=True)
    if result.returncode not in (0, 5):          # 5: nothing collected
        sys.stdout.write(result.stdout + result.stderr)
        raise SystemExit(f"sharded_tests: collecting the tests failed (pytest exit {result.returncode})")
    files = {}
    for line in result.stdout.splitlines():
        if "::" in line and not line.startswith(" "):
            files.setdefault(line.split("::")[0], []).append(line.strip())
    return files


def share_out(files, shards):
    """Lists of node ids, one per shard: each file's tests in runs of at most half a shard's
    share, the longest runs first, each to the emptiest shard."""
    size = max(1, math.ceil(sum(map(len, files.values())) / (2 * shards)))
    runs = [ids[start:start + size] for ids in files.values() for start in range(0, len(ids), size)]
    groups = [[] for _ in range(shards)]
    for run in sorted(runs, key=len, reverse=True):
        min(groups, key=len).extend(run)
    return [g for g in groups if g]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4, help="pytest processes at once (default 4)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: pytest's options (no paths: each shard is given its test ids)")
    args = parser.parse_args(argv)
    if args.shards < 1:
        parser.error(f"--shards must be at least 1, got {args.shards}")
    pytest_args = [a for a in args.pytest_args if a != "--"]
    start = time.perf_counter()
    groups = share_out(collect(pytest_args), args.shards)
    if not groups:
        print("sharded_tests: no test selected")
        return 5
    print(f"sharded_tests: {sum(map(len, groups))} tests in {len(groups)} processes "
          f"({', '.join(str(len(g)) for g in groups)})", flush=True)
    stopped = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
    with tempfile.TemporaryDirectory(prefix="sharded_tests_") as folder:
        logs = [pathlib.Path(folder) / f"shard{number}.log" for number in range(1, len(groups) + 1)]
        children = []
        for group, log in zip(groups, logs):
            with open(log, "w") as out:
                children.append(subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args, *group],
                                                 stdout=out, stderr=subprocess.STDOUT))
        while any(child.poll() is None for child in children) and not stopped:
            time.sleep(0.2)
        for child in children:           # stopped by the caller: the shards stop too, their output is kept
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=3)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        totals, status = collections.Counter(), 0
        for number, (child, log) in enumerate(zip(children, logs), 1):
            output = log.read_text(errors="replace")
            print(f"===== shard {number} of {len(children)} (exit {child.returncode})")
            sys.stdout.write(output)
            lines = [line for line in output.splitlines() if " in " in line and COUNT.search(line)]
            for count, word in COUNT.findall(lines[-1] if lines else ""):
                totals["error" if word.startswith("error") else word] += int(count)
            status = status or child.returncode
    summary = ", ".join(f"{totals[w]} {w}" for w in ("failed", "passed", "skipped", "error", "xfailed", "xpassed")
                        if totals[w])
    print(f"===== all shards: {summary or 'no result'} in {time.perf_counter() - start:.2f}s"
          f"{' (stopped by SIGTERM)' if stopped else ''}")
    return 128 + signal.SIGTERM if stopped else status


if __name__ == "__main__":
    sys.exit(main())
