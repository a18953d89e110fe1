"""A lesson's run folder: where every lesson writes, and how a lesson script starts.

A run folder (``runs/<config>/`` unless ``--out DIR``) collects everything the lessons
write (``OUTPUT_FILES``): ``config.json``, ``data.npz`` (the data of lesson 2, reused by the
later lessons), the figures, ``history.json`` / ``history.csv``, ``best.npz``,
``metrics.json`` and ``run.log`` (every lesson's output, appended).  A lesson that needs a
file an earlier lesson makes runs that lesson first (``Run.require``), so every script also
runs on its own.  Each file is listed in the folder's marker before it is written
(``Run.output``, see manifest.py), and a lesson refuses a folder holding a file of one of
these names that the lessons did not write.
"""

import dataclasses
import json
import os
import subprocess
import sys

from .. import backend
from ..fileio import atomic_write
from .config import CONFIGS, argument_parser, resolve
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
    """The configuration name in ``folder``/config.json, or None when there is none.

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
    return saved["name"]


def open_run(args, lessons_dir):
    """The run folder of ``args`` with its configuration, checked against the one it was made with."""
    saved = saved_config(args.out) if args.out else None
    if args.config is None or (args.config == "auto" and saved):
        name = saved or "auto"
    else:
        name = args.config
    config = resolve(name)
    if saved and saved != config.name:
        raise SystemExit(f"{args.out} holds a '{saved}' run; use --config {saved} "
                         f"or another --out for '{config.name}'")
    folder = args.out or default_folder(config.name)
    if not claim(folder):
        check_ours(folder, read_marker(folder))
    run = Run(folder, config, args, lessons_dir)
    if not saved:
        run.write_json("config.json", dataclasses.asdict(config))
    return run


def start(script, number, title, section, argv=None, parser=None):
    """Parse the lesson's options, open its run folder, log to ``run.log``, print its header.

    ``section`` names the article's cell or figure the lesson serves; the run is returned.
    """
    parser = parser or argument_parser(f"Lesson {number}: {title}")
    args = parser.parse_args(argv)
    run = open_run(args, os.path.dirname(os.path.abspath(script)))
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
