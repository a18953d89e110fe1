"""What the lesson scripts in ``lessons/`` share.

    config.py  LessonConfig, CONFIGS (tiny, cpu, gpu), resolve ("auto"), argument_parser
    run.py     Run (the run folder), OUTPUT_FILES, default_folder, open_run, start
    tee.py     Tee: the lesson's output to the terminal and to run.log, closed at the end
    cache.py   save_data / load_data: lesson 2's splits in data.npz, 8-bit images as uint8

Example (the first lines of each lesson):
    >>> from tinyunet import lessons
    >>> run = lessons.start(__file__, 5, "Train the U-Net", "Cell 5")
    >>> splits, source = lessons.load_data(run)
"""

from .cache import load_data, save_data
from .config import CONFIGS, LessonConfig, argument_parser, resolve
from .run import OUTPUT_FILES, Run, default_folder, open_run, start
from .tee import Tee, tee_stdout

__all__ = ["LessonConfig", "CONFIGS", "resolve", "argument_parser", "Run", "OUTPUT_FILES", "default_folder",
           "open_run", "start", "Tee", "tee_stdout", "save_data", "load_data"]
