"""The layers the article names, each with its forward and backward side by side.

    Conv2D, Conv2DTranspose       conv.py           (each the other's adjoint)
    MaxPooling2D                  pooling.py
    UpSampling2D                  reshaping.py
    LayerNormalization            normalization.py
    ReLU, Sigmoid                 activations.py    (also fused into the convolutions)
    Concatenate                   merge.py
"""

from .activations import ReLU, Sigmoid
from .base import Layer
from .conv import Conv2D, Conv2DTranspose
from .merge import Concatenate
from .normalization import LayerNormalization
from .pooling import MaxPooling2D
from .reshaping import UpSampling2D

__all__ = ["Layer", "Conv2D", "Conv2DTranspose", "MaxPooling2D", "UpSampling2D",
           "LayerNormalization", "ReLU", "Sigmoid", "Concatenate"]
