"""The benchmark in CI-sized form: a 32 x 32 article U-Net, batch 2, two steps.

The PyTorch comparison (twin check, ratio) runs only where PyTorch imports;
CI does not install it, so that case is skipped there, visibly.
"""

import json

import pytest

from tinyunet import bench

try:
    import torch
except ImportError:
    torch = None


def test_bench_runs_and_writes_rows(tmp_path, capsys):
    path = tmp_path / "bench.json"
    rows = bench.main(["--size", "32", "--batch", "2", "--steps", "2", "--warmup", "1", "--no-torch",
                       "--json", str(path)])
    assert len(rows) == 1
    row = json.loads(path.read_text())[0]
    for key in ("backend", "device", "preset", "batch", "size", "tinyunet_step_ms", "tinyunet_first_step_ms",
                "tinyunet_peak_bytes", "tinyunet_predict_images_per_s", "layers"):
        assert key in row, key
    assert row["batch"] == 2 and row["size"] == 32 and row["tinyunet_step_ms"] > 0
    assert row["tinyunet_peak_bytes"] > 0
    assert {"down1_conv", "output", "loss", "optimizer"} <= set(row["layers"])
    assert "forward_ms" in row["layers"]["down1_conv"] and "backward_ms" in row["layers"]["down1_conv"]
    assert "tinyunet step" in capsys.readouterr().out


def test_layer_breakdown_restores_the_methods():
    from tinyunet.losses import DiceLoss
    from tinyunet.models import UNet
    from tinyunet.optimizers import Adam

    model, loss, optimizer = UNet("article", input_shape=(32, 32, 1)), DiceLoss(), Adam()
    x, y = bench.make_batch(1, 32)
    table = bench.layer_breakdown(model, loss, optimizer, x, y, steps=1)
    assert set(table) == {layer.name for layer in model.layers} | {"loss", "optimizer"}
    assert all("forward" not in vars(layer) for layer in model.layers)
    assert "step" not in vars(optimizer)


@pytest.mark.skipif(torch is None, reason="PyTorch does not import: twin comparison skipped")
@pytest.mark.parametrize("preset", ["article", "notebook"])
def test_torch_twin_computes_the_same_loss_and_gradients(preset):
    ok, text = bench.twin_check(preset, 32, 2, torch, "cpu", on_gpu=False)
    assert ok, text


@pytest.mark.skipif(torch is None, reason="PyTorch does not import: twin comparison skipped")
def test_bench_with_torch_prints_a_ratio(tmp_path):
    rows = bench.main(["--size", "32", "--batch", "2", "--steps", "2", "--warmup", "1", "--no-layers",
                       "--json", str(tmp_path / "b.json")])
    row = rows[0]
    assert row["twin_check_ok"], row["twin_check"]
    assert row["torch_step_ms"] > 0 and row["ratio"] is not None


@pytest.mark.skipif(torch is None, reason="PyTorch does not import: twin comparison skipped")
def test_bench_apart_times_each_library_on_its_own(tmp_path):
    rows = bench.main(["--size", "32", "--batch", "2", "--steps", "3", "--warmup", "1", "--no-layers", "--apart"])
    row = rows[0]
    assert row["timing"] == "apart" and row["steps"] == 3
    assert row["torch_step_ms"] > 0 and row["ratio"] is not None


@pytest.mark.skipif(torch is None, reason="PyTorch does not import: twin comparison skipped")
def test_torch_compile_column_is_checked_against_the_eager_twin(monkeypatch):
    # torch.compile replaced by the function itself: the plumbing, without a minute of inductor
    monkeypatch.setattr(torch, "compile", lambda fn: fn)
    row = bench.main(["--size", "32", "--batch", "2", "--steps", "2", "--warmup", "1", "--no-layers",
                      "--torch-compile"])[0]
    assert row["torch_compile_check_ok"], row["torch_compile_check"]
    assert row["torch_compile_step_ms"] > 0 and row["ratio_compile"] is not None
    assert "torch.compile step" in bench.format_row(row)


@pytest.mark.skipif(torch is None, reason="PyTorch does not import: twin comparison skipped")
def test_a_compiled_twin_that_disagrees_gets_no_ratio(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn: lambda x, y: fn(x, y) * 1.01)
    row = bench.main(["--size", "32", "--batch", "2", "--steps", "1", "--warmup", "0", "--no-layers",
                      "--torch-compile"])[0]
    assert not row["torch_compile_check_ok"] and "loss" in row["torch_compile_check"]
    assert row["ratio_compile"] is None and row["ratio"] is not None
    assert "ratio refused" in bench.format_row(row)


@pytest.mark.skipif(torch is None, reason="PyTorch does not import: twin comparison skipped")
def test_a_failing_compilation_is_reported_and_the_bench_goes_on(monkeypatch, tmp_path):
    def broken(fn):
        def run(*args):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    path = tmp_path / "b.json"
    row = bench.main(["--size", "32", "--batch", "2", "--steps", "1", "--warmup", "0", "--no-layers",
                      "--torch-compile", "--json", str(path)])[0]
    assert row["torch_compile_error"] == "RuntimeError: no C++ compiler found"
    assert "torch_compile_step_ms" not in row and row["torch_step_ms"] > 0
    assert json.loads(path.read_text())[0]["torch_compile_error"] == row["torch_compile_error"]
    assert "torch.compile failed" in bench.format_row(row)


@pytest.mark.slow
@pytest.mark.skipif(torch is None, reason="PyTorch does not import: twin comparison skipped")
def test_torch_compile_really_compiles_the_twin():
    # about 45 s on 2 cores, most of it inductor's first compilation
    row = bench.main(["--size", "32", "--batch", "1", "--steps", "2", "--warmup", "1", "--no-layers",
                      "--torch-compile", "--apart"])[0]
    if "torch_compile_error" in row:
        pytest.skip(f"torch.compile does not work here: {row['torch_compile_error']}")
    assert row["torch_compile_check_ok"], row["torch_compile_check"]
    assert row["torch_compile_first_step_ms"] > row["torch_compile_step_ms"] > 0


def test_memory_peaks_on_the_cpu_count_what_the_call_holds():
    import numpy

    def run():
        a = numpy.ones(2 ** 20)            # 8 MiB held ...
        b = numpy.ones(2 ** 19)            # ... and 4 MiB more at the peak
        del a, b
    peaks = bench.memory_peaks(run)
    assert peaks["pool"] is None
    assert 12 * 2 ** 20 <= peaks["live"] < 13 * 2 ** 20


@pytest.mark.gpu
def test_memory_peaks_on_the_gpu_count_the_bytes_in_use_and_the_pool(cupy):
    held = cupy.ones(2 ** 20, dtype=cupy.float32)          # 4 MiB in use before the call
    before = cupy.get_default_memory_pool().used_bytes()

    def run():
        a = cupy.ones(2 ** 21, dtype=cupy.float32)         # 8 MiB at the peak ...
        del a
        b = cupy.ones(2 ** 20, dtype=cupy.float32)         # ... then 4 MiB
        del b

    peaks = bench.memory_peaks(run)
    assert before >= held.nbytes
    assert peaks["live"] == before + 8 * 2 ** 20           # multiples of the pool's 512-byte unit
    assert peaks["pool"] >= 8 * 2 ** 20
    del held


def test_a_cuda_graph_column_that_cannot_run_is_reported_and_the_bench_goes_on(capsys):
    rows = bench.main(["--size", "32", "--batch", "2", "--steps", "2", "--warmup", "1", "--no-torch",
                       "--no-layers", "--cuda-graph"])
    if rows[0]["backend"] == "cupy":
        pytest.skip("a GPU answers: the graph column runs (test_the_cuda_graph_column_runs_and_is_checked)")
    assert "GPU backend" in rows[0]["tinyunet_graph_error"] and rows[0]["tinyunet_step_ms"] > 0
    assert "tinyunet_graph_step_ms" not in rows[0]
    assert "CUDA graph step failed: GraphStep: CUDA graphs need the GPU backend" in capsys.readouterr().out


def test_the_graph_column_prints_its_ratios_only_when_checked():
    row = {"preset": "article", "size": 32, "batch": 2, "device": "GPU", "backend": "cupy", "fast_kernels": True,
           "tinyunet_step_ms": 4.0, "tinyunet_first_step_ms": 9.0, "tinyunet_peak_bytes": 2 ** 20,
           "tinyunet_predict_images_per_s": 100.0, "tinyunet_graph_step_ms": 2.0,
           "tinyunet_graph_first_step_ms": 30.0, "tinyunet_graph_check_ok": True, "ratio_graph": 0.5}
    assert "CUDA graph step 2.00 ms (capture and first replay 30.0 ms), ratio / torch 0.50" in bench.format_row(row)
    row["tinyunet_graph_check_ok"] = False
    assert "ratio refused: the graph check failed" in bench.format_row(row)


@pytest.mark.gpu
def test_the_cuda_graph_column_runs_and_is_checked(cupy):
    row = bench.main(["--size", "32", "--batch", "2", "--steps", "2", "--warmup", "1", "--no-torch",
                      "--no-layers", "--cuda-graph"])[0]
    assert "tinyunet_graph_error" not in row, row.get("tinyunet_graph_error")
    assert row["tinyunet_graph_check_ok"], row["tinyunet_graph_check"]
    assert row["tinyunet_graph_step_ms"] > 0 and row["tinyunet_graph_first_step_ms"] > 0
