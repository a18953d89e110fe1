"""Benchmark: how long one training step and ``predict`` take, beside an identical PyTorch model.

    python -m tinyunet.bench [--preset article] [--size 256] [--batch 8 32 128] [--steps 20]
                             [--warmup 3] [--no-torch] [--no-layers] [--json PATH]

One training step is SPEC section 3's:
``p = model.forward(x); loss.forward(y, p); model.backward(loss.backward()); opt.step(...)``
with DiceLoss and Adam, on random images on the active backend
(TINYUNET_DEVICE).  For each batch size it reports

- the first step's time (kernel compilation and memory-pool growth) apart from the rest;
- the median step time over ``--steps`` steps after ``--warmup`` steps (on the GPU each
  step is timed between two CUDA events, and the step's end is waited for);
- the peak memory of a step: CuPy's memory pool (emptied first) on the GPU,
  tracemalloc's peak on the CPU (NumPy reports its buffers to it);
- ``predict`` throughput (images per second);
- a per-layer forward / backward breakdown (each layer's call waited for, on a few
  extra steps that are not part of the median);
- when PyTorch imports (it is not a dependency) and ``--no-torch`` is not given: the
  same network in PyTorch (NCHW, the same weights copied over, TF32 off), timed in the
  same process with the steps interleaved, its peak memory
  (``torch.cuda.max_memory_allocated``; tracemalloc cannot see PyTorch's CPU buffers)
  and inference images per second.  Before any ratio is printed, both models start
  from the same weights and must give the same loss and gradients: in float64 on the
  CPU (relative error 1e-9), in float32 on the GPU (1e-3 on the loss, 1e-2 per
  gradient); otherwise the ratio is refused and the mismatch printed.

``--json PATH`` writes one row per batch size with the keys backend, device, preset,
batch, size, tinyunet_step_ms, tinyunet_first_step_ms, torch_step_ms, ratio,
tinyunet_peak_bytes, torch_peak_bytes, tinyunet_predict_images_per_s,
torch_predict_images_per_s, twin_check, layers ({name: {forward_ms, backward_ms}}).
"""

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc

import numpy

from . import backend, kernels
from .layers import (Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D,
                     UpSampling2D)
from .losses import DiceLoss
from .models import UNet
from .optimizers import Adam

LEARNING_RATE = 1e-4


# ----------------------------------------------------------------- data and one step

def make_batch(batch, size, channels=1, seed=0):
    """Random images in [0, 1] and blob-like binary masks, NHWC float32 (NumPy)."""
    rng = numpy.random.default_rng(seed)
    x = rng.random((batch, size, size, channels), dtype=numpy.float32)
    yy, xx = numpy.mgrid[0:size, 0:size] / size
    centre = rng.random((batch, 2, 1, 1)) * 0.5 + 0.25
    y = ((yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2 < 0.02).astype(numpy.float32)
    return x, y[..., None]


def train_step(model, loss, optimizer, x, y):
    """One training step; returns the loss as a 0-d device array (no host synchronisation)."""
    p = model.forward(x, check=False)
    value = loss.forward(y, p)
    # as fit does: no gradient for the images (PyTorch's twin skips it too: x needs no grad)
    model.backward(loss.backward(), input_gradient=False)
    optimizer.step(model.params, model.grads)
    return value


class Clock:
    """Elapsed milliseconds of a region: CUDA events on the GPU, perf_counter on the CPU."""

    def __init__(self, on_gpu):
        self.on_gpu = on_gpu

    def time(self, fn):
        if self.on_gpu:
            cupy = backend.xp
            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            return cupy.cuda.get_elapsed_time(start, end)
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3


# ----------------------------------------------------------------- the per-layer breakdown

def layer_breakdown(model, loss, optimizer, x, y, steps=3):
    """{layer name: {"forward_ms", "backward_ms"}} medians, each call waited for, plus the
    loss (forward + backward) and the optimizer step."""
    times = {}

    def wrap(owner, method, key):
        original = getattr(owner, method)

        def timed(*args):
            backend.synchronize()
            start = time.perf_counter()
            out = original(*args)
            backend.synchronize()
            times.setdefault(key, []).append((time.perf_counter() - start) * 1e3)
            return out

        setattr(owner, method, timed)

    targets = [(layer, layer.name) for layer in model.layers] + [(loss, "loss")]
    for owner, name in targets:
        wrap(owner, "forward", (name, "forward_ms"))
        wrap(owner, "backward", (name, "backward_ms"))
    wrap(optimizer, "step", ("optimizer", "step_ms"))
    try:
        for _ in range(steps):
            train_step(model, loss, optimizer, x, y)
    finally:
        for owner, _ in targets:
            del owner.forward, owner.backward
        del optimizer.step
    table = {}
    for (name, what), values in times.items():
        table.setdefault(name, {})[what] = round(statistics.median(values), 4)
    return table


# ----------------------------------------------------------------- the PyTorch twin

def torch_twin(model, torch, device, dtype):
    """A torch.nn.Module computing the same function as ``model`` (NCHW inside, NHWC outside),
    with the same weights; ``copy_weights`` refreshes them, ``grads_as_keras`` reads grads back."""
    nn, functional = torch.nn, torch.nn.functional

    class LayerNorm(nn.Module):
        def __init__(self, epsilon):
            super().__init__()
            self.epsilon = epsilon

        def forward(self, x):
            mu = x.mean(dim=(1, 2, 3), keepdim=True)
            sigma = ((x - mu) ** 2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
            return (x - mu) / (sigma + self.epsilon)

    class SamePad(nn.Module):
        """TensorFlow's 'same' padding of a stride-1 convolution: the smaller half before."""

        def __init__(self, kh, kw):
            super().__init__()
            th, tw = kh - 1, kw - 1
            self.pads = (tw // 2, tw - tw // 2, th // 2, th - th // 2)

        def forward(self, x):
            return functional.pad(x, self.pads)

    def act(name):
        return {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid()}.get(name, nn.Identity())

    def module(layer):
        kernel = layer.params.get("kernel")
        if isinstance(layer, Conv2D):
            if layer.strides != (1, 1) or layer.padding != "same":
                raise ValueError(f"bench: torch twin supports stride-1 'same' convolutions, not {layer.name}")
            kh, kw, c, f = kernel.shape
            conv = nn.Conv2d(c, f, (kh, kw), bias=layer.use_bias)
            return nn.Sequential(SamePad(kh, kw), conv, act(layer.activation)), conv
        if isinstance(layer, Conv2DTranspose):
            kh, kw, f, c = kernel.shape
            if layer.padding != "same" or layer.strides != (kh, kw):
                raise ValueError(f"bench: torch twin supports kernel = strides transposed convs, not {layer.name}")
            conv = nn.ConvTranspose2d(c, f, (kh, kw), stride=layer.strides, bias=layer.use_bias)
            return nn.Sequential(conv, act(layer.activation)), conv
        if isinstance(layer, LayerNormalization):
            if layer.params:
                raise ValueError(f"bench: torch twin has no gamma / beta for {layer.name}")
            return LayerNorm(layer.epsilon), None
        if isinstance(layer, MaxPooling2D):
            return nn.MaxPool2d(layer.pool_size, layer.strides), None
        if isinstance(layer, UpSampling2D):
            return nn.Upsample(scale_factor=layer.size, mode="nearest"), None
        raise ValueError(f"bench: no torch twin for {type(layer).__name__} {layer.name}")

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = {}            # tinyunet layer name -> torch conv module
            self.mods = nn.ModuleDict()
            for layer in model.layers:
                if isinstance(layer, Concatenate):
                    continue
                mod, conv = module(layer)
                self.mods[layer.name] = mod
                if conv is not None:
                    self.convs[layer.name] = conv

        def run(self, layers, h):
            for layer in layers:
                h = self.mods[layer.name](h)
            return h

        def forward(self, x):
            h = x.permute(0, 3, 1, 2)
            skips = []
            for level in model.down:
                h = self.run(level.block, h)
                skips.append(h)
                h = self.run([level.pool], h)
            h = self.run(model.bottleneck, h)
            for level, skip in zip(model.up, reversed(skips)):
                h = torch.cat([skip, self.run(level.up, h)], dim=1)
                h = self.run(level.conv, h)
            return self.run([model.output], h).permute(0, 2, 3, 1)

        def copy_weights(self):
            with torch.no_grad():
                for layer in model.layers:
                    conv = self.convs.get(layer.name)
                    if conv is None:
                        continue
                    # Keras (kh, kw, in, out) -> Conv2d (out, in, kh, kw);
                    # Keras transposed (kh, kw, out, in) -> ConvTranspose2d (in, out, kh, kw)
                    kernel = numpy.ascontiguousarray(backend.asnumpy(layer.params["kernel"]).transpose(3, 2, 0, 1))
                    conv.weight.copy_(torch.from_numpy(kernel))
                    if layer.use_bias:
                        conv.bias.copy_(torch.from_numpy(backend.asnumpy(layer.params["bias"])))

        def grads_as_keras(self):
            grads = {}
            for name, conv in self.convs.items():
                grads[f"{name}/kernel"] = conv.weight.grad.detach().cpu().numpy().transpose(2, 3, 1, 0)
                if conv.bias is not None:
                    grads[f"{name}/bias"] = conv.bias.grad.detach().cpu().numpy()
            return grads

    twin = Twin().to(device=device, dtype=dtype)
    twin.copy_weights()
    return twin


def torch_dice_loss(y, p, smooth=1e-7):
    return 1 - (2 * (y * p).sum() + smooth) / (y.sum() + p.sum() + smooth)


def twin_check(preset, size, batch, torch, device, on_gpu):
    """Same weights, same data: do tinyunet and the twin give the same loss and gradients?

    Returns (ok, text).  CPU: both in float64; GPU: both in float32 with TF32 off.
    """
    dtype_name = "float32" if on_gpu else "float64"
    tolerance_loss, tolerance_grad = (1e-3, 1e-2) if on_gpu else (1e-9, 1e-9)
    model = UNet(preset, input_shape=(size, size, 1), seed=1, dtype=dtype_name)
    twin = torch_twin(model, torch, device, getattr(torch, dtype_name))
    x, y = make_batch(batch, size, seed=2)
    loss = DiceLoss()
    value = float(loss.forward(backend.to_device(y, dtype_name), model.forward(backend.to_device(x, dtype_name))))
    model.backward(loss.backward())
    tx = torch.from_numpy(x.astype(dtype_name)).to(device)
    ty = torch.from_numpy(y.astype(dtype_name)).to(device)
    torch_value = torch_dice_loss(ty, twin(tx))
    torch_value.backward()
    torch_value = float(torch_value.detach())
    worst, worst_key = 0.0, None
    torch_grads = twin.grads_as_keras()
    ours = model.grads
    if set(torch_grads) != set(ours):
        return False, f"parameter sets differ: {sorted(set(torch_grads) ^ set(ours))}"
    for key, g in ours.items():
        g = backend.asnumpy(g).astype(numpy.float64)
        t = torch_grads[key].astype(numpy.float64)
        error = numpy.linalg.norm(g - t) / max(numpy.linalg.norm(t), 1e-30)
        if error > worst:
            worst, worst_key = error, key
    loss_error = abs(value - torch_value) / max(abs(torch_value), 1e-30)
    ok = bool(loss_error <= tolerance_loss and worst <= tolerance_grad)
    text = (f"{dtype_name} {batch}x{size}x{size}: loss {value:.8g} vs torch {torch_value:.8g} "
            f"(rel. error {loss_error:.1e}); worst gradient rel. error {worst:.1e} ({worst_key})")
    return ok, text


# ----------------------------------------------------------------- running one configuration

def _peak_bytes_step(run, on_gpu):
    """Peak memory of one call of ``run``: the CuPy pool (emptied first) or tracemalloc."""
    if on_gpu:
        pool = backend.xp.get_default_memory_pool()
        backend.synchronize()
        pool.free_all_blocks()
        run()
        backend.synchronize()
        return int(pool.total_bytes())
    tracemalloc.start()
    try:
        run()
        return int(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def bench_one(preset, size, batch, steps, warmup, torch, layers, log):
    """Measure one (preset, size, batch); returns the JSON row."""
    on_gpu = backend.device == "gpu"
    clock = Clock(on_gpu)
    x_host, y_host = make_batch(batch, size)
    x, y = backend.to_device(x_host), backend.to_device(y_host)
    model = UNet(preset, input_shape=(size, size, 1), seed=0)
    loss, optimizer = DiceLoss(), Adam(LEARNING_RATE)
    row = {"backend": "cupy" if on_gpu else "numpy", "device": backend.device_name(), "preset": preset,
           "batch": batch, "size": size, "fast_kernels": kernels.fast_enabled(), "steps": steps}

    def ours():
        train_step(model, loss, optimizer, x, y)

    row["tinyunet_first_step_ms"] = round(clock.time(ours), 3)
    if on_gpu:
        backend.synchronize()
    row["tinyunet_peak_bytes"] = _peak_bytes_step(ours, on_gpu)

    twin = None
    if torch is not None:
        device = "cuda" if on_gpu else "cpu"
        # the GPU checks the timed shapes in float32; the CPU a smaller float64 copy of the problem
        check_size, check_batch = (size, batch) if on_gpu else (min(size, 64), min(batch, 2))
        ok, text = twin_check(preset, check_size, check_batch, torch, device, on_gpu)
        row["twin_check"] = text
        row["twin_check_ok"] = bool(ok)
        log(f"  twin check {'passed' if ok else 'FAILED'}: {text}")
        twin = torch_twin(model, torch, device, torch.float32)
        twin_optimizer = torch.optim.Adam(twin.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-7)
        tx, ty = torch.from_numpy(x_host).to(device), torch.from_numpy(y_host).to(device)

        def theirs():
            twin_optimizer.zero_grad(set_to_none=True)
            torch_dice_loss(ty, twin(tx)).backward()
            twin_optimizer.step()

        def torch_time(fn):
            if on_gpu:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                return start.elapsed_time(end)
            return clock.time(fn)

        row["torch_first_step_ms"] = round(torch_time(theirs), 3)
        if on_gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            theirs()
            torch.cuda.synchronize()
            row["torch_peak_bytes"] = int(torch.cuda.max_memory_allocated())
        else:
            row["torch_peak_bytes"] = None

    for _ in range(warmup):
        ours()
        if twin is not None:
            theirs()
    ours_ms, theirs_ms = [], []
    for _ in range(steps):            # interleaved, so drifting clocks hit both alike
        ours_ms.append(clock.time(ours))
        if twin is not None:
            theirs_ms.append(torch_time(theirs))
    row["tinyunet_step_ms"] = round(statistics.median(ours_ms), 3)
    row["tinyunet_step_ms_min"] = round(min(ours_ms), 3)
    if twin is not None:
        row["torch_step_ms"] = round(statistics.median(theirs_ms), 3)
        row["torch_step_ms_min"] = round(min(theirs_ms), 3)
        row["ratio"] = round(row["tinyunet_step_ms"] / row["torch_step_ms"], 3) if row["twin_check_ok"] else None

    predict_runs = max(3, min(steps, 10))
    model.predict(x, batch_size=batch)
    predict_ms = [clock.time(lambda: model.predict(x, batch_size=batch)) for _ in range(predict_runs)]
    row["tinyunet_predict_images_per_s"] = round(batch / (statistics.median(predict_ms) / 1e3), 1)
    if twin is not None:
        with torch.no_grad():
            twin(tx)
            infer_ms = [torch_time(lambda: twin(tx)) for _ in range(predict_runs)]
        row["torch_predict_images_per_s"] = round(batch / (statistics.median(infer_ms) / 1e3), 1)
        row["torch_threads"] = torch.get_num_threads()
    if layers:
        row["layers"] = layer_breakdown(model, loss, optimizer, x, y)
    return row


def format_row(row):
    """A few lines of text for one row."""
    ratio = row.get("ratio")
    lines = [f"{row['preset']} {row['size']}x{row['size']} batch {row['batch']} on {row['device']} "
             f"({row['backend']}, fast kernels {'on' if row['fast_kernels'] else 'off'})",
             f"  tinyunet step {row['tinyunet_step_ms']:.2f} ms (first step {row['tinyunet_first_step_ms']:.1f} ms), "
             f"peak {row['tinyunet_peak_bytes'] / 2**20:.0f} MiB, predict "
             f"{row['tinyunet_predict_images_per_s']:.0f} images/s"]
    if "torch_step_ms" in row:
        peak = row.get("torch_peak_bytes")
        peak_text = f"{peak / 2**20:.0f} MiB" if peak else "n/a on CPU"
        lines.append(f"  torch    step {row['torch_step_ms']:.2f} ms (first step {row['torch_first_step_ms']:.1f} ms), "
                     f"peak {peak_text}, predict {row['torch_predict_images_per_s']:.0f} images/s")
        lines.append(f"  ratio tinyunet / torch: {ratio:.2f}" if ratio is not None
                     else "  ratio refused: the twin check failed")
    if "layers" in row:
        slowest = sorted(row["layers"].items(), key=lambda kv: -sum(kv[1].values()))[:8]
        lines.append("  slowest layers (ms): " + ", ".join(
            f"{name} {'/'.join(f'{v:.2f}' for v in times.values())}" for name, times in slowest))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinyunet.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="article", choices=("article", "notebook"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch twin")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer breakdown")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch does not import: timing tinyunet alone")
    if torch is not None:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
    if os.environ.get("CUPY_TF32", "0") != "0":
        print("warning: CUPY_TF32 is set; CuPy's matmul runs in TF32")

    rows = []
    for batch in args.batch:
        row = bench_one(args.preset, args.size, batch, args.steps, args.warmup, torch,
                        not args.no_layers, print)
        rows.append(row)
        print(format_row(row), flush=True)
        if backend.device == "gpu":
            backend.xp.get_default_memory_pool().free_all_blocks()
            if torch is not None:
                torch.cuda.empty_cache()
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(rows, handle, indent=1)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
