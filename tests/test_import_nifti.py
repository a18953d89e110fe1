"""import_nifti and the shared pipeline: orientation from the affine, crop, labels, splits, errors, round trip."""

import json
from pathlib import Path

import numpy
import pytest
from PIL import Image

from ct_volumes import decathlon, marker_volume, snapshot, store, write_nifti
from tinyunet.__main__ import main
from tinyunet.data import export_folders, import_nifti, load_folders, make_phantom, window
from tinyunet.data.extras import require
from tinyunet.data.phantom_nifti import export_phantom_nifti
from tinyunet.data.volume import axis_codes

pytest.importorskip("nibabel")

ORIENTATIONS = [("R", "A", "S"), ("L", "P", "S"), ("L", "A", "I"), ("S", "R", "P"), ("P", "I", "L"),
                ("A", "L", "S")]
FOLDERS = ("trainimages", "trainmasks", "validationimages", "validationmasks", "testimages", "testmasks")


def pngs(root):
    """{relative path: bytes} of the slices (not the preview or manifest)."""
    return {str(p.relative_to(root)): p.read_bytes() for f in FOLDERS for p in sorted((Path(root) / f).glob("*.png"))}


def read(path):
    return numpy.asarray(Image.open(path))


def find(root, kind, stem):
    """The slice ``stem`` of ``kind`` (images or masks) in whichever split it went to."""
    (path,) = Path(root).glob(f"*{kind}/{stem}.png")
    return path


def test_axis_codes_of_hand_written_affines():
    assert axis_codes(numpy.eye(4)) == ("R", "A", "S")
    assert axis_codes(numpy.diag([-0.7, -0.7, 2.5, 1])) == ("L", "P", "S")
    swapped = numpy.array([[0, 0, -2, 0], [0.8, 0, 0, 0], [0, 3, 0, 0], [0, 0, 0, 1.0]])
    assert axis_codes(swapped) == ("A", "S", "L")
    with pytest.raises(ValueError, match="two world axes"):
        axis_codes(numpy.array([[1, 1, 0, 0], [1, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]))


@pytest.mark.parametrize("codes", ORIENTATIONS[1:])
def test_every_orientation_gives_the_same_pngs_with_the_marker_top_left(tmp_path, codes):
    reference = import_nifti(decathlon(tmp_path / "ras", ["a_1", "b_2", "c_3"]), tmp_path / "out_ras", size=32)
    import_nifti(decathlon(tmp_path / "src", ["a_1", "b_2", "c_3"], codes), tmp_path / "out", size=32)
    assert pngs(tmp_path / "out") == pngs(tmp_path / "out_ras")
    image = read(next((tmp_path / "out" / "trainimages").glob("*.png")))
    assert (image[1:6, 1:6] == 255).all()              # 300 HU block: the patient's right-anterior
    assert image[1:6, -6:-1].max() < 255 and image[-6:-1, 1:6].max() < 255
    # the cranial-only block (-100 HU) is in slice z003 (of 0..3) but not in a caudal one
    assert reference["patients"]["a1"]["kept"] == list(range(3, 10))


def test_window_of_the_cropped_display_volume_exactly(tmp_path):
    hu, labels = marker_volume()
    import_nifti(decathlon(tmp_path / "src", ["a_1", "b_2", "c_3"], ("L", "A", "I")), tmp_path / "out", size=32)
    image = read(find(tmp_path / "out", "images", "a1_z004"))
    assert (image == window(hu[4, 4:36, 4:36])).all()
    cranial = read(find(tmp_path / "out", "images", "a1_z003"))
    assert (cranial[-10:-5, -10:-5] == window(-100)).all()


def test_labels_any_takes_pancreas_and_tumour_and_a_list_picks(tmp_path):
    src = decathlon(tmp_path / "src", ["a_1", "b_2", "c_3"])
    hu, labels = marker_volume()
    import_nifti(src, tmp_path / "any", size=40)
    mask = read(find(tmp_path / "any", "masks", "a1_z006"))
    assert set(numpy.unique(mask)) == {0, 255}
    assert ((mask == 255) == (labels[6] > 0)).all()
    manifest = import_nifti(src, tmp_path / "two", size=40, label_values=[2])
    assert manifest["patients"]["a1"]["kept"] == [5, 6, 7, 8, 9]
    assert ((read(find(tmp_path / "two", "masks", "a1_z006")) == 255) == (labels[6] == 2)).all()
    assert manifest["patients"]["a1"]["label_values"] == {str(v): int((labels == v).sum()) for v in (0, 1, 2)}
    assert manifest["label_names"] == {"0": "background", "1": "pancreas", "2": "cancer"}


def test_min_pixels_all_slices_and_padding_with_air(tmp_path):
    src = decathlon(tmp_path / "src", ["a_1", "b_2", "c_3"])
    manifest = import_nifti(src, tmp_path / "big", size=48, min_pixels=40)
    assert manifest["patients"]["a1"]["kept"] == [3, 4, 5, 6, 7, 8]   # slice 9 holds 24 tumour pixels
    image = read(find(tmp_path / "big", "images", "a1_z004"))
    assert image.shape == (48, 48) and (image[:4] == 0).all() and (image[:, -4:] == 0).all()
    manifest = import_nifti(src, tmp_path / "all", size=40, all_slices=True)
    assert manifest["patients"]["a1"]["kept"] == list(range(12))
    assert (read(find(tmp_path / "all", "masks", "a1_z000")) == 0).all()


def test_split_by_patient_and_by_splits_file(tmp_path):
    cases = [f"pancreas_{i:03d}" for i in range(1, 8)]
    src = decathlon(tmp_path / "src", cases)
    manifest = import_nifti(src, tmp_path / "out", size=32, seed=4)
    data = load_folders(tmp_path / "out")
    seen = [set(split.subjects) for _, split in data.items()]
    assert all(seen) and not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert set().union(*seen) == {f"pancreas{i:03d}" for i in range(1, 8)}
    assert {p: r["split"] for p, r in manifest["patients"].items()} == \
        {s: name for name, split in data.items() for s in split.subjects}
    chosen = {f"pancreas{i:03d}": "test" if i < 3 else "validation" if i == 3 else "train" for i in range(1, 8)}
    (tmp_path / "splits.json").write_text(json.dumps(chosen))
    import_nifti(src, tmp_path / "chosen", size=32, splits=tmp_path / "splits.json")
    data = load_folders(tmp_path / "chosen")
    assert set(data.test.subjects) == {"pancreas001", "pancreas002"}
    assert set(data.validation.subjects) == {"pancreas003"}


def test_jobs_give_the_same_output_and_the_manifest_names_every_source(tmp_path):
    src = decathlon(tmp_path / "src", ["a_1", "b_2", "c_3", "d_4"])
    (src / "imagesTr" / "._a_1.nii.gz").write_bytes(b"macOS resource fork")   # not data
    one = import_nifti(src, tmp_path / "one", size=32)
    two = import_nifti(src, tmp_path / "two", size=32, jobs=2)
    assert pngs(tmp_path / "one") == pngs(tmp_path / "two")
    assert one["patients"] == two["patients"]
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["options"]["size"] == 32 and manifest["tinyunet_version"]
    assert [s["image"] for s in manifest["sources"]] == [str(src / "imagesTr" / f"{c}.nii.gz")
                                                         for c in ["a_1", "b_2", "c_3", "d_4"]]
    assert manifest["patients"]["a1"]["stored_axes"] == "RAS"
    assert sorted(p.name for p in (tmp_path / "one" / "preview").iterdir()) == ["a1.png", "b2.png", "c3.png", "d4.png"]


def test_nnunet_channel_names(tmp_path):
    src = decathlon(tmp_path / "src", ["case_001", "case_002", "case_003"])
    for path in (src / "imagesTr").iterdir():
        path.rename(path.with_name(path.name.replace(".nii.gz", "_0000.nii.gz")))
    manifest = import_nifti(src, tmp_path / "out", size=32)
    assert sorted(manifest["patients"]) == ["case001", "case002", "case003"]


def test_phantom_round_trip_gives_the_phantoms_own_slices(tmp_path, capsys):
    assert main(["data", "phantom", "--out", str(tmp_path / "ct"), "--nifti", "--subjects", "4",
                 "--size", "64", "--seed", "2", "--slices", "6", "10"]) == 0
    capsys.readouterr()
    assert main(["data", "import-nifti", str(tmp_path / "ct"), str(tmp_path / "imported"), "--size", "64",
                 "--splits", str(tmp_path / "ct" / "splits.json")]) == 0
    progress = capsys.readouterr().err      # not a terminal here: a line per volume, no carriage returns
    assert "\r" not in progress and progress.count(" volumes  ") == 4 and "4 volumes in" in progress
    export_folders(make_phantom(n_subjects=4, size=64, seed=2, slices_per_subject=(6, 10)), tmp_path / "phantom")
    assert pngs(tmp_path / "imported") == pngs(tmp_path / "phantom")
    assert len(pngs(tmp_path / "phantom")) > 40


def test_phantom_hu_export_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "ct").mkdir()
    (tmp_path / "ct" / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="not an empty folder"):
        export_phantom_nifti(tmp_path / "ct", n_subjects=3, size=32)
    assert (tmp_path / "ct" / "mine.txt").read_text() == "keep"


def _break(src, how):
    """Damage a good data set in one way; return the file the error must name."""
    image, label = src / "imagesTr" / "b_2.nii.gz", src / "labelsTr" / "b_2.nii.gz"
    if how == "truncated":
        image.write_bytes(image.read_bytes()[:len(image.read_bytes()) // 2])
        return image
    if how == "not gzip":
        image.write_bytes(b"this is not a NIfTI file")
        return image
    if how == "no label":
        label.unlink()
        return image
    if how == "no image":
        image.unlink()
        return label
    hu, labels = marker_volume()
    if how == "4-D":
        write_nifti(image, numpy.stack([hu, hu], axis=-1), numpy.eye(4))
        return image
    if how == "other shape":
        write_nifti(label, *store(labels[:, :, :30], ("R", "A", "S")))
        return label
    write_nifti(label, *store(labels.astype(numpy.float32) + 0.5 * (labels == 2), ("R", "A", "S")))
    return label


@pytest.mark.parametrize("how", ["truncated", "not gzip", "no label", "no image", "4-D", "other shape",
                                 "non-integer"])
def test_bad_input_names_the_file_and_loses_nothing(tmp_path, how):
    src = decathlon(tmp_path / "src", ["a_1", "b_2", "c_3"])
    named = _break(src, how)
    before = snapshot(src)
    with pytest.raises(ValueError) as error:
        import_nifti(src, tmp_path / "out", size=32)
    assert str(named) in str(error.value)
    assert snapshot(src) == before
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]   # no staging folder left


def test_out_must_be_new_and_outside_the_sources(tmp_path):
    src = decathlon(tmp_path / "src", ["a_1", "b_2", "c_3"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    before = snapshot(src, tmp_path / "out")
    with pytest.raises(ValueError, match="not an empty folder"):
        import_nifti(src, tmp_path / "out")
    with pytest.raises(ValueError, match="inside the source folder"):
        import_nifti(src, src / "slices")
    assert snapshot(src, tmp_path / "out") == before and not (src / "slices").exists()
    assert main(["data", "import-nifti", str(src), str(tmp_path / "out")]) == 1


def test_missing_extra_names_it(monkeypatch):
    import importlib

    def missing(name):
        raise ImportError(f"No module named {name!r}")
    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(ImportError, match=r'pip install "tinyunet\[dicom\]"'):
        require("pydicom", "dicom")


def test_phantom_volumes_are_float32_hu_in_ras(tmp_path):
    import nibabel
    export_phantom_nifti(tmp_path / "ct", n_subjects=3, size=32, slices_per_subject=4)
    image = nibabel.load(str(tmp_path / "ct" / "imagesTr" / "s000.nii.gz"))
    assert image.get_data_dtype() == numpy.float32 and image.shape == (32, 32, 4)
    assert axis_codes(image.affine) == ("R", "A", "S")
    corner = numpy.asanyarray(image.dataobj)[:3, :3]   # air outside the body, with CT noise
    assert abs(numpy.median(corner) + 1000) < 30
    assert json.loads((tmp_path / "ct" / "dataset.json").read_text())["labels"] == {"0": "background",
                                                                                  "1": "pancreas"}


def test_stored_hu_agrees_with_the_phantoms_rounding_at_level_boundaries():
    from tinyunet.data.phantom import hu_to_levels
    from tinyunet.data.phantom_nifti import stored_hu
    boundaries = -160 + (numpy.arange(255) + 0.5) * 400 / 255
    near = numpy.concatenate([boundaries + d for d in numpy.linspace(-2e-5, 2e-5, 81)])[None, None]
    crossed = window(near.astype(numpy.float32)) != hu_to_levels(near)
    assert crossed.sum() > 10   # float32 alone would change these levels
    stored = stored_hu(near)
    assert stored.dtype == numpy.float32
    assert (window(stored) == hu_to_levels(near)).all()
    assert numpy.abs(stored - near).max() < 0.8 and (stored[~crossed] == near[~crossed].astype(numpy.float32)).all()
