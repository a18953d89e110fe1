"""tools/device_summary.py, the table a GPU run of tools/device_check.sh ends with: it must print
every section from what the steps wrote, and say what is missing instead of stopping, since
only the end of a device run's output comes back.  The bench rows here are real rows (the
CPU bench at 32 x 32) with the GPU run's extra keys added."""

import json
import os
import subprocess
import sys

from tinyunet.bench.measure import bench_one

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def summary(out, run):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "device_summary.py"), str(out), str(run)],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def test_a_run_that_wrote_nothing_says_so_section_by_section(tmp_path):
    (tmp_path / "steps.txt").write_text("kernel-tests: TIMEOUT (rc 124, 120 s)\n")
    code, text = summary(tmp_path, tmp_path / "no_run")
    assert code == 0 and "Traceback" not in text
    for line in ("kernel-tests: TIMEOUT", "tests: no tests.log", "bench.json: not read", "bench_plain.json: not read",
                 "own matmul vs cuBLAS: not run", "gpu lesson: no metrics"):
        assert line in text, line


def test_every_section_prints_from_what_the_steps_wrote(tmp_path):
    row = bench_one("article", 32, 2, steps=1, warmup=0, torch=None, layers=True, log=lambda *a: None)
    row.update(torch_step_ms=2 * row["tinyunet_step_ms"], ratio=0.5, tinyunet_live_peak_bytes=3 * 2**20,
               torch_peak_bytes=4 * 2**20, torch_reserved_peak_bytes=5 * 2**20, torch_predict_images_per_s=7.0)
    failed_twin = dict(row, batch=8, twin_check_ok=False, twin_check="loss 0.5 vs torch 0.9")
    (tmp_path / "bench.json").write_text(json.dumps([failed_twin, row]))
    (tmp_path / "bench_plain.json").write_text(json.dumps([dict(row, tinyunet_step_ms=99.5)]))
    (tmp_path / "bench_tiled.json").write_text(json.dumps([row]))
    (tmp_path / "bench_compile.json").write_text(json.dumps([
        dict(row, torch_compile_step_ms=1.25, torch_compile_first_step_ms=4e4, ratio_compile=0.8),
        dict(row, batch=8, torch_compile_step_ms=1.0, ratio_compile=None, torch_compile_check="loss differs"),
        {"batch": 128, "torch_compile_error": "inductor failed"}]))
    (tmp_path / "bench_graph.json").write_text(json.dumps([
        dict(row, tinyunet_graph_step_ms=0.75, tinyunet_graph_first_step_ms=30.0, tinyunet_graph_pool_bytes=6 * 2**20,
             ratio_graph=0.4, tinyunet_graph_check_ok=True, tinyunet_graph_check="step 3: loss 0.9, eager 0.9"),
        {"batch": 8, "tinyunet_graph_error": "CUDA graphs need the GPU backend"}]))
    (tmp_path / "steps.txt").write_text("gpu-tests: ok (rc 0, 200 s)\n")
    (tmp_path / "tests.log").write_text("sharded_tests: 6 shards\n653 passed, 2 skipped in 190.00s\n"
                                        "FAILED tests/test_kernels.py::test_one - AssertionError\n")
    (tmp_path / "bench.log").write_text("===== own-gemm: python tools/time_gemm.py\nup1 own 1.0 ms cuBLAS 0.5 ms\n"
                                        "===== lesson-gpu\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"test_dice_global": 0.71, "test_dice_per_image": 0.66,
                                                  "training": {"seconds": 120.0}}))
    code, text = summary(tmp_path, run)
    assert code == 0 and "Traceback" not in text and "not summarised" not in text, text
    expected = ["gpu-tests: ok", "tests: 653 passed, 2 skipped in 190.00s", "FAILED tests/test_kernels.py::test_one",
                "twin check FAILED: loss 0.5 vs torch 0.9", "99.50", "slowest layers at batch 2",
                "with TINYUNET_TILED_CONV=1", "vs torch.compile", "ratio 0.80", "refused: loss differs",
                "torch.compile gave no column: inductor failed", "as a CUDA graph: 0.75 ms", "graph pool 6 MiB",
                "no CUDA graph column: CUDA graphs need the GPU backend", "up1 own 1.0 ms cuBLAS 0.5 ms",
                "gpu lesson: test Dice global 0.710, per image 0.660"]
    for line in expected:
        assert line in text, f"{line!r} not in\n{text}"
    assert "lesson-gpu" not in text                       # the own-gemm section ends at the next step


def test_an_unreadable_row_costs_its_section_only(tmp_path):
    (tmp_path / "steps.txt").write_text("bench: ok\n")
    (tmp_path / "bench.json").write_text(json.dumps([{"no batch": 1}]))     # a row without its keys
    (tmp_path / "bench_graph.json").write_text(json.dumps([{"batch": 8, "tinyunet_graph_error": "no graph"}]))
    code, text = summary(tmp_path, tmp_path)
    assert code == 1 and "bench: not summarised (KeyError" in text
    assert "no CUDA graph column: no graph" in text and "gpu lesson: no metrics" in text
