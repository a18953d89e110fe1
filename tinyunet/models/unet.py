"""The U-Net of the article (and of its companion notebook), built from tinyunet's layers.

A U-Net halves the image at each level on the way down (convolution, then max
pooling), keeping each level's features as a *skip*; on the way up it doubles
the image again (transposed convolution, or upsampling + convolution) and
concatenates the skip of the same level before convolving, so fine detail
lost by pooling comes back for precise boundaries (Ronneberger et al. 2015;
the article's Figure 2).

Presets (presets.py): "article", the article's five levels with transposed convolutions
on the way up, 600,761 parameters at 256 x 256 x 1; "notebook", the notebook's Cell 4,
four levels, a bottleneck and UpSampling2D + convolution on the way up.

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
"""

import numpy

from .. import backend
from ..layers import Conv2D
from ..layers.base import check_real
from . import checkpoint, training
from .presets import PRESETS, DownLevel, UpLevel

__all__ = ["UNet", "DownLevel", "UpLevel"]


class UNet:
    """The article's U-Net (``preset="article"``) or the notebook's (``preset="notebook"``).

    Args:
        preset: "article" (default) or "notebook".
        input_shape: (H, W, C) of one image; H and W must be divisible by 2 ** levels
            (32 for "article", 16 for "notebook"). Other sizes divisible the same way
            can be used later: the network is fully convolutional.
        seed: seeds every layer's initialiser (same seed, same weights).
        dtype: "float32" (training) or "float64" (gradient checks).

    Attributes:
        layers: every layer in the order ``forward`` runs them.
        params / grads: flat dicts "<layer name>/<param>" -> the live arrays.
    """

    def __init__(self, preset="article", input_shape=(256, 256, 1), seed=0, dtype="float32"):
        if preset not in PRESETS:
            raise ValueError(f"UNet: preset must be one of {tuple(PRESETS)}, not {preset!r}")
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"UNet: input_shape is (height, width, channels), got {input_shape}")
        if input_shape[2] < 1:
            raise ValueError(f"UNet: input_shape {input_shape}: channels must be at least 1, got {input_shape[2]}")
        self.preset, self.seed, self.dtype = preset, seed, numpy.dtype(dtype)
        seeds = iter(numpy.random.SeedSequence(seed).spawn(64))
        generators = (numpy.random.default_rng(s) for s in seeds)
        self.down, self.bottleneck, self.up = PRESETS[preset](generators)
        self.output = Conv2D(1, 1, activation="sigmoid", kernel_initializer="glorot_uniform",
                             name="output" if preset == "article" else "conv10", seed=next(generators))
        self.levels = len(self.down)
        self.layers = []
        for level in self.down:
            self.layers += level.block + [level.pool]
        self.layers += self.bottleneck
        for level in self.up:
            self.layers += level.up + [level.concat] + level.conv
        self.layers.append(self.output)
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise RuntimeError(f"UNet: duplicate layer names in {names}")
        self.input_shape = input_shape
        self.check_input_size(input_shape[0], input_shape[1])
        self.shapes = self._build((1,) + input_shape)

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
                f"UNet ({self.preset}): height and width must be multiples of {factor} "
                f"(the image is halved {self.levels} times); got {height} x {width}, "
                f"try {near(height)} x {near(width)}")

    def skip_sources(self):
        """{concatenate layer name: name of the layer whose output is its skip input}."""
        return {up.concat.name: down.block[-1].name for down, up in zip(reversed(self.down), self.up)}

    @property
    def params(self):
        return {f"{layer.name}/{key}": value for layer in self.layers for key, value in layer.params.items()}

    @property
    def grads(self):
        return {f"{layer.name}/{key}": value for layer in self.layers for key, value in layer.grads.items()}

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    # ----------------------------------------------------------------- forward and backward

    def forward(self, x, check=True):
        """Probabilities (N, H, W, 1) for images x (N, H, W, C).

        With ``check`` (the default) the input's shape and values are validated
        first: that reads one flag back from the GPU, so ``fit`` validates its
        data once and calls ``forward(x, check=False)`` inside the loop.
        """
        if check:
            x = self.check_images(x, "forward")
        if x.shape[0] == 0:   # no images: no output pixels (the layers need at least one)
            return backend.xp.zeros(tuple(x.shape[:3]) + (1,), dtype=self.dtype)
        h = x
        skips = []
        for level in self.down:
            h = _forward(level.block, h)
            skips.append(h)                         # the level's output goes to the skip ...
            h = level.pool.forward(h)               # ... and down the contracting path
        h = _forward(self.bottleneck, h)
        for level, skip in zip(self.up, reversed(skips)):
            up = _forward(level.up, h)
            h = level.concat.forward([skip, up])    # skip first, as the notebook's concatenate([conv, up])
            h = _forward(level.conv, h)
        return self.output.forward(h)

    def backward(self, dy, input_gradient=True):
        """dL/dx from dL/dy (the loss's gradient); fills every layer's ``grads``.

        ``input_gradient=False`` skips dL/dx, which training never uses (the first
        convolution then returns None): ``fit`` passes it, as PyTorch skips the
        gradient of an input that does not require one.
        """
        dh = self.output.backward(dy)
        dskips = []                                 # filled shallowest level first
        for level in reversed(self.up):             # shallowest up level first: the reverse of forward
            dh = _backward(level.conv, dh)
            dskip, dup = level.concat.backward(dh)  # split the gradient along the channels
            dskips.append(dskip)
            dh = _backward(level.up, dup)
        dh = _backward(self.bottleneck, dh)
        for level, dskip in zip(reversed(self.down), reversed(dskips)):   # deepest level first
            dh = level.pool.backward(dh)
            # the block's output fed both the pool and the skip: its gradient is the sum of both
            dh += dskip
            # the first level's first layer is the network's first convolution
            dh = _backward(level.block, dh, input_gradient or level is not self.down[0])
        return dh

    # ----------------------------------------------------------------- inputs

    def check_images(self, x, what="input"):
        """x as an array on the active device, or a ValueError naming the problem."""
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) != 4:
            raise ValueError(f"UNet.{what}: expects images of shape (N, H, W, C), got shape {shape}")
        check_real(getattr(x, "dtype", None), f"UNet.{what}: images of shape {shape}")
        if shape[-1] != self.input_shape[-1]:
            raise ValueError(f"UNet.{what}: images have {shape[-1]} channels (shape {shape}); "
                             f"the model was built for {self.input_shape[-1]}")
        self.check_input_size(shape[1], shape[2])
        x = backend.to_device(x, self.dtype)
        if not bool(backend.xp.isfinite(x).all()):
            raise ValueError(f"UNet.{what}: images of shape {shape} contain NaN or inf")
        return x

    def check_masks(self, y, x_shape, what="input"):
        """y as an array on the active device: same N, H, W as the images, 1 channel, values in [0, 1]."""
        shape = tuple(getattr(y, "shape", ()))
        if len(shape) != 4 or shape[:3] != tuple(x_shape[:3]) or shape[3] != 1:
            raise ValueError(f"UNet.{what}: masks must have shape {tuple(x_shape[:3]) + (1,)} to match "
                             f"the images {tuple(x_shape)}, got {shape}")
        check_real(getattr(y, "dtype", None), f"UNet.{what}: masks of shape {shape}")
        y = backend.to_device(y, self.dtype)
        xp = backend.xp
        if not bool(xp.isfinite(y).all()) or bool((y < 0).any()) or bool((y > 1).any()):
            raise ValueError(f"UNet.{what}: masks of shape {shape} must hold values in [0, 1]")
        return y

    # ----------------------------------------------------------------- using the model

    def predict(self, x, batch_size=16):
        """Probabilities for images x, computed ``batch_size`` images at a time.

        The result is a NumPy array for NumPy input and stays on the GPU for CuPy input.
        """
        batch_size = training.positive_int(batch_size, "batch_size", "UNet.predict")
        x_device = self.check_images(x, "predict")
        outputs = [self.forward(x_device[i:i + batch_size], check=False)
                   for i in range(0, max(x_device.shape[0], 1), batch_size)]   # 0 images: one empty batch
        out = backend.xp.concatenate(outputs, axis=0)
        return backend.asnumpy(out) if isinstance(x, numpy.ndarray) else out

    def evaluate(self, x, y, batch_size=16, threshold=0.5):
        """Dice loss and Dice coefficient (mean over batches, as Keras), and the Dice of the
        masks thresholded at ``threshold``: over all pixels pooled (``dice_global``, the
        notebook's figure) and the mean of one per image (``dice_per_image``, the article's)."""
        return training.evaluate(self, x, y, batch_size=batch_size, threshold=threshold)

    def fit(self, x, y, validation_data=None, epochs=15, batch_size=16, optimizer=None, shuffle=True,
            seed=0, checkpoint=None, verbose=1, patience=None, resume=False):
        """Train with Dice loss and Adam (learning rate 1e-4 unless ``optimizer`` is given).

        See ``tinyunet.models.training.fit`` for every argument; returns a History.
        """
        return training.fit(self, x, y, validation_data=validation_data, epochs=epochs,
                            batch_size=batch_size, optimizer=optimizer, shuffle=shuffle, seed=seed,
                            checkpoint=checkpoint, verbose=verbose, patience=patience, resume=resume)

    def save_weights(self, path):
        """Write every weight to an .npz file (no pickles), atomically."""
        checkpoint.save_weights(self, path)

    def load_weights(self, path):
        """Read weights written by ``save_weights``; a ValueError names the first mismatch,
        and nothing is changed unless everything matches."""
        checkpoint.load_weights(self, path)

    def summary(self, print_fn=print):
        """A Keras-like table: layer (type), output shape, parameters, connected to."""
        skip_of = self.skip_sources()
        rows, previous = [], "input"
        rows.append(("input (Input)", (None,) + self.input_shape, 0, ""))
        for layer in self.layers:
            shape = (None,) + tuple(self.shapes[layer.name][1:])
            source = previous
            if layer.name in skip_of:
                source = f"{skip_of[layer.name]}, {previous}"
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, layer.count_params(), source))
            previous = layer.name
        widths = [max(len(str(r[i])) for r in rows + [("Layer (type)", "Output Shape", "Param #", "Connected to")])
                  for i in range(4)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        rule = "=" * (sum(widths) + 6)
        text = [f'Model: "unet_{self.preset}"', rule,
                line.format("Layer (type)", "Output Shape", "Param #", "Connected to"), rule]
        text += [line.format(name, str(shape), f"{count:,}", source) for name, shape, count, source in rows]
        total = self.count_params()
        text += [rule, f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0",
                 "_" * (sum(widths) + 6)]
        out = "\n".join(text)
        if print_fn is not None:
            print_fn(out)
        return out


def _forward(layers, h):
    for layer in layers:
        h = layer.forward(h)
    return h


def _backward(layers, dh, input_gradient=True):
    """dL/dh back through layers, last first; input_gradient=False: the first layer (a
    convolution) fills its grads and returns None instead of dL/dh."""
    for k in reversed(range(len(layers))):
        if k == 0 and not input_gradient:
            return layers[0].backward(dh, input_gradient=False)
        dh = layers[k].backward(dh)
    return dh

