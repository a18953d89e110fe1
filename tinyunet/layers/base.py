"""What every layer shares: building its weights, checking its input, its name.

A layer is one class whose ``forward`` sits directly above its ``backward``:

    build(input_shape, dtype="float32", check_finite=True)
        makes the weights in ``params`` (the first ``forward`` calls it when you
        have not; it never rebuilds).  ``check_finite=False`` builds a layer that
        does not check its inputs for NaN / inf: a model checks its own input once.
    forward(x) -> y
        keeps, in named attributes, what ``backward`` needs.
    backward(dy) -> dL/dx
        fills ``grads`` (same keys as ``params``).  The convolutions also take
        ``backward(dy, input_gradient=False)``, which fills ``grads`` and returns
        None: a network's first layer has no use for dL/dx.
    get_config() -> dict
        the constructor's arguments, JSON-able, as Keras's: ``type(layer)(**config)``
        builds the same layer (weights aside); see layers.serialize / deserialize.

The dtype rule: a layer computes in its weights' dtype, and a layer without
weights (pooling, upsampling, concatenation, activations) in the dtype it was
built with; its input, and the gradient given to ``backward``, are converted to
it.  A layer built for float16 therefore computes float64 input in float16, and
one built for float64 computes float32 input in float64.  ``build`` sets that
dtype (float32 by default); a layer that ``forward`` builds on first use takes
float32 when it has weights and, without weights, the first input's float dtype.
Complex input is refused rather than losing its imaginary part.
"""

import itertools

import numpy

from .. import backend

_counters = {}


def _auto_name(cls_name):
    special = {"ReLU": "relu", "Conv2D": "conv2d", "Conv2DTranspose": "conv2d_transpose",
               "MaxPooling2D": "max_pooling2d", "UpSampling2D": "up_sampling2d"}
    snake = special.get(cls_name) or "".join("_" + c.lower() if c.isupper() else c for c in cls_name).lstrip("_")
    counter = _counters.setdefault(snake, itertools.count(1))
    return f"{snake}_{next(counter)}"


def check_real(dtype, what):
    """ValueError unless ``dtype`` is a real number type (bool, int or float), naming it and ``what``."""
    if dtype is not None and numpy.dtype(dtype).kind not in "biuf":
        kind = "complex: its imaginary part would be lost" if numpy.dtype(dtype).kind == "c" else "not a number type"
        raise ValueError(f"{what} has dtype {numpy.dtype(dtype)}, which is {kind}; give real-valued arrays")


class Layer:
    """Base class: name, weights, dtype, and the input checks every layer makes.

    Args:
        name: used in error messages, in ``model.params`` keys and in summaries.
        seed: int or numpy Generator for the weight initialisers.

    Attributes:
        params: dict of the live weight arrays ``forward`` uses.
        grads: dict of dL/dweight, filled by ``backward``, keyed like ``params``.
        check_finite: when True (the default) ``forward`` refuses NaN or inf
            inputs.  It costs a device-to-host read on the GPU, so a model
            checks its own input once and builds its layers with
            ``build(..., check_finite=False)``.
    """

    weighted = False  # layers with weights compute in float32 unless built otherwise

    def __init__(self, name=None, seed=None):
        self.name = name or _auto_name(type(self).__name__)
        self.seed = seed
        self.params = {}
        self.grads = {}
        self.built = False
        self.input_shape = None
        self.dtype = None
        self.xp = None
        self.check_finite = True

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    def get_config(self):
        """The constructor's arguments as a JSON-able dict (this base: the name); subclasses add theirs."""
        return {"name": self.name}

    def build(self, input_shape, dtype="float32", check_finite=True):
        """Create the weights for a full NHWC ``input_shape``; a second call changes nothing.

        ``check_finite=False``: ``forward`` will not check its inputs for NaN / inf.
        """
        if self.built:
            return
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: expects NHWC input of rank 4, got shape {input_shape}")
        self.dtype = numpy.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"{self.name}: dtype must be a float type, not {dtype}")
        self.input_shape = input_shape
        self.check_finite = bool(check_finite)
        self.xp = backend.xp
        self.params = self.make_params(input_shape)
        self.grads = {}
        self.built = True

    def make_params(self, input_shape):
        """The weights, as a dict (none for most layers)."""
        return {}

    def output_shape(self, input_shape):
        """The NHWC output shape for an NHWC input shape (the same, unless overridden)."""
        return tuple(input_shape)

    def count_params(self):
        return int(sum(int(p.size) for p in self.params.values()))

    def input_channels(self):
        """The channel count the built weights expect (None: any)."""
        return None

    def prepare_input(self, x):
        """Build on first use, then return ``x`` as this layer's array type and dtype.

        Raises ValueError naming the layer and the shapes for a rank other than
        4, a dtype that is not real numbers (complex), a channel count other than
        the built weights', or NaN / inf values.
        """
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) != 4:
            raise ValueError(f"{self.name}: expects NHWC input of rank 4, got shape {shape}")
        check_real(getattr(x, "dtype", None), f"{self.name}: input of shape {shape}")
        if not self.built:
            dtype = "float32"
            if not self.weighted and numpy.dtype(getattr(x, "dtype", numpy.float32)).kind == "f":
                dtype = x.dtype
            self.build(shape, dtype=dtype)
        channels = self.input_channels()
        if channels is not None and shape[-1] != channels:
            raise ValueError(
                f"{self.name}: input has {shape[-1]} channels (shape {shape}) but the layer "
                f"was built for {channels} (input shape {self.input_shape})")
        x = self.as_layer_array(x)
        if self.check_finite and not bool(self.xp.isfinite(x).all()):
            raise ValueError(f"{self.name}: input of shape {shape} contains NaN or inf")
        return x

    def check_backward_ready(self, dy, expected_shape):
        """dy must match the shape forward returned."""
        if expected_shape is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        if tuple(dy.shape) != tuple(expected_shape):
            raise ValueError(
                f"{self.name}: gradient has shape {tuple(dy.shape)}, expected the forward "
                f"output's shape {tuple(expected_shape)}")
        return self.as_layer_array(dy)

    def as_layer_array(self, a):
        """a on this layer's device and in its dtype (no conversion, and no cost, when it already is)."""
        if type(a) is self.xp.ndarray and a.dtype == self.dtype:
            return a
        return self.xp.asarray(a, dtype=self.dtype) if self.xp is numpy else backend.to_device(a, self.dtype)
