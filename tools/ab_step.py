"""Time the training step of two versions of tinyunet in one process, step by step in turn.

    python tools/ab_step.py OTHER_CHECKOUT [--steps 30] [--batch 4] [--size 256] [--predict]

For a change too small for separate bench runs on a shared machine (their spread is 10 % and
more): this checkout's tinyunet and OTHER_CHECKOUT's (e.g. ``git worktree add /tmp/base
HEAD~1``), imported side by side as two packages, each train one article U-Net on the same
batch, a step of one and then a step of the other, so that drifting clocks and neighbours hit
both alike.  Prints each version's median step (ms; also over the steps with at most 10 ms
of CPU steal, read from /proc/stat where there is one) and the ratio this / other.
``--predict`` times ``model.predict`` of the batch instead of a training step.  NumPy only:
it sets TINYUNET_DEVICE=cpu.
"""

import argparse
import importlib
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parents[1]


def steal_jiffies():
    """The host's CPU steal time so far (jiffies, all CPUs), or 0 where /proc/stat has none."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        return 0


def load(package_folder, name, scratch):
    """tinyunet from ``package_folder`` imported as the package ``name`` (its imports are relative)."""
    shutil.copytree(package_folder, scratch / name)
    return {part: importlib.import_module(f"{name}.{part}") for part in ("bench", "models", "losses", "optimizers")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="another checkout of tinyunet (the folder holding its tinyunet/)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--predict", action="store_true", help="time model.predict instead of a training step")
    args = parser.parse_args(argv)
    other = pathlib.Path(args.other) / "tinyunet"
    if not (other / "__init__.py").is_file():
        parser.error(f"{args.other} holds no tinyunet/ package")
    os.environ["TINYUNET_DEVICE"] = "cpu"
    with tempfile.TemporaryDirectory(prefix="tinyunet_ab_") as scratch:
        scratch = pathlib.Path(scratch)
        sys.path.insert(0, str(scratch))
        versions = {"this": load(HERE / "tinyunet", "tinyunet_this", scratch),
                    "other": load(other, "tinyunet_other", scratch)}
        runs = {}
        for label, m in versions.items():
            x, y = m["bench"].make_batch(args.batch, args.size)
            model = m["models"].UNet("article", input_shape=(args.size, args.size, 1), seed=0)
            step = m["bench"].train_step
            if args.predict:
                step = lambda model, loss, optimizer, x, y: model.predict(x, batch_size=args.batch)   # noqa: E731
            runs[label] = (step, model, m["losses"].DiceLoss(), m["optimizers"].Adam(1e-4), x, y, [])
        for _ in range(3):                                  # warm-up
            for step, model, loss, optimizer, x, y, _times in runs.values():
                step(model, loss, optimizer, x, y)
        for _ in range(args.steps):
            for step, model, loss, optimizer, x, y, times in runs.values():
                before, start = steal_jiffies(), time.perf_counter()
                step(model, loss, optimizer, x, y)
                times.append(((time.perf_counter() - start) * 1e3, steal_jiffies() - before))
    medians = {}
    for label, run in runs.items():
        times = run[-1]
        clean = [t for t, stolen in times if stolen <= 1] or [t for t, _ in times]
        medians[label] = statistics.median(clean)
        print(f"{label:6s} median {statistics.median(t for t, _ in times):7.1f} ms, without steal "
              f"({len(clean)} of {len(times)} steps) {medians[label]:7.1f} ms, min {min(t for t, _ in times):7.1f}")
    print(f"this / other: {medians['this'] / medians['other']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
