"""atomic_write: outputs follow the umask, and partial files of killed writers are cleaned up."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from tinyunet import fileio
from tinyunet.models import UNet


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def mask(request):
    """Run the test under this umask, and restore the previous one after."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outputs_follow_the_umask(tmp_path, mask):
    assert fileio.umask() == mask
    path = fileio.atomic_write(tmp_path / "out.bin", lambda file: file.write(b"data"))
    assert mode(path) == 0o666 & ~mask
    weights = tmp_path / "nested" / "best.npz"
    UNet("notebook", input_shape=(16, 16, 1)).save_weights(weights)
    assert mode(weights) == 0o666 & ~mask
    assert mode(weights.parent) == 0o777 & ~mask


def test_staging_dir_follows_the_umask(tmp_path, mask):
    folder = fileio.make_staging_dir(tmp_path, ".export.partial-")
    assert folder.parent == tmp_path and folder.name.startswith(".export.partial-")
    assert folder.is_dir() and mode(folder) == 0o777 & ~mask


def dead_pid():
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_partials_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "best.npz"
    stale = tmp_path / f".best.npz.{dead_pid()}.0badc0de.partial"
    stale.write_bytes(b"left by kill -9")
    old = tmp_path / f".best.npz.{os.getppid()}.0ddba11.partial"   # a live writer, but untouched for 2 hours
    old.write_bytes(b"abandoned")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    keep = {
        f".best.npz.{os.getppid()}.12345678.partial": b"a live writer's",         # its writer still runs
        f".other.npz.{dead_pid()}.12345678.partial": b"another target's",         # not this target
        f".best.npz.1.{dead_pid()}.abc.partial": b"target best.npz.1's",
        ".best.npz.partial": b"a user's file",
        "best.npz.notes": b"a user's file",
    }
    for name, content in keep.items():
        (tmp_path / name).write_bytes(content)
    fileio.atomic_write(target, lambda file: file.write(b"new"))
    assert not stale.exists() and not old.exists()
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(list(keep) + ["best.npz"])


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_write(tmp_path):
    target = tmp_path / "best.npz"
    script = textwrap.dedent(f"""
        import sys, time
        from tinyunet.fileio import atomic_write
        def write(file):
            file.write(b"half")
            file.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write({str(target)!r}, write)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert child.stdout.readline() == b"writing\n"
        partials = [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        assert len(partials) == 1 and partials[0].startswith(".best.npz.")
        fileio.atomic_write(target, lambda file: file.write(b"meanwhile"))   # its writer still runs: kept
        assert (tmp_path / partials[0]).exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    fileio.atomic_write(target, lambda file: file.write(b"next run"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz"]
    assert target.read_bytes() == b"next run"
