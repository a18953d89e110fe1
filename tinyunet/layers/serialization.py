"""A layer as a JSON-able dict and back, as Keras's ``keras.layers.serialize`` / ``deserialize``.

    serialize(layer)  -> {"class_name": "Conv2D", "config": layer.get_config()}
    deserialize(d)    -> LAYERS[d["class_name"]](**d["config"])    (a new, unbuilt layer)

A config holds the constructor's arguments only, never the weights: a rebuilt
layer draws them again from its seed, or a weights file fills them in.

Example:
    >>> d = serialize(Conv2D(8, 3, activation="relu", name="conv1", seed=0))
    >>> json.dumps(d)              # '{"class_name": "Conv2D", "config": {"name": "conv1", ...}}'
    >>> deserialize(d)             # Conv2D(name='conv1'), same arguments
"""

from .activations import ReLU, Sigmoid, Softmax
from .conv import Conv2D, Conv2DTranspose
from .merge import Concatenate
from .normalization import LayerNormalization
from .pooling import MaxPooling2D
from .reshaping import UpSampling2D

LAYERS = {cls.__name__: cls for cls in (Conv2D, Conv2DTranspose, MaxPooling2D, UpSampling2D, LayerNormalization,
                                        ReLU, Sigmoid, Softmax, Concatenate)}


def serialize(layer):
    """{"class_name": the layer's class, "config": its get_config()}, for a built-in layer."""
    class_name = type(layer).__name__
    if LAYERS.get(class_name) is not type(layer):
        raise ValueError(f"serialize: {layer!r} is not a built-in layer ({', '.join(LAYERS)})")
    return {"class_name": class_name, "config": layer.get_config()}


def deserialize(spec):
    """A new (unbuilt) layer from serialize's dict; ValueError naming what is wrong with it."""
    if not isinstance(spec, dict) or set(spec) != {"class_name", "config"}:
        raise ValueError(f"deserialize: expects a dict with the keys 'class_name' and 'config', not {spec!r}")
    class_name, config = spec["class_name"], spec["config"]
    if class_name not in LAYERS:
        raise ValueError(f"deserialize: unknown layer class {class_name!r}; choose one of {', '.join(LAYERS)}")
    if not isinstance(config, dict):
        raise ValueError(f"deserialize: the config of {class_name} must be a dict, not {config!r}")
    try:
        return LAYERS[class_name](**config)
    except TypeError as error:
        # an argument the class does not take: name the class and the argument
        raise ValueError(f"deserialize: {class_name} config {config!r}: {error}") from None
