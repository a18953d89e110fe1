"""``python -m tinyunet data ...``: phantom, check, preview and bench, through ``main`` and once as a process."""

import os
import subprocess
import sys

import numpy
import pytest
from PIL import Image

from tinyunet.__main__ import main


def test_phantom_then_check(tmp_path, capsys):
    out = tmp_path / "ph"
    assert main(["data", "phantom", "--out", str(out), "--subjects", "4", "--seed", "3",
                 "--size", "32", "--slices", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert len(os.listdir(out / "trainimages")) == 4
    assert main(["data", "check", str(out)]) == 0
    report = capsys.readouterr().out
    assert "train" in report and "32x32" in report and "mask coverage" in report
    assert "no problems found" in report


def test_phantom_refuses_to_overwrite(tmp_path, capsys):
    args = ["data", "phantom", "--out", str(tmp_path), "--subjects", "3", "--size", "16", "--slices", "1"]
    (tmp_path / "keep.txt").write_text("x")
    assert main(args) == 1
    assert "not empty" in capsys.readouterr().out


def test_check_reports_a_problem(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path)]) == 1
    assert "missing split folder" in capsys.readouterr().out


def test_check_reports_a_subject_in_two_splits(tmp_path, capsys):
    for split in ("train", "validation", "test"):
        for folder in ("images", "masks"):
            (tmp_path / f"{split}{folder}").mkdir()
        mask = numpy.zeros((8, 8), numpy.uint8); mask[2:4, 2:4] = 255
        name = "Pt1_1.png" if split != "test" else "Pt2_1.png"
        Image.fromarray(numpy.full((8, 8), 100, numpy.uint8)).save(tmp_path / f"{split}images" / name)
        Image.fromarray(mask).save(tmp_path / f"{split}masks" / name)
    assert main(["data", "check", str(tmp_path)]) == 1
    assert "subject Pt1 is in both train and validation" in capsys.readouterr().out


def test_preview_of_a_folder_and_of_the_phantom(tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert main(["data", "preview", "--out", str(sheet), "--subjects", "3", "--size", "32",
                 "--slices", "2", "--columns", "2", "--rows", "1"]) == 0
    with Image.open(sheet) as image:
        assert image.mode == "RGB" and image.width == 64
        pixels = numpy.asarray(image)
    assert ((pixels == [0, 255, 255]).all(axis=2)).any()    # the mask outline in cyan
    main(["data", "phantom", "--out", str(tmp_path / "d"), "--subjects", "3", "--size", "16", "--slices", "1"])
    assert main(["data", "preview", str(tmp_path / "d"), "--out", str(sheet), "--split", "train"]) == 0


def test_bench(capsys):
    assert main(["data", "bench", "--subjects", "3", "--size", "32", "--slices", "2"]) == 0
    report = capsys.readouterr().out
    assert "ms a slice" in report and "Dice on test" in report


def test_runs_as_a_module(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tinyunet", "data", "check", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "missing split folder" in result.stdout


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def test_phantom_overwrite_never_removes_a_users_data_set(tmp_path, capsys):
    real = tmp_path / "realdata"
    for split in ("train", "validation", "test"):
        for folder in ("images", "masks"):
            (real / f"{split}{folder}").mkdir(parents=True)
        mask = numpy.zeros((8, 8), numpy.uint8); mask[2:4, 2:4] = 255
        Image.fromarray(numpy.full((8, 8), 100, numpy.uint8)).save(real / f"{split}images" / "Pt1_1.png")
        Image.fromarray(mask).save(real / f"{split}masks" / "Pt1_1.png")
    (real / "trainimages" / "notes.txt").write_text("where these scans came from")
    (real / "trainimages" / "raw").mkdir()
    (real / "trainimages" / "raw" / "Pt1_1.dcm").write_bytes(b"DICM" * 8)
    before = _tree(real)
    assert main(["data", "phantom", "--out", str(real), "--overwrite", "--subjects", "3",
                 "--size", "16", "--slices", "1"]) == 1
    assert "was not written by export_folders" in capsys.readouterr().out
    assert _tree(real) == before


def test_phantom_out_that_is_a_file_or_below_one(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        assert main(["data", "phantom", "--out", str(out), "--subjects", "3", "--size", "16", "--slices", "1"]) == 1
        report = capsys.readouterr().out
        assert report.startswith(f"error: export_folders: {tmp_path / 'afile'}") and "not a folder" in report
    assert (tmp_path / "afile").read_text() == "x"


def test_check_reads_zero_one_masks_and_refuses_empty_ones(tmp_path, capsys):
    out = tmp_path / "ph"
    main(["data", "phantom", "--out", str(out), "--subjects", "3", "--size", "16", "--slices", "2"])
    main(["data", "check", str(out)])
    coverage = [line.split("mask coverage")[1] for line in capsys.readouterr().out.splitlines()
                if "mask coverage" in line]
    for mask in (out / "testmasks").iterdir():
        levels = numpy.asarray(Image.open(mask))
        Image.fromarray((levels > 0).astype(numpy.uint8)).save(mask)
    assert main(["data", "check", str(out)]) == 0
    assert coverage == [line.split("mask coverage")[1] for line in capsys.readouterr().out.splitlines()
                        if "mask coverage" in line]
    for mask in (out / "testmasks").iterdir():
        Image.fromarray(numpy.zeros((16, 16), numpy.uint8)).save(mask)
    assert main(["data", "check", str(out)]) == 1
    assert f"every mask in {out / 'testmasks'} is empty" in capsys.readouterr().out


def test_organ_option_carries_the_classes_through_phantom_check_and_preview(tmp_path, capsys):
    out = tmp_path / "three"
    assert main(["data", "phantom", "--out", str(out), "--subjects", "3", "--size", "32", "--slices", "3",
                 "--organ", "liver", "spleen", "pancreas"]) == 0
    assert "classes: background, liver, spleen, pancreas" in capsys.readouterr().out
    assert (out / "classes.json").exists()
    assert main(["data", "check", str(out)]) == 0
    report = capsys.readouterr().out
    assert "classes: background, liver, spleen, pancreas" in report and "no problems found" in report
    assert "liver [" in report and "pancreas [" in report
    sheet = tmp_path / "sheet.png"
    assert main(["data", "preview", str(out), "--out", str(sheet), "--columns", "3", "--rows", "1"]) == 0
    assert "outlines: liver cyan, spleen red, pancreas yellow" in capsys.readouterr().out
    with Image.open(sheet) as image:
        pixels = numpy.asarray(image)
    for colour in ([0, 255, 255], [255, 60, 60], [255, 220, 0]):
        assert (pixels == colour).all(axis=2).any()
    assert main(["data", "phantom", "--out", str(tmp_path / "liver"), "--subjects", "3", "--size", "16",
                 "--slices", "2", "--organ", "liver"]) == 0
    assert main(["data", "check", str(tmp_path / "liver")]) == 0
    assert "classes: liver" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["data", "phantom", "--out", str(tmp_path / "x"), "--organ", "heart"])
    assert "invalid choice: 'heart'" in capsys.readouterr().err
