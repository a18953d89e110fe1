"""Every lesson script runs end to end in the tiny configuration and leaves its files.

The lessons are run as a reader runs them, ``python lessons/<script>.py``, in
subprocesses on the CPU (so a test run does not depend on a GPU).
"""

import ast
import importlib.util
import json
import os
import re
import sys

import numpy
import pytest
from PIL import Image

from lesson_scripts import LESSONS, lesson, run_tiny
from tinyunet import lessons

FIGURES = ("figure1_dice.png", "figure2_unet.png", "figure3_loss.png", "figure4_predictions.png")
INSIDE = ("figure5_feature_maps.png", "figure6_kernels.png", "figure7_probabilities.png",
          "figure8_transposed_conv.png", "figure9_errors.png")
RUN_FILES = FIGURES + INSIDE + ("history.json", "history.csv", "best.npz", "metrics.json", "run.log")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One whole tiny run by run_all.py, shared by the tests that only read it."""
    return run_tiny(tmp_path_factory)


def test_run_all_leaves_every_file_of_the_run_folder(tiny_run):
    folder, stdout = tiny_run
    for name in RUN_FILES:
        assert (folder / name).is_file(), f"{name} missing; stdout:\n{stdout}"
    for name in FIGURES + INSIDE:
        image = Image.open(folder / name)
        assert image.format == "PNG" and min(image.size) > 200
        rgb = numpy.asarray(image.convert("RGB")).reshape(-1, 3).astype(numpy.int32)
        colours = numpy.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
        assert len(colours) > 20, f"{name} looks blank"
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("test_dice_global", "test_dice_per_image", "threshold_baseline_dice"):
        assert 0.0 <= metrics[key] <= 1.0
    history = json.loads((folder / "history.json").read_text())["history"]
    epochs = lessons.CONFIGS["tiny"].epochs
    assert all(len(history[key]) == epochs for key in ("loss", "val_loss", "dice_coeff", "val_dice_coeff"))
    rows = (folder / "history.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == epochs + 1
    with numpy.load(folder / "best.npz") as weights:
        assert any(name.endswith("/kernel") for name in weights.files)


def test_every_lesson_names_its_article_section(tiny_run):
    folder, stdout = tiny_run
    for number in range(1, 8):
        assert f"Lesson {number}:" in stdout
    assert stdout.count("Article: Erickson & Cai") == 7
    log = (folder / "run.log").read_text()
    assert "Epoch 2/2" in log and "Test Dice" in log
    for script in sorted(os.listdir(LESSONS)):
        if script.startswith("lesson"):
            with open(os.path.join(LESSONS, script)) as file:
                source = file.read()
            assert "Cell" in source.split('"""')[1]          # the docstring names the notebook cell


# what a lesson may import besides tinyunet's public modules: the standard library, the package's
# dependencies, and CuPy (its optional GPU backend)
ALLOWED_TOP_LEVEL = set(sys.stdlib_module_names) | {"numpy", "PIL", "cupy"}


def import_problems(source, filename):
    """What in source's imports is not the public tinyunet package, the standard library or its
    dependencies: relative imports, private names or modules (a part starting with "_"), names
    tinyunet does not have, and modules of the repository outside the package (tests, tools)."""
    problems, used_tinyunet = [], False
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules, names = [alias.name for alias in node.names], []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                problems.append(f"line {node.lineno}: relative import")
                continue
            modules, names = [node.module], [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top != "tinyunet":
                if top not in ALLOWED_TOP_LEVEL:
                    problems.append(f"line {node.lineno}: {module} is neither tinyunet nor the standard library")
                continue
            used_tinyunet = True
            for name in module.split(".") + names:
                if name.startswith("_") or name == "*":
                    problems.append(f"line {node.lineno}: {module} {name} is not public")
            if importlib.util.find_spec(module) is None:
                problems.append(f"line {node.lineno}: tinyunet has no module {module}")
                continue
            imported = importlib.import_module(module)
            for name in names:
                if not hasattr(imported, name) and not _has_submodule(imported, name):
                    problems.append(f"line {node.lineno}: {module} has no {name}")
    if not used_tinyunet:
        problems.append("imports nothing from tinyunet")
    return problems


def test_lessons_import_only_the_public_package_and_the_standard_library():
    scripts = sorted(name for name in os.listdir(LESSONS) if name.endswith(".py"))
    assert "run_all.py" in scripts and "lesson1_setup.py" in scripts
    for script in scripts:
        with open(os.path.join(LESSONS, script)) as source:
            assert import_problems(source.read(), script) == [], script


def _has_submodule(package, name):
    """Whether ``name`` is a module inside ``package`` (a plain module has none)."""
    return hasattr(package, "__path__") and importlib.util.find_spec(f"{package.__name__}.{name}") is not None


def test_the_import_check_refuses_what_a_lesson_must_not_import():
    for line in ("from tinyunet.kernels import _cuda", "import tinyunet.kernels._cuda",
                 "from tinyunet.models.model import _not_public", "from tests.helpers import to_numpy",
                 "import tools.compile_kernels", "from . import lesson1_setup", "from tinyunet import no_such_module",
                 "from tinyunet.layers import *"):
        assert import_problems(f"import tinyunet\n{line}\n", "bad_lesson.py"), line
    assert import_problems("import numpy\n", "bad_lesson.py") == ["imports nothing from tinyunet"]


def test_a_folder_of_another_config_is_refused(tiny_run):
    folder, _ = tiny_run
    result = lesson("lesson1_setup.py", "--config", "cpu", "--out", folder, check=False)
    assert result.returncode != 0 and "tiny" in result.stderr


def test_rerunning_never_destroys_a_previous_run(tiny_run, tmp_path):
    folder, _ = tiny_run
    metrics_before = (folder / "metrics.json").read_bytes()
    refused = lesson("run_all.py", "--config", "tiny", "--out", folder, check=False)
    assert refused.returncode != 0 and "--overwrite" in refused.stderr
    assert (folder / "metrics.json").read_bytes() == metrics_before

    (tmp_path / "runs" / "tiny").mkdir(parents=True)           # default folders: runs/<config>, then -2
    (tmp_path / "runs" / "tiny" / "metrics.json").write_text("{}")
    lesson("run_all.py", "--config", "tiny", cwd=tmp_path)
    assert (tmp_path / "runs" / "tiny" / "metrics.json").read_text() == "{}"
    assert (tmp_path / "runs" / "tiny-2" / "metrics.json").is_file()


def test_lesson_output_reads_like_the_notebook(tiny_run):
    _, stdout = tiny_run
    assert "Total params: 600,761" in stdout                       # lesson 4's summary
    assert "val_loss:" in stdout and "ms/step" in stdout            # Keras-like epoch lines
    assert "small overlap" in stdout and "OK" in stdout             # lesson 3's Dice and gradient checks
    assert "(global)" in stdout and "per image" in stdout


def test_each_lesson_runs_alone_and_makes_what_it_needs(tmp_path):
    folder = tmp_path / "alone"
    result = lesson("lesson6_predict.py", "--config", "tiny", "--out", folder)
    assert "running lesson5_train.py first" in result.stdout
    for name in ("data.npz", "best.npz", "history.json", "figure3_loss.png", "figure4_predictions.png",
                 "metrics.json", "config.json"):
        assert (folder / name).is_file(), name
    for script, made in (("lesson1_setup.py", "run.log"), ("lesson3_dice_and_layernorm.py", "figure1_dice.png"),
                         ("lesson4_build_unet.py", "figure2_unet.png")):
        result = lesson(script, "--out", folder)      # the folder's config.json says "tiny"
        assert "Config: tiny" in result.stdout
        assert (folder / made).is_file()


def test_lesson5_reuses_the_data_lesson2_saved(tmp_path):
    folder = tmp_path / "split"
    lesson("lesson2_load_data.py", "--config", "tiny", "--out", folder)
    before = (folder / "data.npz").stat().st_mtime_ns
    result = lesson("lesson5_train.py", "--out", folder, "--epochs", "1")
    assert "running lesson2" not in result.stdout
    assert (folder / "data.npz").stat().st_mtime_ns == before
    assert len(json.loads((folder / "history.json").read_text())["history"]["loss"]) == 1


def test_data_from_folders_in_the_notebooks_layout(tmp_path):
    root = tmp_path / "notebook_data"
    for split, offset in (("train", 0), ("validation", 10), ("test", 20)):
        (root / f"{split}images").mkdir(parents=True)
        (root / f"{split}masks").mkdir(parents=True)
        for k in range(4):
            rng = numpy.random.default_rng(offset + k)
            image = (rng.random((32, 32)) * 255).astype(numpy.uint8)
            mask = numpy.zeros((32, 32), numpy.uint8)
            mask[8 + k:20, 10:22 - k] = 255
            Image.fromarray(image).save(root / f"{split}images" / f"Pt{offset + k}_{k}.png")
            Image.fromarray(mask).save(root / f"{split}masks" / f"Pt{offset + k}_{k}.png")
    folder = tmp_path / "folders_run"
    result = lesson("lesson2_load_data.py", "--config", "tiny", "--out", folder, "--data", root)
    assert "train" in result.stdout and (folder / "data.npz").is_file()
    lesson("lesson6_predict.py", "--out", folder, "--data", root)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["data"].startswith("folders:") and "threshold_baseline_dice" not in metrics
    assert metrics["test_images"] == 4


@pytest.mark.slow
def test_the_cpu_configuration_learns(tmp_path):
    """Two epochs of the laptop configuration already lower the validation loss clearly."""
    folder = tmp_path / "cpu"
    lesson("lesson5_train.py", "--config", "cpu", "--out", folder, "--epochs", "2")
    val_loss = json.loads((folder / "history.json").read_text())["history"]["val_loss"]
    assert val_loss[1] < val_loss[0] - 0.05


def test_three_organs_train_a_three_class_model_end_to_end(tmp_path):
    folder = tmp_path / "organs"
    result = lesson("run_all.py", "--config", "tiny", "--out", folder, "--organ", "liver", "spleen", "pancreas")
    assert "softmax over 4 classes" in result.stdout and "liver covers" in result.stdout
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["class_names"] == ["background", "liver", "spleen", "pancreas"]
    organs = [metrics[f"test_dice_global_{name}"] for name in ("liver", "spleen", "pancreas")]
    assert all(0.0 <= dice <= 1.0 for dice in organs)
    assert metrics["test_dice_global"] == pytest.approx(numpy.mean(organs))
    assert 0.0 <= metrics["threshold_baseline_dice_liver"] <= 1.0
    assert metrics["experiment"]["organ"] == ["liver", "spleen", "pancreas"]
    with numpy.load(folder / "data.npz") as data:
        assert data["test_masks"].shape[-1] == 4
    with numpy.load(folder / "best.npz") as weights:
        assert weights["output/kernel"].shape[-1] == 4
    with Image.open(folder / "figure4_predictions.png") as figure:
        assert figure.format == "PNG"


def test_lesson7_shows_the_inside_and_adds_to_metrics(tiny_run):
    folder, stdout = tiny_run
    for part in range(1, 6):
        assert f"--- Part {part}:" in stdout
    for sentence in ("we have found the key content needed", "where the pixels have had rows and columns inserted",
                     "apply a threshold of 0.5", "selects pixels far from the expected location"):
        assert sentence in stdout
    float64 = re.search(r"in float64: largest difference (\S+)", stdout)
    assert float64 and float(float64.group(1)) < 1e-12
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.05 <= metrics["best_threshold"] <= 0.95 and 0 <= metrics["val_dice_at_best_threshold"] <= 1
    assert metrics["val_dice_at_best_threshold"] == max(metrics["threshold_sweep"].values())
    counts = metrics["error_counts"]
    assert counts["near_pixels"] == 5 and set(counts["total"]) == {"tp", "fp_near", "fp_far", "fn"}
    with numpy.load(folder / "data.npz") as data:
        truth = int(data["test_masks"].sum())
        assert len(counts["per_image"]) == len(data["test_names"])
    assert counts["total"]["tp"] + counts["total"]["fn"] == truth
    assert "test_dice_global" in metrics and "run_all_seconds" in metrics      # lesson 6's and run_all's stay


def test_lesson7_runs_alone_on_a_weights_file_in_a_fresh_process(tiny_run, tmp_path):
    folder, _ = tiny_run
    alone = tmp_path / "inside"
    result = lesson("lesson7_inside.py", "--config", "tiny", "--out", alone, "--weights", folder / "best.npz")
    assert "running lesson5" not in result.stdout and f"Weights: {folder / 'best.npz'}" in result.stdout
    for name in INSIDE:
        assert (alone / name).is_file(), name
    metrics = json.loads((alone / "metrics.json").read_text())
    assert metrics["inside_weights"] == str(folder / "best.npz") and "best_threshold" in metrics
    (tmp_path / "not_weights.npz").write_bytes(b"not an npz")
    refused = lesson("lesson7_inside.py", "--out", alone, "--weights", tmp_path / "not_weights.npz", check=False)
    assert refused.returncode and "not_weights.npz" in refused.stderr and "Traceback" not in refused.stderr
    # lesson 6's --probabilities: Figure 4 gains its third column
    with Image.open(folder / "figure4_predictions.png") as figure:
        narrow = figure.size
    lesson("lesson6_predict.py", "--out", alone, "--probabilities")
    with Image.open(alone / "figure4_predictions.png") as figure:
        assert figure.size[0] > narrow[0]
