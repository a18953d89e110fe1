"""Run every lesson in order, as the article runs the notebook's cells 1 to 6.

    python lessons/run_all.py --config tiny|cpu|gpu|auto --out DIR [--data DIR] [--overwrite]

``auto`` (the default) is the article's configuration when a GPU answers and the
laptop configuration otherwise.  The run folder (default ``runs/<config>/``) ends
with the four figures, history.json / history.csv, best.npz, metrics.json and
run.log.  An existing run is never destroyed: without ``--out`` a new folder
``runs/<config>-2/`` (``-3``, ...) is used; with ``--out`` naming a folder that
holds a run, it stops unless ``--overwrite`` is given, which removes only the
files the lessons write.
"""

import json
import os
import subprocess
import sys
import time

from tinyunet import lessons

LESSONS = ("lesson1_setup.py", "lesson2_load_data.py", "lesson3_dice_and_layernorm.py",
           "lesson4_build_unet.py", "lesson5_train.py", "lesson6_predict.py")


def holds_a_run(folder):
    return any(os.path.exists(os.path.join(folder, name)) for name in lessons.OUTPUT_FILES)


def choose_folder(args, config):
    """The run folder to use, without touching a previous run unless --overwrite."""
    if args.out:
        if holds_a_run(args.out) and not args.overwrite:
            raise SystemExit(f"{args.out} already holds a run: pass --overwrite to replace it, "
                             "or choose another --out")
        return args.out
    folder = lessons.default_folder(config.name)
    if args.overwrite:
        return folder
    suffix = 2
    while holds_a_run(folder):
        folder = f"{lessons.default_folder(config.name)}-{suffix}"
        suffix += 1
    return folder


def main(argv=None):
    parser = lessons.argument_parser("Run lessons 1-6 in order")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the lesson files of an existing run in the folder")
    args = parser.parse_args(argv)
    config = lessons.resolve(args.config or "auto")
    folder = choose_folder(args, config)
    if args.overwrite:
        for name in lessons.OUTPUT_FILES:
            if os.path.exists(os.path.join(folder, name)):
                os.remove(os.path.join(folder, name))
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"Running the lessons with the '{config.name}' configuration into {folder}/", flush=True)
    started = time.perf_counter()
    for script in LESSONS:
        command = [sys.executable, os.path.join(here, script), "--out", folder, "--config", config.name]
        if args.data:
            command += ["--data", args.data]
        result = subprocess.run(command)
        if result.returncode:
            print(f"{script} failed (exit status {result.returncode}); the run folder keeps what was written")
            return result.returncode
    seconds = time.perf_counter() - started
    metrics_path = os.path.join(folder, "metrics.json")
    with open(metrics_path) as file:
        metrics = json.load(file)
    metrics["run_all_seconds"] = round(seconds, 1)
    run = lessons.Run(folder, config, args, here)
    run.write_json("metrics.json", metrics)
    summary = (f"\nAll lessons done in {seconds:.0f} s ({config.name} config). Test Dice: global "
               f"{metrics['test_dice_global']:.3f}, per image {metrics['test_dice_per_image']:.3f}")
    if "threshold_baseline_dice" in metrics:
        summary += f"; intensity-window baseline {metrics['threshold_baseline_dice']:.3f}"
    summary += f"\nRun folder: {folder}/ ({', '.join(sorted(os.listdir(folder)))})"
    print(summary)
    with open(os.path.join(folder, "run.log"), "a") as log:
        log.write(summary + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
