"""Training and evaluation loops: mini-batches, Dice loss, Adam, Keras-like logs, checkpoints.

One training step is exactly what a reader can write by hand (step.py):

    p = model.forward(x); loss.forward(y, p); model.backward(loss.backward())
    optimizer.step(model.params, model.grads)

``fit`` repeats it over shuffled mini-batches (on the GPU, with ``cuda_graph=True``, as one
CUDA graph replayed: graph_step.py) for each epoch (``_train_epoch``), validates
after each epoch (``_validate``), keeps the best weights in ``checkpoint`` (the notebook's
ModelCheckpoint with save_best_only) and the state to resume from beside it
(``_checkpoint``).  Losses stay on the device during an epoch and are read back every few
steps (each read waits for the GPU).

Before the first step ``fit`` refuses empty sets and a checkpoint it could not write, and
warns when every mask is empty.  After each epoch it looks at the first batch once
(``_probe``): when every prediction is within 1e-6 of 0 or 1 and that batch's loss has not
moved over the epoch, the sigmoid is saturated, its gradient vanishes and training can no
longer learn (a learning rate far too large does this), so ``fit`` stops.
"""

import math
import os
import tempfile
import warnings

import numpy

from .. import backend
from ..losses import DiceLoss
from ..metrics import dice_score
from ..optimizers import Adam
from .checkpoint import fingerprint, load_resume_state, resume_path, save_resume_state
from .graph_step import fit_step
from .history import History, Progress
from .step import train_step


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the message names the epoch and the step."""


def _int_at_least(value, minimum, name, where, what):
    """``value`` as an int if it is an int >= ``minimum`` (a NumPy integer too, not a bool), else a
    ValueError naming ``where``: "{name} must be {what}"."""
    if not isinstance(value, (int, numpy.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where}: {name} must be {what}, not {value!r}")
    return int(value)


def positive_int(value, name, where):
    """``value`` as an int if it is a positive int (not a bool), else a ValueError naming ``where``."""
    return _int_at_least(value, 1, name, where, "a positive int")


def non_negative_int(value, name, where):
    """``value`` as an int if it is an int >= 0 (a NumPy integer too, not a bool), else a ValueError."""
    return _int_at_least(value, 0, name, where, "an int >= 0")


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


def evaluate(model, x, y, batch_size=16, threshold=0.5, class_names=None):
    """Dice loss and coefficient (means over batches), and the thresholded Dice global and per image.

    K >= 2 classes: dice_global and dice_per_image are the means over the foreground
    classes (each pixel's class the argmax), and ``dice_global_<name>`` each class's.
    """
    batch_size = positive_int(batch_size, "batch_size", "evaluate")
    xd = model.check_images(x, "evaluate")
    yd = model.check_masks(y, xd.shape, "evaluate")
    if xd.shape[0] == 0:
        raise ValueError("evaluate: no images (0 samples) to evaluate")
    loss, dice = evaluate_losses(model, xd, yd, batch_size)
    p = model.predict(xd, batch_size=batch_size)
    logs = {"loss": float(loss), "dice_coeff": float(dice)}
    pooled, each = (dice_score(yd, p, threshold, reduce, class_names) for reduce in ("global", "per_image"))
    if not isinstance(pooled, dict):
        return {**logs, "dice_global": pooled, "dice_per_image": each}
    logs.update(dice_global=pooled.pop("mean"), dice_per_image=each.pop("mean"))
    logs.update({f"dice_global_{name}": value for name, value in pooled.items()})
    return logs


def _check_data(model, x, y, validation_data):
    """Images, masks and the (images, masks) validation pair or None, checked and on the device."""
    xd = model.check_images(x, "fit")
    yd = model.check_masks(y, xd.shape, "fit")
    if xd.shape[0] == 0:
        raise ValueError(f"fit: the training set is empty (images of shape {tuple(xd.shape)}): "
                         "give at least one image and its mask")
    foreground = yd if yd.shape[-1] == 1 else yd[..., 1:]      # K classes: channel 0 is the background
    if not bool(foreground.any()):
        warnings.warn(f"fit: every mask is empty: check the mask encoding (all {xd.shape[0]} training masks "
                      "are 0 everywhere, so the model can only learn to find nothing)", UserWarning, stacklevel=4)
    if validation_data is None:
        return xd, yd, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
    xv = model.check_images(validation_data[0], "fit (validation images)")
    yv = model.check_masks(validation_data[1], xv.shape, "fit (validation masks)")
    if xv.shape[0] == 0:
        raise ValueError(f"fit: the validation set is empty (validation images of shape {tuple(xv.shape)}): "
                         "give at least one image, or validation_data=None")
    return xd, yd, (xv, yv)


def _check_writable(checkpoint):
    """ValueError naming ``checkpoint`` unless its folder (or the nearest existing one above it,
    where fit will create the rest) is a folder this process can create files in."""
    path = os.path.abspath(os.fspath(checkpoint))
    if os.path.isdir(path):
        raise ValueError(f"fit: the checkpoint {os.fspath(checkpoint)} is a folder; give a file path, "
                         f"e.g. {os.path.join(os.fspath(checkpoint), 'best.npz')}")
    folder = os.path.dirname(path)
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    try:
        if not os.path.isdir(folder):
            raise NotADirectoryError(f"{folder} is not a folder")
        with tempfile.TemporaryFile(dir=folder):   # the one sure test, as root too
            pass
    except OSError as error:
        raise ValueError(f"fit: cannot write the checkpoint {os.fspath(checkpoint)}: {folder} does not "
                         f"take new files ({error.strerror or error})") from None


def _probe(model, x, y):
    """(Dice loss, largest distance of a prediction from 0 or 1) on a batch, in one read."""
    p = model.forward(x, check=False)
    xp = backend.xp
    figures = xp.stack([DiceLoss().forward(y, p).astype(model.dtype), xp.minimum(p, 1 - p).max()])
    return tuple(float(v) for v in backend.asnumpy(figures))


def _check_stuck(before, after, epoch, optimizer):
    """TrainingDiverged when the probe batch's outputs are saturated and its loss has not moved."""
    (loss_before, _), (loss, distance) = before, after
    if distance <= 1e-6 and abs(loss - loss_before) <= 1e-6 and loss > 1e-3:
        rate = getattr(optimizer, "learning_rate", None)
        raise TrainingDiverged(
            f"fit: training is stuck after epoch {epoch + 1}: every prediction is within 1e-6 of 0 or 1 and "
            f"the loss stayed at {loss:.4f} over the epoch (a saturated sigmoid passes no gradient). "
            f"The learning rate ({rate}) is likely too large: try a smaller learning rate (the lesson's is 1e-4)")


def _stepper(model, optimizer, cuda_graph, size):
    """The training step fit runs, ``step(x, y) -> loss``: train_step, or with ``cuda_graph``
    graph_step.fit_step (a CUDA graph for the batches of ``size`` images)."""
    loss = DiceLoss()
    if not cuda_graph:
        return lambda x, y: train_step(model, loss, optimizer, x, y)
    if backend.device != "gpu":
        raise ValueError("fit: cuda_graph=True needs the GPU backend (TINYUNET_DEVICE=gpu and CuPy); "
                         f"the backend is {backend.device!r}")
    return fit_step(model, loss, optimizer, size)


def _train_epoch(model, step_of, x, y, order, batches, progress, epoch, checkpoint):
    """One pass over the batches of ``order`` with the step ``step_of``; returns the epoch's
    logs {loss, dice_coeff}.

    The losses are read back every ``every`` steps (each read waits for the GPU), checked
    for NaN / inf, and shown on the progress bar.
    """
    steps = len(batches)
    every = 1 if backend.device == "cpu" else max(1, steps // 10)
    losses = backend.xp.zeros(steps, dtype=model.dtype)
    # the epoch's figure is the batches' mean weighted by their images, as Keras and the
    # validation figures count it (the last batch may be smaller)
    sizes = numpy.array([stop - start for start, stop in batches], dtype=float)
    for step, (start, stop) in enumerate(batches):
        index = order[start:stop]
        losses[step] = step_of(x[index], y[index])
        if (step + 1) % every == 0 or step + 1 == steps:
            seen = backend.asnumpy(losses[:step + 1])
            bad = numpy.flatnonzero(~numpy.isfinite(seen))
            if bad.size:
                where = f" (model.load_weights({os.fspath(checkpoint)!r}) restores the best weights)" \
                    if checkpoint is not None and os.path.exists(checkpoint) else ""
                raise TrainingDiverged(
                    f"fit: the loss became {seen[bad[0]]} at epoch {epoch + 1}, step {bad[0] + 1}/{steps}; "
                    f"training stopped{where}. A lower learning rate may help.")
            running = float(numpy.average(seen, weights=sizes[:step + 1]))
            progress.update(step + 1, running, 1 - running)
    # the epoch's Dice coefficient is 1 - its Dice loss (batch by batch): no second pass
    epoch_loss = float(numpy.average(backend.asnumpy(losses), weights=sizes))
    return {"loss": epoch_loss, "dice_coeff": 1 - epoch_loss}


def _validate(model, validation, batch_size, epoch):
    """{val_loss, val_dice_coeff} on the validation pair; TrainingDiverged when not finite."""
    val_loss, val_dice = evaluate_losses(model, *validation, batch_size)
    logs = {"val_loss": float(val_loss), "val_dice_coeff": float(val_dice)}
    if not math.isfinite(logs["val_loss"]):
        raise TrainingDiverged(f"fit: the validation loss became {logs['val_loss']} after epoch {epoch + 1}")
    return logs


def _checkpoint(model, checkpoint, improved, monitor, best, verbose):
    """Save the best weights so far to ``checkpoint`` when the monitored loss ``improved``."""
    if checkpoint is None or not improved:
        return
    model.save_weights(checkpoint)
    if verbose:
        print(f"{monitor} improved to {best:.4f}: best weights saved to {os.fspath(checkpoint)}")


def _resume(state_path, model, optimizer, run, monitor):
    """(history, first epoch, best monitored loss, epochs since it) from an interrupted fit's state."""
    history, first_epoch, best = load_resume_state(state_path, model, optimizer, run)
    history.params.update(epochs=run["epochs"])
    best = math.inf if best is None else best
    values = history.history.get(monitor, [])
    waited = len(values) - 1 - int(numpy.argmin(values)) if values else 0
    return history, first_epoch, best, waited


def _order(count, shuffle, seed, epoch):
    """The epoch's sample order: a permutation drawn from (seed, epoch), so a resumed run repeats it."""
    order = numpy.random.default_rng([seed, epoch]).permutation(count) if shuffle else numpy.arange(count)
    return backend.to_device(order)


def fit(model, x, y, validation_data=None, epochs=15, batch_size=16, optimizer=None, shuffle=True,
        seed=0, checkpoint=None, verbose=1, patience=None, resume=False, cuda_graph=False):
    """Train ``model`` on images x and masks y with the Dice loss.

    Args:
        x, y: images (N, H, W, C) and masks (N, H, W, 1), NumPy or CuPy, float in [0, 1];
            for a model of K >= 2 classes one-hot masks (N, H, W, K), the background first.
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
            state, history) by an earlier, interrupted call with the same arguments: the
            same data (shapes and a checksum), batch size, seed, shuffle and optimizer
            hyper-parameters; only ``epochs`` may differ.
        cuda_graph: on the GPU, run every step of ``batch_size`` images as one CUDA graph
            (graph_step.py): the first two steps run as usual, the third is captured, each
            later one replays it, with the matrix products on tinyunet's own kernel instead
            of cuBLAS.  A smaller last batch runs as usual, and so does every step when
            the step cannot be captured (a RuntimeWarning says why).  Adam or SGD only; the
            graph holds one step's arrays until fit returns.

    Returns:
        History, whose ``history`` dict has a list per figure (one value per epoch).

    Raises:
        ValueError: before the first step, for an empty training or validation set, a
            checkpoint that cannot be written, a resume state of another run (named), or
            cuda_graph=True without the GPU backend.
        TypeError: cuda_graph=True with an optimizer other than Adam or SGD.
        TrainingDiverged: the loss became NaN or inf (the message names epoch and step;
            the best checkpoint so far is left intact), or every prediction saturated
            with a loss that no longer moves.

    Warns:
        UserWarning: every training mask is empty (a mask encoding read wrongly).
    """
    epochs = positive_int(epochs, "epochs", "fit")
    batch_size = positive_int(batch_size, "batch_size", "fit")
    seed = non_negative_int(seed, "seed", "fit")     # a plain int: it goes into the resume state's JSON
    if patience is not None:
        patience = positive_int(patience, "patience", "fit")
    if resume and checkpoint is None:
        raise ValueError("fit: resume=True needs the checkpoint path the interrupted run used")
    if not isinstance(cuda_graph, bool):
        raise ValueError(f"fit: cuda_graph must be True or False, not {cuda_graph!r}")
    xd, yd, validation = _check_data(model, x, y, validation_data)
    if checkpoint is not None:
        _check_writable(checkpoint)
    optimizer = optimizer if optimizer is not None else Adam(learning_rate=1e-4)
    count = xd.shape[0]
    batches = _batches(count, batch_size)
    step_of = _stepper(model, optimizer, cuda_graph, batches[0][1])
    monitor = "val_loss" if validation is not None else "loss"
    run = {"batch_size": batch_size, "seed": seed, "shuffle": bool(shuffle), "epochs": epochs,
           "training images": fingerprint(xd), "training masks": fingerprint(yd),
           "validation images": None if validation is None else fingerprint(validation[0]),
           "validation masks": None if validation is None else fingerprint(validation[1]),
           "optimizer": {"class": type(optimizer).__name__, **optimizer.get_config()}}
    history = History(params={"epochs": epochs, "steps": len(batches), "samples": count, "batch_size": batch_size})
    first_epoch, best, waited = 0, math.inf, 0
    state_path = resume_path(checkpoint) if checkpoint is not None else None
    if resume and os.path.exists(state_path):
        history, first_epoch, best, waited = _resume(state_path, model, optimizer, run, monitor)
    if verbose:
        note = f", validate on {validation[0].shape[0]} samples" if validation is not None else ""
        print(f"Train on {count} samples{note}")
        if first_epoch:
            print(f"Resuming from {state_path} after epoch {first_epoch}")
    probe = (xd[:batch_size], yd[:batch_size])
    before = _probe(model, *probe)
    for epoch in range(first_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        progress = Progress(len(batches), verbose)
        logs = _train_epoch(model, step_of, xd, yd, _order(count, shuffle, seed, epoch), batches, progress,
                            epoch, checkpoint)
        after = _probe(model, *probe)
        _check_stuck(before, after, epoch, optimizer)
        before = after
        if validation is not None:
            logs.update(_validate(model, validation, batch_size, epoch))
        history.append(epoch, logs)
        progress.finish(logs)
        improved = logs[monitor] < best
        best, waited = (logs[monitor], 0) if improved else (best, waited + 1)
        _checkpoint(model, checkpoint, improved, monitor, best, verbose)
        if state_path is not None:
            save_resume_state(state_path, model, optimizer, history, epoch, best, run)
        if patience is not None and waited >= patience:
            if verbose:
                print(f"Early stopping: {monitor} has not improved for {patience} epochs")
            break
    return history
