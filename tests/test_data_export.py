"""export_folders: refusing a non-empty folder, overwriting only what it wrote, its manifest, links and the umask."""

import json
import os
import stat

import numpy
import pytest
from PIL import Image

from folder_layouts import FOLDERS, snapshot, tiny_layout, write_png
from tinyunet.data import Split, Splits, export_folders, load_folders, make_phantom
from tinyunet.data.folders import MANIFEST


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(n_subjects=3, size=32, seed=4, slices_per_subject=2)


def test_export_refuses_a_non_empty_folder_unless_asked(phantom, tmp_path):
    root = tmp_path / "data"
    export_folders(phantom, root)
    before = snapshot(root)
    with pytest.raises(ValueError, match="not empty"):
        export_folders(phantom, root)
    assert snapshot(root) == before
    other = make_phantom(n_subjects=3, size=32, seed=9, slices_per_subject=1)
    export_folders(other, root, overwrite=True)
    assert load_folders(root).train.names == other.train.names
    assert [n for n in os.listdir(tmp_path) if n != "data"] == []     # no staging left behind


def test_export_never_replaces_a_folder_with_other_things(phantom, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):
        export_folders(phantom, tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_interrupted_export_keeps_the_old_data(phantom, tmp_path, monkeypatch):
    root = tmp_path / "data"
    export_folders(phantom, root)
    before = snapshot(root)
    calls = []

    def failing_save(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real_save(self, *args, **kwargs)

    real_save = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        export_folders(make_phantom(n_subjects=3, size=32, seed=8, slices_per_subject=2), root, overwrite=True)
    assert snapshot(root) == before
    assert os.listdir(tmp_path) == ["data"]


def test_export_into_an_empty_existing_folder_and_duplicate_names(phantom, tmp_path):
    (tmp_path / "empty").mkdir()
    export_folders(phantom, tmp_path / "empty")
    assert sorted(os.listdir(tmp_path / "empty")) == sorted(FOLDERS + [MANIFEST])
    one = Split(phantom.test.images[:2], phantom.test.masks[:2], ["x", "x"])
    with pytest.raises(ValueError, match="two slices with one name"):
        export_folders(Splits(one, one, one), tmp_path / "dup")
    assert not (tmp_path / "dup").exists()


# --- overwrite removes only what export_folders wrote ---

def _user_data_set(root):
    """A user's own data set in the notebook layout, with a note and a subfolder inside a split folder."""
    tiny_layout(root, names=("Pt1_1", "Pt1_2"))
    (root / "trainimages" / "README.txt").write_text("scanner settings, keep")
    (root / "trainimages" / "originals").mkdir()
    (root / "trainimages" / "originals" / "Pt1_1.dcm").write_bytes(b"DICM" * 8)
    return root


def test_overwrite_never_removes_a_users_data_set(phantom, tmp_path):
    root = _user_data_set(tmp_path / "realdata")
    before = snapshot(root)
    with pytest.raises(ValueError, match="was not written by export_folders"):
        export_folders(phantom, root, overwrite=True)
    assert snapshot(root) == before
    assert os.listdir(tmp_path) == ["realdata"]


def test_overwrite_refuses_an_export_with_something_added_or_changed(phantom, tmp_path):
    root = tmp_path / "data"
    export_folders(phantom, root)
    (root / "trainimages" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):
        export_folders(phantom, root, overwrite=True)
    os.remove(root / "trainimages" / "notes.txt")
    first = root / "testimages" / f"{phantom.test.names[0]}.png"
    write_png(first, numpy.full((32, 32), 7))
    before = snapshot(root)
    with pytest.raises(ValueError, match=f"{first}.*changed"):
        export_folders(phantom, root, overwrite=True)
    assert snapshot(root) == before


def test_export_writes_a_manifest_of_its_files(phantom, tmp_path):
    root = export_folders(phantom, tmp_path / "data")
    listed = set(json.loads((root / MANIFEST).read_text())["files"])
    written = {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}
    assert listed == written - {MANIFEST}


# --- where the export goes ---

def test_export_to_a_file_or_below_a_file(phantom, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        export_folders(phantom, tmp_path / "afile")
    with pytest.raises(ValueError, match=f"{tmp_path / 'afile'} is not a folder"):
        export_folders(phantom, tmp_path / "afile" / "sub")
    assert (tmp_path / "afile").read_text() == "x"


def test_export_through_a_link_to_a_folder_writes_into_that_folder(phantom, tmp_path):
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    export_folders(phantom, tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert sorted(os.listdir(tmp_path / "target")) == sorted(FOLDERS + [MANIFEST])
    export_folders(phantom, tmp_path / "link", overwrite=True)
    assert (tmp_path / "link").is_symlink() and load_folders(tmp_path / "link").test.names == phantom.test.names


def test_export_never_writes_through_a_dangling_link(phantom, tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="dangling"):
        export_folders(phantom, tmp_path / "dangling")
    assert sorted(os.listdir(tmp_path)) == ["dangling"] and not (tmp_path / "nowhere").exists()


def test_export_follows_the_umask(phantom, tmp_path):
    old = os.umask(0o022)
    try:
        root = export_folders(phantom, tmp_path / "data")
    finally:
        os.umask(old)
    modes = {os.path.relpath(os.path.join(d, n), tmp_path): stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode)
             for d, dirs, files in os.walk(root) for n in dirs + files}
    modes["data"] = stat.S_IMODE(os.stat(root).st_mode)
    assert {m for p, m in modes.items() if os.path.isdir(tmp_path / p)} == {0o755}
    assert {m for p, m in modes.items() if os.path.isfile(tmp_path / p)} == {0o644}
