"""What ``fit`` reports: the per-epoch History (as Keras's) and the Keras-like progress lines."""

import json
import sys
import time

from ..fileio import atomic_write


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

    def __init__(self, steps, verbose):
        self.steps, self.verbose = steps, verbose
        self.stream = sys.stdout
        self.live = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def update(self, step, loss, dice):
        """Redraw the bar after ``step`` steps, with the epoch's running loss and Dice."""
        if not self.live:
            return
        done = int(30 * step / self.steps)
        bar = "=" * max(done - 1, 0) + (">" if done < 30 else "=") + "." * (30 - done)
        self.stream.write(f"\r{step}/{self.steps} [{bar}] - loss: {loss:.4f} - dice_coeff: {dice:.4f}")
        self.stream.flush()

    def finish(self, logs):
        """The epoch's line: steps, seconds, ms per step and every figure of ``logs``."""
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self.start
        fields = " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
        per_step = 1000 * elapsed / max(self.steps, 1)
        prefix = "\r" if self.live else ""
        self.stream.write(f"{prefix}{self.steps}/{self.steps} - {elapsed:.0f}s - {per_step:.0f}ms/step - {fields}\n")
        self.stream.flush()
