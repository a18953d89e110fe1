"""import_dicom: series walked and sorted by position, HU by rescale, labels matched by number, named errors."""

import shutil
from pathlib import Path

import numpy
import pytest

from ct_volumes import marker_volume, snapshot, store, write_dicom_series, write_nifti
from test_import_nifti import pngs
from tinyunet.__main__ import main
from tinyunet.data import import_dicom, import_nifti
from tinyunet.data.dicom import read_series
from tinyunet.data.volume import display

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

PATIENTS = ("PANCREAS_0001", "PANCREAS_0002", "PANCREAS_0010")


def tcia(root, **geometry):
    """DICOM_ROOT/PANCREAS_000N/<study>/<series>/*.dcm and LABELS/label000N.nii.gz (stored RAS, as TCIA's)."""
    hu, labels = marker_volume()
    for n, patient in enumerate(PATIENTS):
        write_dicom_series(root / "dicom" / patient / "study" / "series", hu, seed=n, **geometry)
        write_nifti(root / "labels" / f"label{int(patient[-4:]):04d}.nii.gz", *store(labels, ("R", "A", "S")))
    return root / "dicom", root / "labels"


def test_hu_of_pydicoms_own_ct_file(tmp_path):
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut
    path = get_testdata_file("CT_small.dcm", download=False)
    shutil.copy(path, tmp_path / "slice.dcm")
    volume = read_series(tmp_path)
    ds = pydicom.dcmread(path)
    assert volume.array.shape == (1, 128, 128)
    assert numpy.array_equal(volume.array[0], apply_modality_lut(ds.pixel_array, ds).astype(numpy.float32))
    assert float(ds.RescaleIntercept) == -1024
    assert volume.array[0, 0, 0] == ds.pixel_array[0, 0] - 1024


@pytest.mark.parametrize("geometry", [{}, {"flip_rows": True}, {"flip_columns": True},
                                      {"flip_rows": True, "flip_columns": True}, {"transpose": True}])
def test_any_stored_orientation_gives_the_nifti_importers_pngs(tmp_path, geometry):
    dicom_root, labels = tcia(tmp_path, **geometry)
    before = snapshot(dicom_root, labels)
    manifest = import_dicom(dicom_root, labels, tmp_path / "out", size=32)
    assert snapshot(dicom_root, labels) == before
    hu, label = marker_volume()
    src = tmp_path / "nifti"
    for patient in PATIENTS:   # the same volumes as NIfTI, named so the patients match
        write_nifti(src / "imagesTr" / f"{patient}.nii.gz", *store(hu, ("L", "P", "S")))
        write_nifti(src / "labelsTr" / f"{patient}.nii.gz", *store(label, ("L", "P", "S")))
    import_nifti(src, tmp_path / "reference", size=32)
    assert pngs(tmp_path / "out") == pngs(tmp_path / "reference")
    assert sorted(manifest["patients"]) == ["PANCREAS0001", "PANCREAS0002", "PANCREAS0010"]
    files = manifest["patients"]["PANCREAS0001"]["files"]
    assert len(files) == 12 and len(set(files)) == 12


def test_slices_sorted_by_position_not_by_name_or_instance_number(tmp_path):
    hu, _ = marker_volume()
    write_dicom_series(tmp_path / "series", hu, seed=3)
    volume = read_series(tmp_path / "series")
    assert volume.affine[2, 0] == pytest.approx(2.5)   # stacked along the normal (+z), 2.5 mm apart
    assert numpy.array_equal(display(volume).array, hu)   # display: slice 0 the most cranial


def test_cli_and_two_series(tmp_path, capsys):
    dicom_root, labels = tcia(tmp_path)
    hu, _ = marker_volume()
    write_dicom_series(dicom_root / "PANCREAS_0002" / "study" / "scout", hu[:5], series_uid="1.2.9")
    before = snapshot(dicom_root, labels)
    with pytest.raises(ValueError, match="2 image series") as error:
        import_dicom(dicom_root, labels, tmp_path / "out")
    assert str(dicom_root / "PANCREAS_0002") in str(error.value) and "1.2.9" in str(error.value)
    assert main(["data", "import-dicom", str(dicom_root), str(labels), str(tmp_path / "out"), "--size", "32",
                 "--series", "most-slices", "--labels", "1", "2"]) == 0
    assert snapshot(dicom_root, labels) == before
    assert (tmp_path / "out" / "manifest.json").exists()
    # these series' positions are not the labels' (372.5 mm apart): the report says so, by patient
    report = capsys.readouterr().out
    assert "label lies more than a voxel from its image for PANCREAS0001 (372.5 mm)" in report


def _break(dicom_root, labels, how):
    folder = dicom_root / "PANCREAS_0002"
    hu, _ = marker_volume()
    if how == "MR":
        shutil.rmtree(folder)
        write_dicom_series(folder / "s" / "s", hu, modality="MR")
        return folder
    if how == "missing slice":
        shutil.rmtree(folder)
        write_dicom_series(folder / "s" / "s", hu, skip=(6,))
        return folder
    if how == "two at one position":
        file = next(folder.rglob("*.dcm"))
        ds = pydicom.dcmread(file)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(file.with_name("copy.dcm"))
        return file.name
    if how == "no label":
        (labels / "label0002.nii.gz").unlink()
        return folder
    if how == "no patient":
        shutil.rmtree(folder)
        return labels / "label0002.nii.gz"
    _, label = marker_volume()
    write_nifti(labels / "label0002.nii.gz", *store(label[:10], ("R", "A", "S")))
    return labels / "label0002.nii.gz"


@pytest.mark.parametrize("how", ["MR", "missing slice", "two at one position", "no label", "no patient",
                                 "label of another shape"])
def test_bad_input_names_the_file_and_loses_nothing(tmp_path, how):
    dicom_root, labels = tcia(tmp_path)
    named = _break(dicom_root, labels, how)
    before = snapshot(dicom_root, labels)
    with pytest.raises(ValueError) as error:
        import_dicom(dicom_root, labels, tmp_path / "out", size=32)
    assert str(named) in str(error.value)
    assert snapshot(dicom_root, labels) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dicom", "labels"]
    if how == "MR":
        assert "not CT" in str(error.value)
    if how == "missing slice":
        assert "missing slices" in str(error.value) and "5.000 mm" in str(error.value)


def test_out_must_be_new(tmp_path):
    dicom_root, labels = tcia(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.png").write_bytes(b"mine")
    with pytest.raises(ValueError, match="not an empty folder"):
        import_dicom(dicom_root, labels, tmp_path / "out")
    assert (tmp_path / "out" / "keep.png").read_bytes() == b"mine"
    with pytest.raises(ValueError, match="inside the source folder"):
        import_dicom(dicom_root, labels, labels / "out")
    assert not Path(labels / "out").exists()


def test_the_benchmarks_dicom_patient_and_its_label_lie_on_one_grid(tmp_path):
    from tinyunet.data.import_cli import synthetic_dicom_case
    dicom_root, labels = synthetic_dicom_case(tmp_path / "src", (48, 40, 9))
    splits = tmp_path / "splits.json"
    splits.write_text('{"PANCREAS0001": "train"}')
    record = import_dicom(dicom_root, labels, tmp_path / "out", size=48, splits=splits)["patients"]["PANCREAS0001"]
    assert record["grid_offset_mm"] == 0 and record["kept"] == [3, 4, 5]      # the label's middle third
    assert record["shape"] == [9, 48, 40] and len(record["files"]) == 9


def test_bench_import_times_either_format(capsys):
    for fmt in ("nifti", "dicom"):
        assert main(["data", "bench-import", "--shape", "64", "64", "12", "--repeats", "1", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "import-nifti of one 64 x 64 x 12 int16 volume (.nii.gz), 4 slices kept" in out
    assert ("import-dicom of one 64 x 64 x 12 int16 volume (DICOM series of 12 slices of 64 x 64, one file "
            "each), 4 slices kept") in out
