"""``python -m tinyunet data ...``: phantom, check, preview and bench, through ``main`` and once as a process."""

import os
import subprocess
import sys

import numpy
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
