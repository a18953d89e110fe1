"""What every model shares: weights, input checks, predict, evaluate, fit, saving, summary, feature maps.

A model is its layers plus a ``forward`` and a ``backward`` that say how data flows
through them (a chain for ``Sequential``, a U with skips for ``UNet``).  Everything
else is written once, here, on top of those two and of ``layers``:

    params / grads      flat dicts "<layer name>/<param>" -> the live arrays, for the optimizer
    predict(x)          forward in batches of ``batch_size``, without a backward
    evaluate(x, y)      Dice loss, Dice coefficient and the thresholded Dice (training.py)
    fit(x, y, ...)      the training loop (training.py), the same for every model
    save_weights(path)  the weights and ``config``, from which ``load_model`` rebuilds the model
    feature_maps(x)     every layer's output for a batch, training state untouched

A subclass sets ``layers``, ``input_shape`` (H, W, C), ``dtype``, ``shapes`` ({layer
name: output shape}), and defines ``_run(x, record)`` (the forward pass, storing each
layer's output in ``record`` when it is a dict), ``backward``, ``config``,
``output_shape_for`` and ``_summary_rows``.
"""

from .. import backend
from ..layers.base import check_real
from . import checkpoint, training


class Model:
    """The base of ``UNet`` and ``Sequential``; not used directly."""

    kind = "model"

    @property
    def params(self):
        return {f"{layer.name}/{key}": value for layer in self.layers for key, value in layer.params.items()}

    @property
    def grads(self):
        return {f"{layer.name}/{key}": value for layer in self.layers for key, value in layer.grads.items()}

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    @property
    def classes(self):
        """Output channels: 1 for one sigmoid mask, K >= 2 for K softmax classes."""
        return self.output_shape_for((1,) + tuple(self.input_shape))[-1]

    # ----------------------------------------------------------------- forward

    def forward(self, x, check=True):
        """The network's output for images x (N, H, W, C).

        With ``check`` (the default) the input's shape and values are validated
        first: that reads one flag back from the GPU, so ``fit`` validates its
        data once and calls ``forward(x, check=False)`` inside the loop.
        """
        if check:
            x = self.check_images(x, "forward")
        if x.shape[0] == 0:   # no images: no output pixels (the layers need at least one)
            return backend.xp.zeros(self.output_shape_for(x.shape), dtype=self.dtype)
        return self._run(x, None)

    def feature_maps(self, x, layers=None):
        """{layer name: NumPy array of its output} for images x, in the order forward runs them.

        ``layers``: the names to keep (default: every layer).  The pass keeps nothing:
        each layer's state (what its ``backward`` needs) is put back afterwards, so a
        ``forward`` ... ``backward`` around this call computes what it would without it.
        """
        names = [layer.name for layer in self.layers]
        wanted = names if layers is None else [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in wanted if name not in names]
        if unknown:
            raise ValueError(f"{type(self).__name__}.feature_maps: no layer {unknown[0]!r}; the layers are "
                             f"{', '.join(names)}")
        x = self.check_images(x, "feature_maps")
        if x.shape[0] == 0:
            raise ValueError("feature_maps: no images (0 samples) to follow through the network")
        saved = [dict(vars(layer)) for layer in self.layers]
        record = {}
        try:
            self._run(x, record)
        finally:
            for layer, state in zip(self.layers, saved):
                vars(layer).clear()
                vars(layer).update(state)
        return {name: backend.asnumpy(record[name]) for name in names if name in wanted}

    # ----------------------------------------------------------------- inputs

    def check_images(self, x, what="input"):
        """x as an array on the active device, or a ValueError naming the problem."""
        where = f"{type(self).__name__}.{what}"
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) != 4:
            raise ValueError(f"{where}: expects images of shape (N, H, W, C), got shape {shape}")
        check_real(getattr(x, "dtype", None), f"{where}: images of shape {shape}")
        if shape[-1] != self.input_shape[-1]:
            raise ValueError(f"{where}: images have {shape[-1]} channels (shape {shape}); "
                             f"the model was built for {self.input_shape[-1]}")
        self.check_input_size(shape[1], shape[2])
        x = backend.to_device(x, self.dtype)
        if not bool(backend.xp.isfinite(x).all()):
            raise ValueError(f"{where}: images of shape {shape} contain NaN or inf")
        return x

    def check_masks(self, y, x_shape, what="input"):
        """y as an array on the active device: shaped like the output for these images, values in [0, 1]."""
        where = f"{type(self).__name__}.{what}"
        expected = tuple(self.output_shape_for(x_shape))
        shape = tuple(getattr(y, "shape", ()))
        if shape != expected:
            hint = ("" if expected[-1] == 1 else
                    f": one-hot, one channel per class with the background first, for {expected[-1]} classes")
            raise ValueError(f"{where}: masks must have shape {expected} to match the images {tuple(x_shape)}"
                             f"{hint}, got {shape}")
        check_real(getattr(y, "dtype", None), f"{where}: masks of shape {shape}")
        y = backend.to_device(y, self.dtype)
        xp = backend.xp
        if not bool(xp.isfinite(y).all()) or bool((y < 0).any()) or bool((y > 1).any()):
            raise ValueError(f"{where}: masks of shape {shape} must hold values in [0, 1]")
        return y

    # ----------------------------------------------------------------- using the model

    def predict(self, x, batch_size=16):
        """The output (probabilities, one per pixel and channel) for images x, ``batch_size`` at a time.

        The result is a NumPy array for NumPy input and stays on the GPU for CuPy input.
        """
        batch_size = training.positive_int(batch_size, "batch_size", f"{type(self).__name__}.predict")
        x_device = self.check_images(x, "predict")
        outputs = [self.forward(x_device[i:i + batch_size], check=False)
                   for i in range(0, max(x_device.shape[0], 1), batch_size)]   # 0 images: one empty batch
        out = backend.xp.concatenate(outputs, axis=0)
        return backend.asnumpy(out) if backend.is_numpy(x) else out

    def evaluate(self, x, y, batch_size=16, threshold=0.5, class_names=None):
        """Dice loss and Dice coefficient (mean over batches, as Keras), and the Dice of the
        masks thresholded at ``threshold``: over all pixels pooled (``dice_global``, the
        notebook's figure) and the mean of one per image (``dice_per_image``, the article's).
        For K classes these are the means over the foreground classes, and
        ``dice_global_<name>`` gives each class (``class_names``: the K channels' names)."""
        return training.evaluate(self, x, y, batch_size=batch_size, threshold=threshold, class_names=class_names)

    def fit(self, x, y, validation_data=None, epochs=15, batch_size=16, optimizer=None, shuffle=True,
            seed=0, checkpoint=None, verbose=1, patience=None, resume=False, cuda_graph=False):
        """Train with Dice loss and Adam (learning rate 1e-4 unless ``optimizer`` is given).

        See ``tinyunet.models.training.fit`` for every argument; returns a History.
        """
        return training.fit(self, x, y, validation_data=validation_data, epochs=epochs,
                            batch_size=batch_size, optimizer=optimizer, shuffle=shuffle, seed=seed,
                            checkpoint=checkpoint, verbose=verbose, patience=patience, resume=resume,
                            cuda_graph=cuda_graph)

    def save_weights(self, path):
        """Write every weight and the model's configuration to an .npz file (no pickles), atomically;
        ``tinyunet.models.load_model(path)`` rebuilds the model from it alone."""
        checkpoint.save_weights(self, path)

    def load_weights(self, path):
        """Read weights written by ``save_weights``; a ValueError names the first mismatch,
        and nothing is changed unless everything matches."""
        checkpoint.load_weights(self, path)

    def summary(self, print_fn=print):
        """A Keras-like table: layer (type), output shape, parameters (and what feeds it)."""
        header, rows = self._summary_rows()
        rows = [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
        text = [f'Model: "{self.kind}"', rule, line.format(*header), rule]
        text += [line.format(*row) for row in rows]
        total = self.count_params()
        text += [rule, f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0",
                 "_" * len(rule)]
        out = "\n".join(text)
        if print_fn is not None:
            print_fn(out)
        return out


def run_layers(layers, h, record):
    """h through ``layers`` in order; each output kept in ``record`` under the layer's name when it is a dict."""
    for layer in layers:
        h = layer.forward(h)
        if record is not None:
            record[layer.name] = h
    return h


def backward_layers(layers, dh, input_gradient=True):
    """dL/dh back through layers, last first; input_gradient=False: the first layer (a
    convolution) fills its grads and returns None instead of dL/dh."""
    for k in reversed(range(len(layers))):
        if k == 0 and not input_gradient:
            return layers[0].backward(dh, input_gradient=False)
        dh = layers[k].backward(dh)
    return dh
