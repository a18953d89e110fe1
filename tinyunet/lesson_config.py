"""What the lesson scripts in ``lessons/`` share: the configurations and the run folder.

Three configurations (``--config``):

    tiny   for the tests: 32 x 32 phantom slices, a few subjects, 2 epochs (seconds)
    cpu    the laptop lesson: small slices, enough subjects and epochs that the U-Net
           clearly learns, learning rate 1e-3 (the article's suggestion to try), in a
           few minutes on 2 cores
    gpu    the article's setting: 256 x 256, 82 subjects, batch 16, 15 epochs, Adam 1e-4
    auto   gpu when a CUDA device answers, else cpu

A run folder (``runs/<config>/`` unless ``--out DIR``) collects everything the
lessons write: ``config.json``, ``data.npz`` (the data of lesson 2, reused by the
later lessons), the four figures, ``history.json`` / ``history.csv``, ``best.npz``,
``metrics.json`` and ``run.log`` (every lesson's output, appended).  A lesson that
needs a file an earlier lesson makes runs that lesson first (``Run.require``), so
every script also runs on its own.

Example (the first lines of each lesson):
    >>> from tinyunet import lesson_config
    >>> run = lesson_config.start(__file__, 5, "Train the U-Net", "Cell 5")
    >>> run.config.epochs, run.path("best.npz")
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys

import numpy

from . import backend
from .fileio import atomic_write

OUTPUT_FILES = ("config.json", "data.npz", "figure1_dice.png", "figure2_unet.png", "figure2_unet_notebook.png", "figure2_unet_article.png",
                "figure3_loss.png", "figure4_predictions.png", "history.json", "history.csv", "best.npz",
                "best.resume.npz", "training.json", "metrics.json", "run.log")


@dataclasses.dataclass(frozen=True)
class LessonConfig:
    """The numbers of one configuration of the lesson."""

    name: str
    image_size: int          # slices are image_size x image_size (a multiple of 32 for the article's U-Net)
    n_subjects: int          # phantom subjects, split by subject into train / validation / test
    epochs: int
    batch_size: int
    learning_rate: float
    preset: str = "article"
    seed: int = 0
    n_show: int = 4          # test images in Figure 4
    slices_per_subject: tuple = (12, 24)   # the phantom draws each subject's slice count from this range
    about: str = ""


CONFIGS = {
    "tiny": LessonConfig("tiny", image_size=32, n_subjects=6, epochs=2, batch_size=8, learning_rate=1e-3,
                         n_show=2, slices_per_subject=(4, 6), about="seconds: for the test suite"),
    "cpu": LessonConfig("cpu", image_size=96, n_subjects=32, epochs=12, batch_size=8, learning_rate=1e-3,
                        about="a laptop: minutes on 2 CPU cores"),
    "gpu": LessonConfig("gpu", image_size=256, n_subjects=82, epochs=15, batch_size=16, learning_rate=1e-4,
                        about="the article: 256 x 256, 82 subjects, batch 16, 15 epochs, Adam 1e-4"),
}


def resolve(name):
    """The configuration called ``name``; "auto" is "gpu" when a CUDA device answers, else "cpu"."""
    if name == "auto":
        name = "gpu" if backend.gpu_available() else "cpu"
    if name not in CONFIGS:
        raise SystemExit(f"unknown --config {name!r}: choose from tiny, cpu, gpu, auto")
    return CONFIGS[name]


def argument_parser(description):
    """The options every lesson takes (run_all adds --overwrite)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", choices=["tiny", "cpu", "gpu", "auto"], default=None,
                        help="tiny (tests), cpu (laptop), gpu (the article), auto (gpu if one answers, "
                             "else cpu); default: the run folder's, else auto")
    parser.add_argument("--out", default=None,
                        help="run folder (default runs/<config>); later lessons read what earlier ones wrote")
    parser.add_argument("--data", default=None,
                        help="a folder in the notebook's layout (trainimages/, trainmasks/, ...) "
                             "instead of the phantom")
    return parser


class Run:
    """A run folder and the configuration it was made with."""

    def __init__(self, folder, config, args, lessons_dir):
        self.folder, self.config, self.args, self.lessons_dir = folder, config, args, lessons_dir

    def path(self, name):
        return os.path.join(self.folder, name)

    def exists(self, name):
        return os.path.exists(self.path(name))

    def require(self, name, script):
        """Make sure ``name`` is in the run folder, running the earlier lesson ``script`` if not."""
        if self.exists(name):
            return self.path(name)
        print(f"[{name} is not in {self.folder} yet: running {script} first]", flush=True)
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
        atomic_write(self.path(name), lambda file: file.write(text))
        return self.path(name)

    def read_json(self, name):
        with open(self.path(name)) as file:
            return json.load(file)


class _Tee:
    """Writes to the terminal and appends to the run's log."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.stream.write(text)
        self.log.write(text)
        self.log.flush()
        return len(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False


def default_folder(config_name):
    return os.path.join("runs", config_name)


def open_run(args, lessons_dir):
    """The run folder of ``args`` with its configuration, checked against the one it was made with."""
    folder = args.out
    saved = None
    if folder and os.path.exists(os.path.join(folder, "config.json")):
        with open(os.path.join(folder, "config.json")) as file:
            saved = json.load(file)
    if args.config is None or (args.config == "auto" and saved):
        name = saved["name"] if saved else "auto"
    else:
        name = args.config
    config = resolve(name)
    if saved and saved["name"] != config.name:
        raise SystemExit(f"{folder} holds a '{saved['name']}' run; use --config {saved['name']} "
                         f"or another --out for '{config.name}'")
    folder = folder or default_folder(config.name)
    os.makedirs(folder, exist_ok=True)
    run = Run(folder, config, args, lessons_dir)
    if not saved:
        run.write_json("config.json", dataclasses.asdict(config))
    return run


def start(script, number, title, section, argv=None, parser=None):
    """Parse the lesson's options, open its run folder, log to ``run.log``, print its header."""
    parser = parser or argument_parser(f"Lesson {number}: {title}")
    args = parser.parse_args(argv)
    run = open_run(args, os.path.dirname(os.path.abspath(script)))
    sys.stdout = _Tee(sys.stdout, open(run.path("run.log"), "a"))
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


# ----------------------------------------------------------------------------- the data cache

def save_data(run, splits, source):
    """Keep lesson 2's splits in ``data.npz`` (8-bit images stay 8-bit) with where they came from."""
    arrays = {}
    for name, split in splits.items():
        images = split.images
        as_bytes = numpy.round(images * 255)
        exact = numpy.array_equal(as_bytes / numpy.float32(255), images)
        arrays[f"{name}_images"] = as_bytes.astype(numpy.uint8) if exact else images
        arrays[f"{name}_masks"] = (split.masks > 0.5).astype(numpy.uint8)
        arrays[f"{name}_names"] = numpy.array(split.names, dtype=str)
        arrays[f"{name}_subjects"] = numpy.array([str(s) for s in split.subjects or []], dtype=str)
    arrays["source"] = numpy.array(source)
    atomic_write(run.path("data.npz"), lambda file: numpy.savez(file, **arrays))


def load_data(run):
    """(splits, source) from ``data.npz``, running lesson 2 first when it is missing."""
    from .data.splits import Split, Splits

    run.require("data.npz", "lesson2_load_data.py")
    with numpy.load(run.path("data.npz"), allow_pickle=False) as data:
        parts = {}
        for name in ("train", "validation", "test"):
            images = data[f"{name}_images"]
            if images.dtype == numpy.uint8:
                images = images.astype(numpy.float32) / numpy.float32(255)
            subjects = [str(s) for s in data[f"{name}_subjects"]] or None
            parts[name] = Split(images, data[f"{name}_masks"].astype(numpy.float32),
                                [str(n) for n in data[f"{name}_names"]], subjects)
        source = str(data["source"])
    if run.args.data and source != f"folders:{run.args.data}":
        raise SystemExit(f"{run.path('data.npz')} holds data from {source}, not {run.args.data}: "
                         "use another --out for other data")
    return Splits(**parts), source
