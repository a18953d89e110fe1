"""Models built from tinyunet's layers: the article's U-Net and the notebook's.

    unet.py        UNet: forward, the explicit backward, predict, evaluate, fit, summary
    presets.py     the two architectures, level by level ("article", "notebook")
    training.py    fit (epoch, validation, checkpoint steps), evaluate, positive_int
    history.py     History (per-epoch figures, as Keras's) and the progress lines
    checkpoint.py  weights and the state fit resumes from, as .npz (atomic, all-or-nothing)
"""

from .history import History
from .training import TrainingDiverged
from .unet import UNet

__all__ = ["UNet", "History", "TrainingDiverged"]
