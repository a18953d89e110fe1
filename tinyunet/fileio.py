"""Writing files so that an interruption never leaves a half-written one behind.

``staged_folder(target)`` does the same for a whole folder: the block fills a
staging folder beside ``target``, which is moved into place only when the block
ends without an error, and removed when it raises.

``atomic_write(path, write)`` lets ``write`` fill a temporary file in the same
folder, flushes it to disk, and only then renames it over ``path`` (a rename
within one file system is atomic): a reader, or a later run, sees either the
previous file or the complete new one.  Weights, checkpoints, histories,
figures and the lessons' cached data are all written this way.

Outputs follow the umask like any file a program creates (644 under umask 022),
not the 600 that ``tempfile.mkstemp`` would give.  The temporary file of target
``best.npz`` is ``.best.npz.<pid>.<random>.partial``; a run killed with
``kill -9`` leaves it behind, and the next write of the same target removes it
once its writer is gone.  Nothing but partial files of that one target is ever
removed.
"""

import contextlib
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from pathlib import Path

# A writer appends to its partial file all the time, so one untouched this long
# is abandoned even where its pid cannot be checked (another machine on a
# shared file system, or a recycled pid).
STALE_SECONDS = 3600


def umask():
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # os.umask can only be read by setting it; set it back at once.
    current = os.umask(0o022)
    os.umask(current)
    return current


def make_staging_dir(parent, prefix):
    """Create a fresh folder ``parent/<prefix><random>`` with the umask's permissions (755 under 022)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=os.fspath(parent)))
    os.chmod(folder, 0o777 & ~umask())
    return folder


@contextlib.contextmanager
def staged_folder(target, replace=False):
    """Yield a fresh staging folder beside ``target``; move it into place as ``target`` when the
    block ends without an error, remove it when the block raises.

    ``target`` must be absent or an empty folder (the caller checks what it may replace); with
    ``replace`` a non-empty ``target`` is swapped out first and only then deleted, so at every
    moment ``target`` holds either the old folder or the complete new one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(target.parent, f".{target.name}.partial-")
    try:
        yield staging
        if replace and target.is_dir() and any(target.iterdir()):
            old = make_staging_dir(target.parent, f".{target.name}.old-")
            os.replace(target, old / "data")
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            if target.is_dir():
                target.rmdir()      # empty: a non-empty one makes this raise, and nothing is lost
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _writer_gone(pid, age):
    """Whether the process that wrote a partial file has ended (or left it ``age`` seconds ago)."""
    if age > STALE_SECONDS:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by someone else
        return False
    return False


def remove_stale_partials(path):
    """Remove ``.<name>.<pid>.<random>.partial`` files of target ``path`` whose writer is gone."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    pattern = re.compile(r"\." + re.escape(name) + r"\.(\d+)\.[0-9a-f]+\.partial")
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        candidate = os.path.join(folder, entry)
        try:
            info = os.lstat(candidate)
            if stat.S_ISREG(info.st_mode) and _writer_gone(int(match.group(1)), now - info.st_mtime):
                os.remove(candidate)
                removed.append(candidate)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


def _open_partial(folder, name):
    """Create a new partial file for target ``name`` in ``folder``; returns (file descriptor, path)."""
    while True:
        temporary = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
        try:
            # Mode 666 minus the umask, as for any file a program creates.
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file beside ``path``, then rename it to ``path``."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_partials(path)
    try:
        handle, temporary = _open_partial(folder, name)
    except OSError as error:   # name the file the caller asked for, not the temporary one
        raise OSError(error.errno, f"cannot write {path}: {error.strerror} in {folder}") from None
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
