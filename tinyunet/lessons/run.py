"""A lesson's run folder: where every lesson writes, and how a lesson script starts.

A run folder (``runs/<config>/`` unless ``--out DIR``) collects everything the lessons
write (``OUTPUT_FILES``): ``config.json``, ``data.npz`` (the data of lesson 2, reused by the
later lessons), the figures, ``history.json`` / ``history.csv``, ``best.npz``,
``metrics.json`` and ``run.log`` (every lesson's output, appended).  A lesson that needs a
file an earlier lesson makes runs that lesson first (``Run.require``), so every script also
runs on its own.  Each file is listed in the folder's marker before it is written
(``Run.output``, see manifest.py), and a lesson refuses a folder holding a file of one of
these names that the lessons did not write.

``config.json`` holds the configuration with the experiment flags applied, written by the
first lesson that opens the folder: a later lesson reads it, so ``--organ liver`` given to
run_all (or to the first lesson) reaches every lesson.  A later lesson given a flag that
differs from the folder's is refused, except lesson 5's ``--lr``, ``--epochs`` and
``--batch-size``: they choose that training's settings (training.json records them).
"""

import dataclasses
import json
import os
import subprocess
import sys

from .. import backend
from ..fileio import atomic_write
from ..models import UNet
from .config import CONFIGS, EXPERIMENT_FLAGS, TRAINING_FLAGS, LessonConfig, argument_parser, resolve
from .manifest import check_ours, claim, read_marker, record
from .tee import tee_stdout


class Run:
    """A run folder, the configuration it was made with, the parsed options and the lessons' folder."""

    def __init__(self, folder, config, args, lessons_dir):
        self.folder, self.config, self.args, self.lessons_dir = folder, config, args, lessons_dir

    def path(self, name):
        return os.path.join(self.folder, name)

    def output(self, name):
        """The path of ``name``, listed in the run folder's marker as a file the lessons write."""
        record(self.folder, name)
        return self.path(name)

    def exists(self, name):
        return os.path.exists(self.path(name))

    def require(self, name, script):
        """Make sure ``name`` is in the run folder, running the earlier lesson ``script`` if not."""
        if self.exists(name):
            return self.path(name)
        print(f"[{name} is not in {self.folder} yet: running {script} first]", flush=True)
        # the earlier lesson reads the experiment flags from config.json
        command = [sys.executable, os.path.join(self.lessons_dir, script), "--out", self.folder,
                   "--config", self.config.name]
        if self.args.data:
            command += ["--data", self.args.data]
        subprocess.run(command, check=True)
        if not self.exists(name):
            raise SystemExit(f"{script} ran but did not write {self.path(name)}")
        return self.path(name)

    def write_json(self, name, data):
        text = (json.dumps(data, indent=2) + "\n").encode()
        return atomic_write(self.output(name), lambda file: file.write(text))

    def read_json(self, name):
        with open(self.path(name)) as file:
            return json.load(file)


def default_folder(config_name):
    return os.path.join("runs", config_name)


def saved_config(folder):
    """The dict in ``folder``/config.json (its "name" is the configuration's), or None when there is none.

    A config.json the lessons did not write, or one that is not valid JSON, is refused
    with a message naming it.
    """
    path = os.path.join(folder, "config.json")
    if not os.path.lexists(path):
        return None
    check_ours(folder, read_marker(folder))
    try:
        with open(path, encoding="utf-8") as file:
            saved = json.load(file)
    except (ValueError, UnicodeDecodeError) as error:
        raise SystemExit(f"{path} is not valid JSON ({error}): remove it, or choose another --out")
    if not (isinstance(saved, dict) and saved.get("name") in CONFIGS):
        raise SystemExit(f"{path} was not written by tinyunet's lessons: it names none of the configurations "
                         f"{', '.join(CONFIGS)}")
    return saved


def flag_name(flag):
    return "--" + flag.replace("_", "-")


def apply_flags(config, args, folder=None, trains=False):
    """``config`` with the experiment flags of ``args`` that were given.

    With ``folder`` (a run folder whose config.json made ``config``) a flag that differs
    from the folder's value is refused, unless ``trains`` and it is a training flag.
    """
    changes = {}
    for flag, field in EXPERIMENT_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        value = tuple(value) if isinstance(value, list) else value
        if folder and value != getattr(config, field) and not (trains and flag in TRAINING_FLAGS):
            saved = getattr(config, field)
            shown = " ".join(map(str, saved)) if isinstance(saved, tuple) else saved
            advice = "lesson5_train.py --overwrite retrains it with another, or " if flag in TRAINING_FLAGS else ""
            raise SystemExit(f"{folder} holds a run made with {flag_name(flag)} {shown}: {advice}"
                             "choose another --out")
        changes[field] = value
    organ = getattr(args, "organ", None)
    if organ and len(set(organ)) != len(organ):
        raise SystemExit(f"--organ names an organ twice: {' '.join(organ)}")
    return dataclasses.replace(config, **changes)


def check_network(config, has_data_folder):
    """Refuse, naming the flag, a network these flags cannot build or the slices cannot feed."""
    try:
        model = UNet(config.preset, input_shape=(64, 64, 1), seed=config.seed, **config.unet_options())
    except (ValueError, TypeError) as error:
        raise SystemExit(f"the U-Net flags do not make a network: {error}") from None
    if not has_data_folder and config.image_size % 2 ** model.levels:
        raise SystemExit(f"a U-Net of {model.levels} levels needs slices divisible by {2 ** model.levels}; "
                         f"the '{config.name}' configuration's are {config.image_size} x {config.image_size}: "
                         "give --filters fewer levels")


def open_run(args, lessons_dir, trains=False):
    """The run folder of ``args`` with its configuration, checked against the one it was made with.

    ``trains``: the lesson that trains (lesson 5), whose training flags are its own
    training's rather than the run's.
    """
    saved = saved_config(args.out) if args.out else None
    if args.config is None or (args.config == "auto" and saved):
        name = saved["name"] if saved else "auto"
    else:
        name = args.config
    config = resolve(name)
    if saved and saved["name"] != config.name:
        raise SystemExit(f"{args.out} holds a '{saved['name']}' run; use --config {saved['name']} "
                         f"or another --out for '{config.name}'")
    folder = args.out or default_folder(config.name)
    if saved:
        config, recorded = apply_flags(LessonConfig.from_dict(saved), args, folder, trains), None
    else:
        base, config = config, apply_flags(config, args)
        # lesson 5's training flags are its training's: a run it starts keeps the configuration's
        recorded = dataclasses.replace(config, **{EXPERIMENT_FLAGS[flag]: getattr(base, EXPERIMENT_FLAGS[flag])
                                                  for flag in TRAINING_FLAGS}) if trains else config
    check_network(config, bool(args.data))
    if not claim(folder):
        check_ours(folder, read_marker(folder))
    run = Run(folder, config, args, lessons_dir)
    if recorded:
        run.write_json("config.json", dataclasses.asdict(recorded))
    return run


def start(script, number, title, section, argv=None, parser=None, trains=False):
    """Parse the lesson's options, open its run folder, log to ``run.log``, print its header.

    ``section`` names the article's cell or figure the lesson serves; ``trains`` is lesson
    5's (see ``open_run``); the run is returned.
    """
    parser = parser or argument_parser(f"Lesson {number}: {title}")
    args = parser.parse_args(argv)
    run = open_run(args, os.path.dirname(os.path.abspath(script)), trains)
    tee_stdout(run.output("run.log"))
    rule = "=" * 78
    print(rule)
    print(f"Lesson {number}: {title}")
    print(f"Article: Erickson & Cai, Magician's Corner 4 (2020), {section}")
    print(f"Config: {run.config.name} ({run.config.about}); run folder: {run.folder}; device: {backend.device}")
    if run.config.name == "gpu" and backend.device != "gpu":
        print("Warning: the 'gpu' configuration (256 x 256, 82 subjects) on the CPU takes hours; "
              "--config cpu is the laptop lesson")
    print(rule, flush=True)
    return run
