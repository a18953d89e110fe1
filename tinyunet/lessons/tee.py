"""The lessons' log: what a lesson prints goes to the terminal and is appended to ``run.log``.

``Tee(path)`` opens the log; as a context manager it replaces ``sys.stdout`` for the block
and restores it and closes the log at the end.  A lesson script, which is one long block,
calls ``tee_stdout(path)`` instead: the same, undone when the interpreter exits.
"""

import atexit
import sys


class Tee:
    """A stream that writes to ``stream`` (the terminal) and appends to the file at ``path``."""

    def __init__(self, path, stream=None):
        self.stream = stream if stream is not None else sys.stdout
        self.log = open(path, "a")

    def write(self, text):
        self.stream.write(text)
        if not self.log.closed:
            self.log.write(text)
            self.log.flush()          # a lesson that crashes keeps its log up to the crash
        return len(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        # the log is a file: fit prints one line per epoch, not an in-place progress bar
        return False

    def close(self):
        """Give ``sys.stdout`` back to the terminal if it is this tee, and close the log."""
        if sys.stdout is self:
            sys.stdout = self.stream
        self.log.close()

    def __enter__(self):
        sys.stdout = self
        return self

    def __exit__(self, *exc_info):
        self.close()


def tee_stdout(path):
    """Send ``sys.stdout`` to the terminal and to ``path`` until the interpreter exits."""
    tee = Tee(path).__enter__()
    atexit.register(tee.close)
    return tee
