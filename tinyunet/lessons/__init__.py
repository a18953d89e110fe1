"""What the lesson scripts in ``lessons/`` share.

    config.py    LessonConfig, CONFIGS (tiny, cpu, gpu), resolve ("auto"), argument_parser with the
                 experiment flags (EXPERIMENT_FLAGS, TRAINING_FLAGS)
    run.py       Run (the run folder), default_folder, saved_config, open_run (config.json and
                 the experiment flags), flag_name, start
    manifest.py  the run folder's claim and marker: OUTPUT_FILES, claim, claim_new, holds_a_run,
                 clear (--overwrite), release (after a failed run)
    tee.py       Tee: the lesson's output to the terminal and to run.log, closed at the end
    cache.py     save_data / load_data: lesson 2's splits in data.npz, 8-bit images as uint8

Example (the first lines of each lesson):
    >>> from tinyunet import lessons
    >>> run = lessons.start(__file__, 5, "Train the U-Net", "Cell 5")
    >>> splits, source = lessons.load_data(run)
"""

from .cache import load_data, save_data
from .config import CONFIGS, EXPERIMENT_FLAGS, TRAINING_FLAGS, LessonConfig, argument_parser, resolve
from .manifest import MARKER, OUTPUT_FILES, claim, claim_new, clear, holds_a_run, release
from .run import Run, default_folder, flag_name, open_run, saved_config, start
from .tee import Tee, tee_stdout

__all__ = ["LessonConfig", "CONFIGS", "EXPERIMENT_FLAGS", "TRAINING_FLAGS", "resolve", "argument_parser", "Run",
           "OUTPUT_FILES", "default_folder", "flag_name", "open_run", "saved_config", "start", "Tee", "tee_stdout",
           "save_data", "load_data", "MARKER", "claim", "claim_new", "holds_a_run", "clear", "release"]
