"""Models built from tinyunet's layers: the article's U-Net and the notebook's.

    unet.py      UNet: the presets, forward, the explicit backward, predict, summary
    training.py  fit, evaluate, History, checkpoints and resuming
    weights.py   save_weights / load_weights (.npz, atomic, all-or-nothing)
"""

from .training import History, TrainingDiverged
from .unet import UNet

__all__ = ["UNet", "History", "TrainingDiverged"]
