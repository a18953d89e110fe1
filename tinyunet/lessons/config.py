"""The lesson's configurations and the options every lesson script takes.

    tiny   a smoke test for the test suite: 32 x 32 phantom slices, 6 subjects, 2 epochs
           (seconds); far too small for the U-Net to learn anything
    cpu    the laptop lesson: small slices, enough subjects and epochs that the U-Net
           clearly learns, learning rate 1e-3 (the rate the article suggests starting
           with), in a few minutes on 2 cores
    gpu    the article's data size (256 x 256, 82 subjects) and its 15 epochs, with the
           companion notebook's Adam rate 1e-4; batch 16 is tinyunet's choice (the article
           gives no batch size, and suggests that 1e-3 may work best)
    auto   gpu when a CUDA device answers, else cpu

The experiments the article invites are flags that replace a configuration's value:
``--lr``, ``--epochs``, ``--batch-size`` (the training), ``--preset``, ``--filters``,
``--normalization``, ``--upsampling``, ``--initializer`` (the network) and ``--organ``
(the data).  ``EXPERIMENT_FLAGS`` maps each flag to its ``LessonConfig`` field.
"""

import argparse
import dataclasses

from .. import backend


@dataclasses.dataclass(frozen=True)
class LessonConfig:
    """The numbers of one configuration of the lesson, with the experiment flags applied.

    ``filters``, ``normalization``, ``upsampling`` and ``initializer`` are None for the
    preset's own; ``organ`` names the phantom's organs (several give one-hot classes).
    """

    name: str
    image_size: int          # slices are image_size x image_size (a multiple of 2 ** levels)
    n_subjects: int          # phantom subjects, split by subject into train / validation / test
    epochs: int
    batch_size: int
    learning_rate: float
    preset: str = "article"
    seed: int = 0
    n_show: int = 4          # test images in Figure 4
    slices_per_subject: tuple = (12, 24)   # the phantom draws each subject's slice count from this range
    about: str = ""
    filters: tuple | None = None
    normalization: str | None = None
    upsampling: str | None = None
    initializer: str | None = None
    organ: tuple = ("pancreas",)

    @classmethod
    def from_dict(cls, saved):
        """The configuration a run's config.json holds (JSON lists back to tuples)."""
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {key: tuple(value) if isinstance(value, list) else value
                  for key, value in saved.items() if key in fields}
        return cls(**values)

    @property
    def classes(self):
        """Output channels: 1 (sigmoid) for one organ, else background + one per organ (softmax)."""
        return 1 if len(self.organ) == 1 else len(self.organ) + 1

    def phantom_organ(self):
        """The ``organ`` argument of ``make_phantom``: a name for one organ, a tuple for several."""
        return self.organ[0] if len(self.organ) == 1 else tuple(self.organ)

    def unet_options(self, classes=None):
        """The keyword arguments of ``UNet`` these flags set (the preset's value where unset)."""
        classes = self.classes if classes is None else classes
        options = {"filters": list(self.filters) if self.filters else None, "normalization": self.normalization,
                   "upsampling": self.upsampling, "kernel_initializer": self.initializer,
                   "classes": classes if classes != 1 else None}
        return {key: value for key, value in options.items() if value is not None}

    def experiment(self):
        """The values of every experiment flag, by flag name (what metrics.json records)."""
        return {flag: list(value) if isinstance(value, tuple) else value
                for flag, value in ((flag, getattr(self, field)) for flag, field in EXPERIMENT_FLAGS.items())}


CONFIGS = {
    "tiny": LessonConfig("tiny", image_size=32, n_subjects=6, epochs=2, batch_size=8, learning_rate=1e-3,
                         n_show=2, slices_per_subject=(4, 6),
                         about="a smoke test for the test suite: seconds, too small to learn"),
    "cpu": LessonConfig("cpu", image_size=96, n_subjects=32, epochs=12, batch_size=8, learning_rate=1e-3,
                        about="a laptop: minutes on 2 CPU cores"),
    "gpu": LessonConfig("gpu", image_size=256, n_subjects=82, epochs=15, batch_size=16, learning_rate=1e-4,
                        about="the article's 256 x 256 slices of 82 subjects, 15 epochs; the notebook's "
                              "Adam 1e-4; batch 16"),
}

CHOICES = tuple(CONFIGS) + ("auto",)

# flag -> LessonConfig field; the first three are the training's, lesson 5 may retrain with others
EXPERIMENT_FLAGS = {"lr": "learning_rate", "epochs": "epochs", "batch_size": "batch_size", "preset": "preset",
                    "filters": "filters", "normalization": "normalization", "upsampling": "upsampling",
                    "initializer": "initializer", "organ": "organ"}
TRAINING_FLAGS = ("lr", "epochs", "batch_size")
ORGANS = ("pancreas", "liver", "spleen", "kidneys")


def resolve(name):
    """The configuration called ``name``; "auto" is "gpu" when a CUDA device answers, else "cpu"."""
    if name == "auto":
        name = "gpu" if backend.gpu_available() else "cpu"
    if name not in CONFIGS:
        raise SystemExit(f"unknown --config {name!r}: choose from {', '.join(CHOICES)}")
    return CONFIGS[name]


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value
    return parse


def argument_parser(description):
    """The options every lesson takes: the run's, and the experiment flags (run_all adds
    --overwrite and --resume, lesson 5 too)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", choices=CHOICES, default=None,
                        help="tiny (tests), cpu (laptop), gpu (the article), auto (gpu if one answers, "
                             "else cpu); default: the run folder's, else auto")
    parser.add_argument("--out", default=None,
                        help="run folder (default runs/<config>); later lessons read what earlier ones wrote")
    parser.add_argument("--data", default=None,
                        help="a folder in the notebook's layout (trainimages/, trainmasks/, ...) "
                             "instead of the phantom")
    flags = parser.add_argument_group("experiments (default: the configuration's value, then the run folder's)")
    flags.add_argument("--lr", type=_positive(float), help="Adam's learning rate (the article: try 1e-3 to 1e-5)")
    flags.add_argument("--epochs", type=_positive(int), help="passes through the training split")
    flags.add_argument("--batch-size", type=_positive(int), help="slices per training step")
    flags.add_argument("--preset", choices=("article", "notebook"), help="the U-Net the other options start from")
    flags.add_argument("--filters", type=_positive(int), nargs="+", metavar="N",
                       help="filters per level, e.g. 8 16 32 64 (4 levels); 2 to 6 levels")
    flags.add_argument("--normalization", choices=("none", "every", "preset"),
                       help="LayerNormalization at no level, every level, or the preset's levels")
    flags.add_argument("--upsampling", choices=("transpose", "nearest", "bilinear"),
                       help="Conv2DTranspose, or UpSampling2D (nearest or bilinear) then a 2 x 2 convolution")
    flags.add_argument("--initializer", metavar="NAME",
                       help="Keras's name of the kernels' initializer, e.g. he_normal, glorot_uniform")
    flags.add_argument("--organ", nargs="+", choices=ORGANS, metavar="NAME",
                       help=f"the phantom's organs ({', '.join(ORGANS)}); several give one class each")
    parser.add_argument("--probabilities", action="store_true",
                        help="Figure 4 (lesson 6) gains a third column: the probability map, as a heat map")
    return parser
