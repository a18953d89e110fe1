"""Writing files so that an interruption never leaves a half-written one behind.

``atomic_write(path, write)`` lets ``write`` fill a temporary file in the same
folder, flushes it to disk, and only then renames it over ``path`` (a rename
within one file system is atomic): a reader, or a later run, sees either the
previous file or the complete new one.  Weights, checkpoints, histories,
figures and the lessons' cached data are all written this way.
"""

import os
import tempfile


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file beside ``path``, then rename it to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".partial", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path
