"""The lessons' run folders: which folder a run takes, what a rerun, --overwrite or --resume replaces, and its flags."""

import argparse
import importlib.util
import json
import os
import threading

import numpy
import pytest

from lesson_scripts import LESSONS, lesson
from tinyunet import lessons


def test_overwrite_replaces_only_the_lesson_files(tmp_path):
    folder = tmp_path / "again"
    lesson("lesson3_dice_and_layernorm.py", "--config", "tiny", "--out", folder)   # an earlier run
    (folder / "notes.txt").write_text("mine")
    lesson("run_all.py", "--out", folder, "--overwrite")
    assert (folder / "notes.txt").read_text() == "mine"
    assert "test_dice_global" in json.loads((folder / "metrics.json").read_text())
    assert (folder / "run.log").read_text().count("Lesson 3:") == 1          # the earlier run's log went
    assert json.loads((folder / "config.json").read_text())["name"] == "tiny"   # the folder's configuration kept


def load_run_all():
    """lessons/run_all.py as a module, to call its folder choice directly."""
    spec = importlib.util.spec_from_file_location("run_all", os.path.join(LESSONS, "run_all.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_runs_started_together_claim_two_folders(tmp_path, monkeypatch):
    """The second run_all chooses its folder before the first has written anything there."""
    run_all = load_run_all()
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(out=None, overwrite=False, resume=False, config="tiny", data=None)
    config = lessons.CONFIGS["tiny"]
    first, second = run_all.choose_folder(args, config), run_all.choose_folder(args, config)
    assert first != second
    chosen, barrier = [], threading.Barrier(4)

    def claim():
        barrier.wait()
        chosen.append(run_all.choose_folder(args, config))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(chosen + [first, second])) == 6
    assert sorted(os.listdir(tmp_path / "runs")) == ["tiny"] + [f"tiny-{k}" for k in range(2, 7)]


def test_overwrite_never_replaces_a_users_own_files(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"learning_rate": 0.1}')
    (folder / "data.npz").write_bytes(b"my data")
    refused = lesson("run_all.py", "--config", "tiny", "--out", folder, "--overwrite", check=False)
    assert refused.returncode != 0
    assert f"{folder / 'config.json'} was not written by tinyunet's lessons" in refused.stderr
    assert (folder / "config.json").read_text() == '{"learning_rate": 0.1}'
    assert (folder / "data.npz").read_bytes() == b"my data"

    run = tmp_path / "run"
    lesson("lesson1_setup.py", "--config", "tiny", "--out", run)   # a run folder of the lessons ...
    (run / "metrics.json").write_text("{}")                        # ... with a file of the user's
    refused = lesson("run_all.py", "--out", run, "--overwrite", check=False)
    assert refused.returncode != 0 and f"{run / 'metrics.json'} was not written" in refused.stderr
    assert (run / "metrics.json").read_text() == "{}" and (run / "config.json").is_file()


def test_a_lesson_names_a_config_json_it_did_not_write(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "config.json").write_text('{"learning_rate": 0.1}')
    result = lesson("lesson1_setup.py", "--out", folder, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{folder / 'config.json'} was not written by tinyunet's lessons" in result.stderr

    run = tmp_path / "run"
    lesson("lesson1_setup.py", "--config", "tiny", "--out", run)
    (run / "config.json").write_text("{not json")
    result = lesson("lesson1_setup.py", "--out", run, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{run / 'config.json'} is not valid JSON" in result.stderr


def test_lesson5_refuses_to_replace_a_finished_training(tmp_path):
    folder = tmp_path / "trained"
    lesson("lesson5_train.py", "--config", "tiny", "--out", folder, "--epochs", "1")
    weights, history = (folder / "best.npz").read_bytes(), (folder / "history.json").read_text()
    refused = lesson("lesson5_train.py", "--out", folder, "--epochs", "1", check=False)
    assert refused.returncode != 0 and "--overwrite" in refused.stderr and "--resume" in refused.stderr
    assert (folder / "best.npz").read_bytes() == weights and (folder / "history.json").read_text() == history
    lesson("lesson5_train.py", "--out", folder, "--epochs", "2", "--overwrite")
    assert len(json.loads((folder / "history.json").read_text())["history"]["loss"]) == 2


def test_run_all_resume_continues_an_interrupted_run(tmp_path):
    folder = tmp_path / "interrupted"
    lesson("lesson5_train.py", "--config", "tiny", "--out", folder, "--epochs", "1")
    for name in ("history.json", "history.csv", "training.json", "figure3_loss.png"):
        (folder / name).unlink()       # what a Ctrl-C in epoch 2 leaves: epoch 1's weights and resume state
    data_written = (folder / "data.npz").stat().st_mtime_ns
    result = lesson("run_all.py", "--resume", "--out", folder)
    assert "Resuming from" in result.stdout and "after epoch 1" in result.stdout
    assert "Epoch 1/2" not in result.stdout and "Epoch 2/2" in result.stdout
    assert (folder / "data.npz").stat().st_mtime_ns == data_written
    assert len(json.loads((folder / "history.json").read_text())["history"]["loss"]) == 2
    metrics = json.loads((folder / "metrics.json").read_text())
    assert "test_dice_global" in metrics
    # only the resumed part was timed: it is not passed off as the whole run's time
    assert "run_all_seconds" not in metrics and metrics["run_all_seconds_resumed_part"] > 0
    assert "after the resume (the interrupted part is not counted)" in result.stdout


def test_a_failed_data_run_leaves_nothing_that_blocks_its_out(tmp_path):
    not_a_layout = tmp_path / "photos"
    not_a_layout.mkdir()
    (not_a_layout / "holiday.png").write_bytes(b"")
    folder = tmp_path / "run"
    for _ in range(2):
        failed = lesson("run_all.py", "--config", "tiny", "--out", folder, "--data", not_a_layout, check=False)
        assert failed.returncode != 0 and "already holds a run" not in failed.stderr
        assert not folder.exists()
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    failed = lesson("run_all.py", "--config", "tiny", "--out", folder, "--data", not_a_layout, check=False)
    assert failed.returncode != 0 and os.listdir(folder) == ["notes.txt"]


EXPERIMENT = ["--lr", "0.003", "--epochs", "1", "--batch-size", "4", "--filters", "4", "8", "16", "32",
              "--normalization", "every", "--upsampling", "bilinear", "--initializer", "he_uniform"]


def test_experiment_flags_reach_every_lesson_and_are_recorded(tmp_path):
    folder = tmp_path / "flags"
    result = lesson("run_all.py", "--config", "tiny", "--out", folder, *EXPERIMENT)
    assert "Epoch 1/1" in result.stdout and "Experiment flags: --lr 0.003" in result.stdout
    config = json.loads((folder / "config.json").read_text())
    assert (config["learning_rate"], config["epochs"], config["batch_size"]) == (0.003, 1, 4)
    assert config["filters"] == [4, 8, 16, 32] and config["normalization"] == "every"
    assert config["upsampling"] == "bilinear" and config["initializer"] == "he_uniform"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["experiment"] == {"lr": 0.003, "epochs": 1, "batch_size": 4, "preset": "article",
                                     "filters": [4, 8, 16, 32], "normalization": "every",
                                     "upsampling": "bilinear", "initializer": "he_uniform", "organ": ["pancreas"]}
    with numpy.load(folder / "best.npz") as weights:          # four levels: the network the flags asked for
        levels = {name.split("_")[0] for name in weights.files if name.startswith("down")}
    assert levels == {"down1", "down2", "down3", "down4"}

    # a later lesson reads the flags from config.json, and refuses a network flag that differs
    alone = lesson("lesson4_build_unet.py", "--out", folder)
    assert "up1_upsampling" in alone.stdout or "UpSampling2D" in alone.stdout
    refused = lesson("lesson4_build_unet.py", "--out", folder, "--normalization", "none", check=False)
    assert refused.returncode and "--normalization every" in refused.stderr and "Traceback" not in refused.stderr
    # lesson 5 may train again with other training flags; the run's config.json stays
    lesson("lesson5_train.py", "--out", folder, "--overwrite", "--lr", "0.01", "--epochs", "2")
    training = json.loads((folder / "training.json").read_text())
    assert (training["learning_rate"], training["epochs"], training["batch_size"]) == (0.01, 2, 4)
    assert json.loads((folder / "config.json").read_text()) == config
    # a CUDA graph without a GPU is refused before training, and the training stays
    refused = lesson("lesson5_train.py", "--out", folder, "--overwrite", "--cuda-graph", check=False)
    assert refused.returncode and "--cuda-graph needs the GPU" in refused.stderr, refused.stderr
    assert json.loads((folder / "training.json").read_text()) == training


def test_flags_that_make_no_network_are_refused_before_a_folder_is_made(tmp_path):
    for flags, message in ((["--filters", "8", "16", "32", "64", "128", "256"], "divisible by 64"),
                           (["--initializer", "he_wrong"], "glorot_uniform"),
                           (["--organ", "liver", "liver"], "names an organ twice"),
                           (["--lr", "0"], "must be positive"),
                           (["--cuda-graph"], "--cuda-graph needs the GPU")):
        folder = tmp_path / "refused"
        result = lesson("run_all.py", "--config", "tiny", "--out", folder, *flags, check=False)
        assert result.returncode and message in result.stderr, (flags, result.stderr)
        assert "Traceback" not in result.stderr and not folder.exists()


def test_a_damaged_data_npz_is_named_not_a_traceback(tmp_path):
    run = tmp_path / "run"
    lesson("lesson2_load_data.py", "--config", "tiny", "--out", run)
    data = (run / "data.npz").read_bytes()
    (run / "data.npz").write_bytes(data[: len(data) // 2])          # cut short after lesson 2 wrote it
    refused = lesson("lesson5_train.py", "--out", run, "--epochs", "1", check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert f"{run / 'data.npz'}: not a readable data.npz" in refused.stderr
    assert "lesson2_load_data.py" in refused.stderr and not (run / "best.npz").exists()
    lesson("lesson2_load_data.py", "--out", run)                     # what the message advises
    assert (run / "data.npz").read_bytes() == data
