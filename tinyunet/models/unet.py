"""The U-Net of the article (and of its companion notebook), built from tinyunet's layers.

A U-Net halves the image at each level on the way down (convolution, then max
pooling), keeping each level's features as a *skip*; on the way up it doubles
the image again (transposed convolution, or upsampling + convolution) and
concatenates the skip of the same level before convolving, so fine detail
lost by pooling comes back for precise boundaries (Ronneberger et al. 2015;
the article's Figure 2).

Presets (presets.py): "article", the article's five levels with transposed convolutions
on the way up, 600,761 parameters at 256 x 256 x 1; "notebook", the notebook's Cell 4,
four levels, a bottleneck and UpSampling2D + convolution on the way up.  Every experiment
the article invites is one argument: ``filters`` (and so the number of levels),
``kernel_sizes``, ``normalization``, ``upsampling``, ``kernel_initializer``,
``bottleneck_filters`` and ``classes``; ``model.config`` rebuilds the same network.

The backward pass is written out below (``backward``): the gradient runs back
through the output convolution, then up level by up level, where
Concatenate.backward splits it into the part for the skip and the part for
the upsampling path; each skip gradient is *added* to the gradient coming
back through that level's pooling, because a level's output fed both.

Example:
    >>> model = UNet("article", input_shape=(256, 256, 1), seed=0)
    >>> model.summary()
    >>> history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=15)
    >>> probabilities = model.predict(x_test)
    >>> UNet("article", filters=[8, 16, 32, 64], normalization="none", upsampling="bilinear")
    >>> UNet("article", classes=4)          # background + liver, spleen, pancreas: softmax
"""

import numbers

import numpy

from ..layers.conv import initializer_name
from .model import Model, backward_layers, run_layers
from .presets import DownLevel, UpLevel, architecture, build_layers, resolve

__all__ = ["UNet", "DownLevel", "UpLevel"]


class UNet(Model):
    """The article's U-Net (``preset="article"``) or the notebook's (``preset="notebook"``), or a variant.

    Args:
        preset: "article" (default) or "notebook": the values every None below takes.
        input_shape: (H, W, C) of one image; H and W must be divisible by 2 ** levels
            (32 for "article", 16 for "notebook"). Other sizes divisible the same way
            can be used later: the network is fully convolutional.
        seed: seeds every layer's initialiser (same seed, same weights).
        dtype: "float32" (training) or "float64" (gradient checks).
        filters: filters per level, e.g. [8, 16, 32, 64]; its length is the number of
            levels (2 to 6).  "Having fewer filters ... too many will waste memory and
            may also result in overfitting" (the article).
        kernel_sizes: the down path's kernel sizes, an int or one per level (default 5
            at level 1, 3 below); the up path's convolutions stay 3 x 3.
        normalization: "preset", "none", "every", or the levels to normalise on each
            path, {"down": [1, 3], "up": [4, 2]} (or a pair of lists).  A normalised
            level uses a linear convolution followed by LayerNormalization, the others
            a ReLU convolution.
        upsampling: "transpose" (Conv2DTranspose 2 x 2, stride 2), or "nearest" /
            "bilinear" (UpSampling2D, then a 2 x 2 convolution, as the notebook).
        kernel_initializer: a Keras name (tinyunet.initializers) or a callable, for every
            convolution but the output one (which keeps glorot_uniform).
        bottleneck_filters: 0 for none, else a 3 x 3 ReLU convolution below the U.
        classes: 1 gives one sigmoid channel (masks (N, H, W, 1)); K >= 2 gives K softmax
            channels for one-hot masks (N, H, W, K), the background first.

    Attributes:
        layers: every layer in the order ``forward`` runs them.
        down, bottleneck, up, output: the U's levels (``DownLevel``, ``UpLevel``) and layers.
        params / grads: flat dicts "<layer name>/<param>" -> the live arrays.
        config: the arguments as a JSON-able dict: ``UNet(**model.config)`` is this network.
    """

    def __init__(self, preset="article", input_shape=(256, 256, 1), seed=0, dtype="float32", *, filters=None,
                 kernel_sizes=None, normalization=None, upsampling=None, kernel_initializer=None,
                 bottleneck_filters=None, classes=1):
        self.architecture = resolve(preset, filters, kernel_sizes, normalization, upsampling, kernel_initializer,
                                    bottleneck_filters, classes)
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"UNet: input_shape is (height, width, channels), got {input_shape}")
        if input_shape[2] < 1:
            raise ValueError(f"UNet: input_shape {input_shape}: channels must be at least 1, got {input_shape[2]}")
        self.preset, self.seed, self.dtype = preset, seed, numpy.dtype(dtype)
        self.kind = f"unet_{preset}"
        seeds = iter(numpy.random.SeedSequence(seed).spawn(64))
        generators = (numpy.random.default_rng(s) for s in seeds)
        self.down, self.bottleneck, self.up, self.output = build_layers(preset, self.architecture, generators)
        self.levels = len(self.down)
        self.layers = []
        for level in self.down:
            self.layers += level.block + [level.pool]
        self.layers += self.bottleneck
        for level in self.up:
            self.layers += level.up + [level.concat] + level.conv
        self.layers.append(self.output)
        self.input_shape = input_shape
        self.check_input_size(input_shape[0], input_shape[1])
        self.shapes = self._build((1,) + input_shape)

    @property
    def config(self):
        """The constructor's arguments, JSON-able: ``UNet(**model.config)`` builds this network.

        A callable ``kernel_initializer`` that is not one of tinyunet.initializers has no name
        a file can hold: asking for the config is then a ValueError naming it.
        """
        initializer = self.architecture["kernel_initializer"]
        if callable(initializer):
            initializer = initializer_name(initializer, "UNet", "kernel_initializer")
        seed = int(self.seed) if isinstance(self.seed, numbers.Integral) else None
        return {"preset": self.preset, "input_shape": list(self.input_shape), "seed": seed,
                "dtype": str(self.dtype), **self.architecture, "kernel_initializer": initializer}

    def architecture_summary(self):
        """The configuration less seed, dtype, input size and initializer: what weights files compare."""
        return architecture(self.preset, self.architecture)

    # ----------------------------------------------------------------- construction

    def _build(self, shape):
        """Build every layer by walking the graph with shapes; returns {layer name: output shape}."""
        shapes = {}

        def run(layers, shape):
            for layer in layers:
                layer.build(shape, dtype=self.dtype, check_finite=False)  # the model checks its input once
                shape = layer.output_shape(shape)
                shapes[layer.name] = shape
            return shape

        skips = []
        for level in self.down:
            shape = run(level.block, shape)
            skips.append(shape)
            shape = run([level.pool], shape)
        shape = run(self.bottleneck, shape)
        for level, skip in zip(self.up, reversed(skips)):
            shape = run(level.up, shape)
            level.concat.build(shape, dtype=self.dtype, check_finite=False)
            shape = level.concat.output_shape([skip, shape])
            shapes[level.concat.name] = shape
            shape = run(level.conv, shape)
        run([self.output], shape)
        return shapes

    def check_input_size(self, height, width):
        """H and W must be divisible by 2 ** levels; the error names sizes that would work."""
        factor = 2 ** self.levels
        if height % factor or width % factor or height < factor or width < factor:
            def near(n):
                low = max(factor, n - n % factor)
                return f"{low}" if low >= n else f"{low} or {low + factor}"
            raise ValueError(
                f"UNet ({self.preset}, {self.levels} levels): height and width must be multiples of {factor} "
                f"(the image is halved {self.levels} times); got {height} x {width}, "
                f"try {near(height)} x {near(width)}")

    def output_shape_for(self, x_shape):
        """(N, H, W, classes) for images (N, H, W, C): one channel per class, or one for a sigmoid mask."""
        return tuple(x_shape[:3]) + (self.output.filters,)

    def skip_sources(self):
        """{concatenate layer name: name of the layer whose output is its skip input}."""
        return {up.concat.name: down.block[-1].name for down, up in zip(reversed(self.down), self.up)}

    # ----------------------------------------------------------------- forward and backward

    def _run(self, x, record):
        """Probabilities (N, H, W, classes) for checked images x; every output kept in ``record`` (a dict)."""
        h = x
        skips = []
        for level in self.down:
            h = run_layers(level.block, h, record)
            skips.append(h)                         # the level's output goes to the skip ...
            h = run_layers([level.pool], h, record)  # ... and down the contracting path
        h = run_layers(self.bottleneck, h, record)
        for level, skip in zip(self.up, reversed(skips)):
            up = run_layers(level.up, h, record)
            h = level.concat.forward([skip, up])    # skip first, as the notebook's concatenate([conv, up])
            if record is not None:
                record[level.concat.name] = h
            h = run_layers(level.conv, h, record)
        return run_layers([self.output], h, record)

    def backward(self, dy, input_gradient=True):
        """dL/dx from dL/dy (the loss's gradient); fills every layer's ``grads``.

        ``input_gradient=False`` skips dL/dx, which training never uses (the first
        convolution then returns None): ``fit`` passes it, as PyTorch skips the
        gradient of an input that does not require one.
        """
        dh = self.output.backward(dy)
        dskips = []                                 # filled shallowest level first
        for level in reversed(self.up):             # shallowest up level first: the reverse of forward
            dh = backward_layers(level.conv, dh)
            dskip, dup = level.concat.backward(dh)  # split the gradient along the channels
            dskips.append(dskip)
            dh = backward_layers(level.up, dup)
        dh = backward_layers(self.bottleneck, dh)
        for level, dskip in zip(reversed(self.down), reversed(dskips)):   # deepest level first
            dh = level.pool.backward(dh)
            # the block's output fed both the pool and the skip: its gradient is the sum of both
            dh += dskip
            # the first level's first layer is the network's first convolution
            dh = backward_layers(level.block, dh, input_gradient or level is not self.down[0])
        return dh

    def _summary_rows(self):
        skip_of = self.skip_sources()
        rows, previous = [("input (Input)", (None,) + self.input_shape, 0, "")], "input"
        for layer in self.layers:
            source = f"{skip_of[layer.name]}, {previous}" if layer.name in skip_of else previous
            rows.append((f"{layer.name} ({type(layer).__name__})", (None,) + tuple(self.shapes[layer.name][1:]),
                         layer.count_params(), source))
            previous = layer.name
        return ("Layer (type)", "Output Shape", "Param #", "Connected to"), rows
