"""Sequential: a network written one layer per line, as in Keras, trained by the same ``fit``.

    forward:   h_0 = x,  h_k = layer_k(h_{k-1}),  y = h_n
    backward:  dh_n = dL/dy,  dh_{k-1} = layer_k.backward(dh_k)   (last layer first)

Each layer's backward also fills its ``grads``: the chain rule, applied one
layer at a time.  The layers are built on the first batch (or at once when
``input_shape`` is given), so a convolution learns its input channels from the data.

Example:
    >>> model = Sequential([
    ...     Conv2D(8, 3, activation="relu"),
    ...     MaxPooling2D(2),
    ...     Conv2D(8, 3, activation="relu"),
    ...     UpSampling2D(2),
    ...     Conv2D(1, 1, activation="sigmoid"),
    ... ], input_shape=(64, 64, 1))
    >>> model.summary()
    >>> model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=5)
"""

import numpy

from ..layers import Concatenate, Conv2D, Conv2DTranspose, deserialize, serialize
from ..layers.base import Layer
from .model import Model, backward_layers, run_layers

# arguments that change a layer's starting weights, not its network: left out when files compare
_NOT_ARCHITECTURE = ("seed", "kernel_initializer", "bias_initializer")


class Sequential(Model):
    """A plain stack of layers, each feeding the next.

    Args:
        layers: built-in layers (Concatenate takes two inputs, so it cannot be in a chain).
        input_shape: (H, W, C) of one image; None builds the layers on the first batch.
        dtype: "float32" (training) or "float64" (gradient checks).
        name: the model's name in ``summary``.
    """

    def __init__(self, layers, input_shape=None, dtype="float32", name="sequential"):
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential: give at least one layer")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"Sequential: item {index} is {layer!r}, not a tinyunet layer")
            if isinstance(layer, Concatenate):
                raise ValueError(f"Sequential: {layer.name} (Concatenate) joins two inputs; a Sequential is a "
                                 "chain of one input each (the U-Net's skips need UNet)")
        names = [layer.name for layer in layers]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"Sequential: layer names must differ; {', '.join(twice)} used more than once")
        self.layers, self.dtype, self.kind = layers, numpy.dtype(dtype), name
        self.input_shape, self.shapes, self.built = None, {}, False
        if input_shape is not None:
            self.build((None,) + tuple(input_shape))

    def build(self, input_shape, dtype=None):
        """Build every layer for NHWC ``input_shape`` (the batch may be None), as Keras's ``model.build``."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(f"Sequential.build: expects (N, H, W, C), got {input_shape}")
        if dtype is not None:
            self.dtype = numpy.dtype(dtype)
        shape = (1,) + tuple(int(d) for d in input_shape[1:])
        for layer in self.layers:
            layer.build(shape, dtype=self.dtype, check_finite=False)   # the model checks its input once
            shape = layer.output_shape(shape)
            self.shapes[layer.name] = shape
        self.input_shape, self.built = tuple(input_shape[1:]), True

    @property
    def config(self):
        """{"layers": each layer's serialize() dict, "input_shape", "dtype", "name"}: JSON-able."""
        self._require_built("config")
        return {"layers": [serialize(layer) for layer in self.layers], "input_shape": list(self.input_shape),
                "dtype": str(self.dtype), "name": self.kind}

    @classmethod
    def from_config(cls, config):
        """A new Sequential (fresh weights) from ``config``."""
        return cls([deserialize(spec) for spec in config["layers"]], input_shape=config["input_shape"],
                   dtype=config["dtype"], name=config.get("name", "sequential"))

    def architecture_summary(self):
        """Each layer's class and arguments, less those that only change the starting weights."""
        chain = []
        for layer in self.layers:
            config = {k: v for k, v in layer.get_config().items() if k not in _NOT_ARCHITECTURE}
            chain.append([type(layer).__name__, config])
        return {"layers": chain}

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"Sequential.{what}: the layers are not built yet: give input_shape, call "
                             "build((None, H, W, C)), or run a batch through the model first")

    # ----------------------------------------------------------------- shapes

    def check_images(self, x, what="input"):
        if not self.built and len(getattr(x, "shape", ())) == 4:
            self.build((None,) + tuple(x.shape[1:]))
        return super().check_images(x, what)

    def check_input_size(self, height, width):
        """Sizes the layers cannot take (a pooling of an odd side, say) are refused by them, named."""
        self.output_shape_for((1, height, width, self.input_shape[-1]))

    def output_shape_for(self, x_shape):
        self._require_built("output_shape_for")
        shape = tuple(x_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    # ----------------------------------------------------------------- forward and backward

    def _run(self, x, record):
        return run_layers(self.layers, x, record)

    def backward(self, dy, input_gradient=True):
        """dL/dx from dL/dy, last layer first; fills every layer's ``grads``.

        ``input_gradient=False`` (what ``fit`` passes) lets a first convolution skip dL/dx.
        """
        skip = not input_gradient and isinstance(self.layers[0], (Conv2D, Conv2DTranspose))
        return backward_layers(self.layers, dy, input_gradient=not skip)

    def _summary_rows(self):
        self._require_built("summary")
        rows = [(f"{layer.name} ({type(layer).__name__})", (None,) + tuple(self.shapes[layer.name][1:]),
                 layer.count_params()) for layer in self.layers]
        return ("Layer (type)", "Output Shape", "Param #"), rows
