"""The lesson's configurations and the options every lesson script takes.

    tiny   for the tests: 32 x 32 phantom slices, a few subjects, 2 epochs (seconds)
    cpu    the laptop lesson: small slices, enough subjects and epochs that the U-Net
           clearly learns, learning rate 1e-3 (the article's suggestion to try), in a
           few minutes on 2 cores
    gpu    the article's setting: 256 x 256, 82 subjects, batch 16, 15 epochs, Adam 1e-4
    auto   gpu when a CUDA device answers, else cpu
"""

import argparse
import dataclasses

from .. import backend


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

CHOICES = tuple(CONFIGS) + ("auto",)


def resolve(name):
    """The configuration called ``name``; "auto" is "gpu" when a CUDA device answers, else "cpu"."""
    if name == "auto":
        name = "gpu" if backend.gpu_available() else "cpu"
    if name not in CONFIGS:
        raise SystemExit(f"unknown --config {name!r}: choose from {', '.join(CHOICES)}")
    return CONFIGS[name]


def argument_parser(description):
    """The options every lesson takes (run_all adds --overwrite and --resume, lesson 5 also --epochs)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", choices=CHOICES, default=None,
                        help="tiny (tests), cpu (laptop), gpu (the article), auto (gpu if one answers, "
                             "else cpu); default: the run folder's, else auto")
    parser.add_argument("--out", default=None,
                        help="run folder (default runs/<config>); later lessons read what earlier ones wrote")
    parser.add_argument("--data", default=None,
                        help="a folder in the notebook's layout (trainimages/, trainmasks/, ...) "
                             "instead of the phantom")
    return parser
