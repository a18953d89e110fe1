"""The layers the article names, each with its forward and backward side by side.

    Conv2D, Conv2DTranspose       conv.py           (each the other's adjoint)
    MaxPooling2D                  pooling.py
    UpSampling2D                  reshaping.py      (nearest or bilinear)
    LayerNormalization            normalization.py
    ReLU, Sigmoid, Softmax        activations.py    (also fused into the convolutions)
    Concatenate                   merge.py
    serialize, deserialize        serialization.py  (a layer as a JSON-able dict and back)
    conv_transpose_by_zero_insertion, insert_zeros
                                  zero_insertion.py (Conv2DTranspose as zeros inserted, then a convolution)
"""

from .activations import ReLU, Sigmoid, Softmax
from .base import Layer
from .conv import Conv2D, Conv2DTranspose
from .merge import Concatenate
from .normalization import LayerNormalization
from .pooling import MaxPooling2D
from .reshaping import UpSampling2D
from .serialization import deserialize, serialize
from .zero_insertion import conv_transpose_by_zero_insertion, insert_zeros

__all__ = ["Layer", "Conv2D", "Conv2DTranspose", "MaxPooling2D", "UpSampling2D",
           "LayerNormalization", "ReLU", "Sigmoid", "Softmax", "Concatenate", "serialize", "deserialize",
           "conv_transpose_by_zero_insertion", "insert_zeros"]
