"""Training and evaluation loops: mini-batches, Dice loss, Adam, Keras-like logs, checkpoints.

One training step is exactly what a reader can write by hand:

    p = model.forward(x); loss.forward(y, p); model.backward(loss.backward())
    optimizer.step(model.params, model.grads)

``fit`` repeats it over shuffled mini-batches for each epoch, validates after
each epoch, keeps the best weights in ``checkpoint`` (the notebook's
ModelCheckpoint with save_best_only), and can resume an interrupted run from
the state it writes beside the checkpoint.  Losses stay on the device during
an epoch and are read back every few steps (each read waits for the GPU).
"""

import json
import math
import os
import sys
import time

import numpy

from .. import backend
from ..losses import DiceLoss
from ..fileio import atomic_write
from ..metrics import dice_score
from ..optimizers import Adam
from . import weights as weights_io

RESUME_FORMAT = "tinyunet-resume"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the message names the epoch and the step."""


class History:
    """Per-epoch figures of a ``fit``, as Keras's History: ``history[name]`` is a list per epoch.

    Names: loss, dice_coeff, and val_loss, val_dice_coeff with validation data.
    """

    def __init__(self, history=None, epoch=None, params=None):
        self.history = {key: list(values) for key, values in (history or {}).items()}
        self.epoch = list(epoch or [])
        self.params = dict(params or {})

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def to_dict(self):
        return {"epoch": self.epoch, "history": self.history, "params": self.params}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("history"), data.get("epoch"), data.get("params"))

    def save_json(self, path):
        text = json.dumps(self.to_dict(), indent=2).encode()
        atomic_write(path, lambda file: file.write(text))

    @classmethod
    def load_json(cls, path):
        with open(path) as file:
            return cls.from_dict(json.load(file))

    def save_csv(self, path):
        keys = list(self.history)
        lines = [",".join(["epoch"] + keys)]
        for row, epoch in enumerate(self.epoch):
            lines.append(",".join([str(epoch + 1)] + [repr(self.history[k][row]) for k in keys]))
        text = ("\n".join(lines) + "\n").encode()
        atomic_write(path, lambda file: file.write(text))


class Progress:
    """Keras-like progress: an in-place bar on a terminal, one line per epoch otherwise."""

    def __init__(self, steps, verbose, stream=None):
        self.steps, self.verbose = steps, verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def update(self, step, loss, dice):
        if not self.live:
            return
        done = int(30 * step / self.steps)
        bar = "=" * max(done - 1, 0) + (">" if done < 30 else "=") + "." * (30 - done)
        self.stream.write(f"\r{step}/{self.steps} [{bar}] - loss: {loss:.4f} - dice_coeff: {dice:.4f}")
        self.stream.flush()

    def finish(self, logs):
        elapsed = time.perf_counter() - self.start
        if not self.verbose:
            return elapsed
        fields = " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
        per_step = 1000 * elapsed / max(self.steps, 1)
        prefix = "\r" if self.live else ""
        self.stream.write(f"{prefix}{self.steps}/{self.steps} - {elapsed:.0f}s - {per_step:.0f}ms/step - {fields}\n")
        self.stream.flush()
        return elapsed


def _check_count(value, name):
    if not isinstance(value, (int, numpy.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"fit: {name} must be a positive int, not {value!r}")
    return int(value)


def _batches(count, batch_size):
    return [(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def evaluate_losses(model, x, y, batch_size):
    """(Dice loss, Dice coefficient) means over batches, weighted by batch size, as 0-d device arrays.

    The Dice loss is 1 - the Dice coefficient of the same batch, so the metric needs no second pass.
    """
    loss = DiceLoss()
    total_loss = backend.xp.zeros((), dtype=model.dtype)
    for start, stop in _batches(x.shape[0], batch_size):
        p = model.forward(x[start:stop], check=False)
        total_loss += loss.forward(y[start:stop], p) * (stop - start)
    mean_loss = total_loss / x.shape[0]
    return mean_loss, 1 - mean_loss


def evaluate(model, x, y, batch_size=16, threshold=0.5):
    """Dice loss and coefficient (means over batches), and the thresholded Dice global and per image."""
    batch_size = _check_count(batch_size, "batch_size")
    xd = model.check_images(x, "evaluate")
    yd = model.check_masks(y, xd.shape, "evaluate")
    loss, dice = evaluate_losses(model, xd, yd, batch_size)
    p = model.predict(xd, batch_size=batch_size)
    return {"loss": float(loss), "dice_coeff": float(dice),
            "dice_global": dice_score(yd, p, threshold, "global"),
            "dice_per_image": dice_score(yd, p, threshold, "per_image")}


def resume_path(checkpoint):
    """Where ``fit`` keeps the state to resume from: beside the checkpoint, '<name>.resume.npz'."""
    root = os.fspath(checkpoint)
    root = root[:-4] if root.endswith(".npz") else root
    return root + ".resume.npz"


def _flatten(prefix, value, arrays, scalars):
    """Split a nested state dict into arrays (for the .npz) and JSON scalars."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}/{key}", item, arrays, scalars)
    elif hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        arrays[prefix] = backend.asnumpy(value)
    else:
        scalars[prefix] = value.item() if hasattr(value, "item") else value


def _unflatten(prefix, arrays, scalars):
    state = {}
    for source in (arrays, scalars):
        for key, value in source.items():
            if not key.startswith(prefix + "/"):
                continue
            node, parts = state, key[len(prefix) + 1:].split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
    return state


def save_resume_state(path, model, optimizer, history, epoch, best, run):
    arrays, scalars = {}, {}
    for name, value in model.params.items():
        arrays[f"weights/{name}"] = backend.asnumpy(value)
    _flatten("optimizer", optimizer.state_dict(), arrays, scalars)
    meta = {"format": RESUME_FORMAT, "preset": model.preset, "epoch": epoch, "best": best,
            "history": history.to_dict(), "optimizer_scalars": scalars, "run": run,
            "optimizer": type(optimizer).__name__}
    weights_io.save_arrays(path, arrays, meta)


def load_resume_state(path, model, optimizer, run):
    """Restore weights and optimizer state; returns (history, next epoch, best)."""
    arrays, meta = weights_io.read_arrays(path, RESUME_FORMAT)
    for key in ("batch_size", "seed", "shuffle"):
        if meta["run"].get(key) != run[key]:
            raise ValueError(f"{path}: was written by a run with {key}={meta['run'].get(key)!r}; "
                             f"this fit has {key}={run[key]!r}, so it would not continue the same run")
    if meta.get("optimizer") != type(optimizer).__name__:
        raise ValueError(f"{path}: holds {meta.get('optimizer')} state, this fit uses {type(optimizer).__name__}")
    model_arrays = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    weights_io.check_weights(model, model_arrays, {"preset": meta["preset"]}, path)
    optimizer_state = _unflatten("optimizer", arrays, meta["optimizer_scalars"])
    weights_io.assign_weights(model, model_arrays)
    optimizer.load_state_dict(optimizer_state)
    return History.from_dict(meta["history"]), meta["epoch"] + 1, meta["best"]


def fit(model, x, y, validation_data=None, epochs=15, batch_size=16, optimizer=None, shuffle=True,
        seed=0, checkpoint=None, verbose=1, patience=None, resume=False):
    """Train ``model`` on images x and masks y with the Dice loss.

    Args:
        x, y: images (N, H, W, C) and masks (N, H, W, 1), NumPy or CuPy, float in [0, 1].
        validation_data: (x_val, y_val), evaluated after every epoch.
        epochs, batch_size: as Keras; the last batch of an epoch may be smaller.
        optimizer: defaults to Adam(learning_rate=1e-4), the lesson's setting.
        shuffle, seed: each epoch's order is a permutation drawn from (seed, epoch), so a
            resumed run sees the same batches as an uninterrupted one.
        checkpoint: path of an .npz that keeps the best weights (lowest val_loss, or loss
            without validation data), written atomically; ``model.load_weights(checkpoint)``
            brings them back.  The model itself ends with the last epoch's weights.
        verbose: 0 silent, 1 progress bar on a terminal and a line per epoch, 2 a line per epoch.
        patience: stop when the monitored loss has not improved for this many epochs.
        resume: continue from the state saved beside ``checkpoint`` (weights, optimizer
            state, history) by an earlier, interrupted call with the same arguments.

    Returns:
        History, whose ``history`` dict has a list per figure (one value per epoch).

    Raises:
        TrainingDiverged: the loss became NaN or inf (the message names epoch and step;
            the best checkpoint so far is left intact).
    """
    epochs = _check_count(epochs, "epochs")
    batch_size = _check_count(batch_size, "batch_size")
    if patience is not None:
        patience = _check_count(patience, "patience")
    if resume and checkpoint is None:
        raise ValueError("fit: resume=True needs the checkpoint path the interrupted run used")
    xd = model.check_images(x, "fit")
    yd = model.check_masks(y, xd.shape, "fit")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
        xv = model.check_images(validation_data[0], "fit (validation images)")
        yv = model.check_masks(validation_data[1], xv.shape, "fit (validation masks)")
    optimizer = optimizer if optimizer is not None else Adam(learning_rate=1e-4)
    loss = DiceLoss()
    xp = backend.xp
    count = xd.shape[0]
    batches = _batches(count, batch_size)
    steps = len(batches)
    monitor = "val_loss" if validation_data is not None else "loss"
    run = {"batch_size": batch_size, "seed": seed, "shuffle": bool(shuffle), "epochs": epochs}
    history = History(params={"epochs": epochs, "steps": steps, "samples": count, "batch_size": batch_size})
    first_epoch, best, waited = 0, math.inf, 0
    state_path = resume_path(checkpoint) if checkpoint is not None else None
    if resume and os.path.exists(state_path):
        history, first_epoch, best = load_resume_state(state_path, model, optimizer, run)
        history.params.update(epochs=epochs)
        best = math.inf if best is None else best
        values = history.history.get(monitor, [])
        waited = len(values) - 1 - int(numpy.argmin(values)) if values else 0
    if verbose:
        note = f", validate on {xv.shape[0]} samples" if validation_data is not None else ""
        print(f"Train on {count} samples{note}")
        if first_epoch:
            print(f"Resuming from {state_path} after epoch {first_epoch}")
    # a read of the device's losses every `every` steps: each read waits for the GPU
    every = 1 if backend.device == "cpu" else max(1, steps // 10)
    for epoch in range(first_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        order = (numpy.random.default_rng([seed, epoch]).permutation(count) if shuffle
                 else numpy.arange(count))
        order = backend.to_device(order)
        progress = Progress(steps, verbose)
        # the epoch's Dice coefficient is 1 - its Dice loss (batch by batch): no second pass
        losses = xp.zeros(steps, dtype=model.dtype)
        for step, (start, stop) in enumerate(batches):
            index = order[start:stop]
            xb, yb = xd[index], yd[index]
            p = model.forward(xb, check=False)
            losses[step] = loss.forward(yb, p)
            model.backward(loss.backward(), input_gradient=False)
            optimizer.step(model.params, model.grads)
            if (step + 1) % every == 0 or step + 1 == steps:
                seen = backend.asnumpy(losses[:step + 1])
                bad = numpy.flatnonzero(~numpy.isfinite(seen))
                if bad.size:
                    where = f" (model.load_weights({os.fspath(checkpoint)!r}) restores the best weights)" \
                        if checkpoint is not None and os.path.exists(checkpoint) else ""
                    raise TrainingDiverged(
                        f"fit: the loss became {seen[bad[0]]} at epoch {epoch + 1}, step {bad[0] + 1}/{steps}; "
                        f"training stopped{where}. A lower learning rate may help.")
                progress.update(step + 1, float(seen.mean()), 1 - float(seen.mean()))
        epoch_loss = float(losses.mean())
        logs = {"loss": epoch_loss, "dice_coeff": 1 - epoch_loss}
        if validation_data is not None:
            val_loss, val_dice = evaluate_losses(model, xv, yv, batch_size)
            logs.update(val_loss=float(val_loss), val_dice_coeff=float(val_dice))
            if not math.isfinite(logs["val_loss"]):
                raise TrainingDiverged(f"fit: the validation loss became {logs['val_loss']} after epoch {epoch + 1}")
        history.append(epoch, logs)
        progress.finish(logs)
        if logs[monitor] < best:
            best, waited = logs[monitor], 0
            if checkpoint is not None:
                model.save_weights(checkpoint)
                if verbose:
                    print(f"{monitor} improved to {best:.4f}: best weights saved to {os.fspath(checkpoint)}")
        else:
            waited += 1
        if state_path is not None:
            save_resume_state(state_path, model, optimizer, history, epoch, best, run)
        if patience is not None and waited >= patience:
            if verbose:
                print(f"Early stopping: {monitor} has not improved for {patience} epochs")
            break
    return history
