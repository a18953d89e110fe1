"""Optimizers: Adam (the article's) and SGD with momentum, updating the weights in place.

``step(params, grads)`` takes the model's ``params`` dict (the live arrays the
layers compute with) and ``grads`` (same keys) and writes the update into the
param arrays themselves, so every layer sees it without any copying back.
Each optimizer keeps its state (moments, momentum buffers, step counts) per
key of the params dict.  The update maths of each lives in one function,
``adam_update`` / ``sgd_update`` (tinyunet/kernels/optimizers.py, importable
from here), written with ``xp`` operations.  Adam hands all its tensors to
``kernels.adam_update_all`` at once, which runs ``adam_update`` on each of
them, or on CuPy one fused CUDA kernel doing the same arithmetic for every
tensor in a single launch.

Saving and restoring (for checkpoints): ``state_dict()`` returns a flat dict
of NumPy arrays and Python numbers, npz-friendly (``numpy.savez(path, **d)``
then ``load_state_dict(dict(numpy.load(path)))``).  Its keys:

    "iterations"                  int: how many times step() was called
    Adam  "m/<param key>"         first moment m (array, the param's shape and dtype)
          "v/<param key>"         second moment v
          "step/<param key>"      int: the t of that param's bias correction
    SGD   "momentum_buffer/<param key>"    the velocity buffer (momentum > 0 only)

A param key may itself contain "/" (the model's "conv2d_1/kernel"); the text
before the first "/" is always the kind of state.  Hyperparameters
(learning_rate, betas, ...) are the constructor's, not part of the state, as
in Keras: build the optimizer as before, then load its state.

Example:
    >>> opt = Adam(learning_rate=1e-4)
    >>> opt.step(model.params, model.grads)
    >>> numpy.savez("opt.npz", **opt.state_dict())
"""

import numpy

from . import backend, kernels
from .kernels.optimizers import adam_update, sgd_update

__all__ = ["Optimizer", "Adam", "SGD", "adam_update", "sgd_update"]


def _flatten(d, prefix=""):
    """{"m": {"conv/kernel": a}} -> {"m/conv/kernel": a}; a flat dict comes back as it was."""
    flat = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Optimizer:
    """What Adam and SGD share: checking the gradients, counting steps, saving state.

    A subclass names its per-key state in ``slots`` and implements
    ``apply(params, grads)``, the update of every param once the gradients are checked.
    """

    slots = ()
    hyperparameters = ("learning_rate",)

    def __init__(self, learning_rate):
        if not learning_rate > 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be > 0, not {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.state = {slot: {} for slot in self.slots}

    def get_config(self):
        """The hyper-parameters, as Keras's ``get_config``: {"learning_rate": 0.0001, ...}."""
        return {name: getattr(self, name) for name in self.hyperparameters}

    def step(self, params, grads):
        """Update every array of ``params`` in place from ``grads`` (same keys and shapes)."""
        self.check(params, grads)
        self.count(params)
        self.apply(params, grads)

    def count(self, params):
        """Count one step on the host: ``iterations`` (and Adam's t of each param).  A step
        replayed from a CUDA graph (models/graph_step.py) is counted so, without running ``apply``."""
        self.iterations += 1

    def check(self, params, grads):
        """Refuse a step that would leave some weights updated and others not."""
        name = type(self).__name__
        missing = [key for key in params if key not in grads]
        if missing:
            raise ValueError(f"{name}.step: no gradient for {missing[0]!r} ({len(missing)} param(s) "
                             "without one); run backward before step")
        extra = [key for key in grads if key not in params]
        if extra:
            raise ValueError(f"{name}.step: gradient {extra[0]!r} has no matching param")
        for key, param in params.items():
            if tuple(grads[key].shape) != tuple(param.shape):
                raise ValueError(f"{name}.step: gradient of {key!r} has shape {tuple(grads[key].shape)} "
                                 f"but the param has shape {tuple(param.shape)}")
            for slot in self.slots:
                shape = getattr(self.state[slot].get(key), "shape", None)  # step counts have none
                if shape is not None and tuple(shape) != tuple(param.shape):
                    raise ValueError(f"{name}.step: saved state {slot}/{key} has shape "
                                     f"{tuple(shape)} but the param has shape {tuple(param.shape)}")

    def slot(self, slot, key, param):
        """The state array ``slot`` of ``key``, zeros like the param the first time."""
        held = self.state[slot].get(key)
        if held is None:
            held = self.state[slot][key] = backend.get_array_module(param).zeros_like(param)
        return held

    def state_dict(self):
        """A snapshot of the state: {"iterations": int, "<slot>/<key>": NumPy array or int}."""
        d = {"iterations": self.iterations}
        for slot, held in self.state.items():
            for key, value in held.items():
                d[f"{slot}/{key}"] = value if isinstance(value, int) else numpy.array(backend.asnumpy(value))
        return d

    def load_state_dict(self, d):
        """Restore a ``state_dict()`` (numbers may come back as 0-d arrays, as from numpy.load).

        Nested dicts are read as their flat "a/b/c" keys, so a state that a
        checkpoint split at every "/" loads too.  Raises ValueError for a key
        this optimizer does not know; nothing is changed unless every key is
        understood.
        """
        name = type(self).__name__
        d = _flatten(d)
        if "iterations" not in d:
            raise ValueError(f"{name}.load_state_dict: no 'iterations' entry; is this a state_dict?")
        state = {slot: {} for slot in self.slots}
        for full_key, value in d.items():
            if full_key == "iterations":
                continue
            slot, _, key = full_key.partition("/")
            if slot not in state or not key:
                raise ValueError(f"{name}.load_state_dict: unknown entry {full_key!r}; "
                                 f"expected 'iterations' or '<slot>/<param key>' with slot in {list(self.slots)}")
            state[slot][key] = self.restore(slot, value)
        self.iterations = int(d["iterations"])
        self.state = state

    def restore(self, slot, value):
        """A saved state value as this optimizer holds it: a device array (a copy)."""
        return backend.xp.array(backend.asnumpy(value))


class Adam(Optimizer):
    """Adam: per-weight step sizes from running moments of the gradient (the article's optimizer).

    Update:  Kingma & Ba's Algorithm 1, see ``adam_update``; t counts each param's steps.
    State:   m and v (param-shaped), and t, per key of the params dict.
    Keras:   keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
             (the lesson trains with learning_rate=1e-4)

    Example:
        >>> opt = Adam(learning_rate=1e-4)
        >>> opt.step(model.params, model.grads)      # after model.backward(...)
    """

    slots = ("m", "v", "step")
    hyperparameters = ("learning_rate", "beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        if not (0 <= beta_1 < 1 and 0 <= beta_2 < 1):
            raise ValueError(f"Adam: beta_1 and beta_2 must be in [0, 1), not {beta_1!r}, {beta_2!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def count(self, params):
        super().count(params)
        for key in params:
            self.state["step"][key] = self.state["step"].get(key, 0) + 1

    def apply(self, params, grads):
        """The params that share a step count t go through one call of kernels.adam_update_all
        (a single t in a training run): one fused CUDA kernel on the GPU, adam_update otherwise."""
        groups = {}
        for key in params:
            groups.setdefault(self.state["step"][key], []).append(key)
        for t, keys in groups.items():
            kernels.adam_update_all([params[k] for k in keys], [grads[k] for k in keys],
                                    [self.slot("m", k, params[k]) for k in keys],
                                    [self.slot("v", k, params[k]) for k in keys],
                                    t, self.learning_rate, self.beta_1, self.beta_2, self.epsilon)

    def restore(self, slot, value):
        return int(value) if slot == "step" else super().restore(slot, value)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (torch.optim.SGD's form).

    Update:  see ``sgd_update``: buffer = momentum * buffer + g;  param -= learning_rate * buffer
    State:   one momentum buffer per key (none when momentum is 0).
    Keras:   keras.optimizers.SGD(learning_rate, momentum) keeps v = momentum * v - lr * g,
             which is the same trajectory while the learning rate stays fixed.

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> opt.step(model.params, model.grads)
    """

    slots = ("momentum_buffer",)
    hyperparameters = ("learning_rate", "momentum")

    def __init__(self, learning_rate, momentum=0.0):
        super().__init__(learning_rate)
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), not {momentum!r}")
        self.momentum = float(momentum)

    def apply(self, params, grads):
        for key, param in params.items():
            buffer = self.slot("momentum_buffer", key, param) if self.momentum > 0 else None
            sgd_update(param, grads[key], buffer, self.learning_rate, self.momentum)
