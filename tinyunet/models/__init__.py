"""Models built from tinyunet's layers: the article's U-Net, the notebook's, and your own.

    model.py       Model: what every model shares (predict, evaluate, fit, saving, summary, feature maps)
    unet.py        UNet: the U with its skips, forward and the explicit backward
    presets.py     the U-Net's configuration: the two presets, the arguments that vary them, its layers
    sequential.py  Sequential: one layer per line, as in Keras
    loading.py     load_model: a model rebuilt from its weights file alone
    step.py        train_step: one training step, as a reader writes it
    training.py    fit (epoch, validation, checkpoint steps), evaluate, positive_int
    graph_step.py  GraphStep: the training step as a CUDA graph (fit(..., cuda_graph=True))
    history.py     History (per-epoch figures, as Keras's) and the progress lines
    checkpoint.py  weights and the state fit resumes from, as .npz (atomic, all-or-nothing)
"""

from .history import History
from .loading import load_model
from .model import Model
from .sequential import Sequential
from .training import TrainingDiverged
from .unet import UNet

__all__ = ["UNet", "Sequential", "Model", "load_model", "History", "TrainingDiverged"]
