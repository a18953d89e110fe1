"""Run every lesson in order, as the article runs the notebook's cells 1 to 6, then lesson 7 (inside the network).

    python lessons/run_all.py --config tiny|cpu|gpu|auto --out DIR [--data DIR] [--overwrite | --resume]
                              [--lr X] [--epochs N] [--batch-size N] [--preset NAME] [--filters N ...]
                              [--normalization none|every|preset] [--upsampling transpose|nearest|bilinear]
                              [--initializer NAME] [--organ NAME ...] [--probabilities] [--cuda-graph]

``auto`` (the default) is the article's configuration when a GPU answers and the
laptop configuration otherwise.  The run folder (default ``runs/<config>/``) ends
with the article's four figures and lesson 7's five (on the best weights),
history.json / history.csv, best.npz, metrics.json and run.log; ``--probabilities``
goes to lesson 6 (Figure 4's probability column), ``--cuda-graph`` to lesson 5 (on the
GPU, each training step as one CUDA graph).  An existing run is never destroyed:
without ``--out`` the first of ``runs/<config>/``, ``runs/<config>-2/``, ``-3``, ... that does
not exist yet is made (a claim two runs started at once cannot both win); with ``--out`` naming a folder
that holds a run, it stops unless ``--overwrite`` is given, which removes only the
files the lessons wrote there (listed in its ``.tinyunet-run.json``), or ``--resume``,
which skips the lessons whose files are there and continues an interrupted training.
A run that fails before writing anything of value removes what it wrote.

The experiment flags (``--lr`` ... ``--organ``, see ``tinyunet.lessons.argument_parser``)
go into the run folder's config.json before the first lesson starts, and every lesson
reads them there.  With ``--resume`` the network and data flags must be the run's; the
training flags (``--lr``, ``--epochs``, ``--batch-size``) go to lesson 5, e.g. to train on
to more epochs.
"""

import argparse
import os
import subprocess
import sys
import time

from tinyunet import backend, lessons

# each lesson with the files that show it finished (lesson 1 only prints, so it always runs)
LESSONS = {"lesson1_setup.py": (), "lesson2_load_data.py": ("data.npz",),
           "lesson3_dice_and_layernorm.py": ("figure1_dice.png",), "lesson4_build_unet.py": ("figure2_unet.png",),
           "lesson5_train.py": ("best.npz", "history.json", "history.csv", "training.json", "figure3_loss.png"),
           "lesson6_predict.py": ("metrics.json", "figure4_predictions.png"),
           "lesson7_inside.py": ("figure5_feature_maps.png", "figure6_kernels.png", "figure7_probabilities.png",
                                 "figure8_transposed_conv.png", "figure9_errors.png")}
# lesson 7 adds to the metrics.json lesson 6 writes: it runs again whenever lesson 6 did
AFTER = {"lesson7_inside.py": "lesson6_predict.py"}


def choose_folder(args, config):
    """The run folder to use, claimed for this run, without touching a previous run unless --overwrite."""
    if args.resume:
        if not (args.out and lessons.holds_a_run(args.out)):
            where = f"{args.out} holds none" if args.out else "none was given"
            raise SystemExit(f"--resume needs --out naming the folder of an earlier run of the lessons: {where}")
        return args.out
    folder = args.out or (lessons.default_folder(config.name) if args.overwrite else None)
    if folder:
        if not lessons.claim(folder) and lessons.holds_a_run(folder):
            if not args.overwrite:
                raise SystemExit(f"{folder} already holds a run: pass --overwrite to replace it, --resume to "
                                 "continue it, or choose another --out")
            lessons.clear(folder)
        return folder
    base = lessons.default_folder(config.name)
    folder, suffix = base, 2
    while not lessons.claim_new(folder):
        folder, suffix = f"{base}-{suffix}", suffix + 1
    return folder


def training_flags(args):
    """The training flags given to run_all, as lesson 5's command-line options."""
    options = []
    for flag in lessons.TRAINING_FLAGS:
        if getattr(args, flag) is not None:
            options += [lessons.flag_name(flag), str(getattr(args, flag))]
    return options


def run_lessons(folder, config, args, here):
    """Run the lessons into ``folder`` (skipping finished ones on --resume); the first failing exit status."""
    ran = set()
    for script, outputs in LESSONS.items():
        done = outputs and all(os.path.exists(os.path.join(folder, name)) for name in outputs)
        if args.resume and done and AFTER.get(script) not in ran:
            print(f"[{script}: its files are in {folder} already, skipped]", flush=True)
            continue
        command = [sys.executable, os.path.join(here, script), "--out", folder, "--config", config.name]
        if args.data:
            command += ["--data", args.data]
        if script == "lesson5_train.py":
            command += training_flags(args) + (["--resume"] if args.resume else [])
            command += ["--cuda-graph"] if args.cuda_graph else []
        if script == "lesson6_predict.py" and args.probabilities:
            command.append("--probabilities")
        try:
            result = subprocess.run(command)
        except KeyboardInterrupt:
            print(f"\nInterrupted: python lessons/run_all.py --resume --out {folder} continues the run")
            return 130
        if result.returncode:
            if lessons.release(folder):
                print(f"{script} failed (exit status {result.returncode}) before the run wrote anything of "
                      f"value: removed what it wrote in {folder}")
            else:
                print(f"{script} failed (exit status {result.returncode}); the run folder keeps what was "
                      f"written: python lessons/run_all.py --resume --out {folder} continues it")
            return result.returncode
        ran.add(script)
    return 0


def main(argv=None):
    parser = lessons.argument_parser("Run lessons 1-7 in order")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--overwrite", action="store_true",
                       help="replace the files the lessons wrote in the run folder (never other files)")
    again.add_argument("--resume", action="store_true",
                       help="continue an interrupted run in --out DIR: skip the lessons whose files are there")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="on the GPU: lesson 5 runs each training step as one CUDA graph")
    args = parser.parse_args(argv)
    if args.cuda_graph and backend.device != "gpu":        # before any folder is made
        raise SystemExit(f"--cuda-graph needs the GPU (TINYUNET_DEVICE=gpu and CuPy); the lessons would train "
                         f"on {backend.device_name()}")
    saved = lessons.saved_config(args.out) if args.out and os.path.isdir(args.out) else None
    config = lessons.resolve(args.config or (saved and saved["name"]) or "auto")
    folder = choose_folder(args, config)
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        # the configuration chosen above (the folder's own, read before --overwrite cleared it)
        chosen = {"out": folder, "config": args.config or config.name}
        run = lessons.open_run(argparse.Namespace(**{**vars(args), **chosen}), here, trains=args.resume)
    except SystemExit:
        lessons.release(folder)
        raise
    config = run.config
    print(f"Running the lessons with the '{config.name}' configuration into {folder}/", flush=True)
    started = time.perf_counter()
    status = run_lessons(folder, config, args, here)
    if status:
        return status
    seconds = time.perf_counter() - started
    metrics = run.read_json("metrics.json")
    # a resumed run's time is only this part's: the interrupted part's was never measured
    metrics.pop("run_all_seconds" if args.resume else "run_all_seconds_resumed_part", None)
    metrics["run_all_seconds_resumed_part" if args.resume else "run_all_seconds"] = round(seconds, 1)
    run.write_json("metrics.json", metrics)
    took = f"{seconds:.0f} s" + (" after the resume (the interrupted part is not counted)" if args.resume else "")
    summary = (f"\nAll lessons done in {took} ({config.name} config). Test Dice: global "
               f"{metrics['test_dice_global']:.3f}, per image {metrics['test_dice_per_image']:.3f}")
    if "threshold_baseline_dice" in metrics:
        summary += f"; intensity-window baseline {metrics['threshold_baseline_dice']:.3f}"
    if "best_threshold" in metrics:
        summary += (f"\nBest threshold on the validation set {metrics['best_threshold']:.2f} (Dice "
                    f"{metrics['val_dice_at_best_threshold']:.3f}); far false positives "
                    f"{metrics['error_counts']['fp_far_per_image']:.1f} pixels per test image")
    summary += f"\nRun folder: {folder}/ ({', '.join(sorted(os.listdir(folder)))})"
    print(summary)
    with open(os.path.join(folder, "run.log"), "a") as log:
        log.write(summary + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
