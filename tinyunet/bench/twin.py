"""The PyTorch twin of a UNet: the same network in torch.nn, the same weights, checked to agree.

PyTorch is not a dependency: every function here takes the ``torch`` module as an argument,
so the bench imports it only when it is installed.  The twin computes NCHW inside and takes
and returns NHWC, like tinyunet.  ``twin_check`` compares loss and gradients before any ratio
is printed: in float64 on the CPU (relative error 1e-9), in float32 on the GPU with TF32 off
(1e-3 on the loss, 1e-2 per gradient).  ``compiled_check`` ties a ``torch.compile``d twin to
the eager one the same way, in float32.
"""

import numpy

from .. import backend
from ..layers import (Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D,
                      UpSampling2D)
from ..losses import DiceLoss
from ..models import UNet
from .step import make_batch
from .timing import Timer


def _twin_module(layer, torch):
    """(torch module, its conv or None) computing what ``layer`` computes, NCHW."""
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


def torch_twin(model, torch, device, dtype):
    """A torch.nn.Module computing the same function as ``model`` (NCHW inside, NHWC outside),
    with the same weights; ``copy_weights`` refreshes them, ``grads_as_keras`` reads grads back."""

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = {}            # tinyunet layer name -> torch conv module
            self.mods = torch.nn.ModuleDict()
            for layer in model.layers:
                if isinstance(layer, Concatenate):
                    continue
                mod, conv = _twin_module(layer, torch)
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
    """DiceLoss in torch: 1 - (2 sum(y p) + smooth) / (sum(y) + sum(p) + smooth)."""
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
    ok, text = agreement((value, model.grads), (torch_value, twin.grads_as_keras()), ("loss", "torch"),
                         tolerance_loss, tolerance_grad)
    return ok, f"{dtype_name} {batch}x{size}x{size}: {text}"


def agreement(run, reference, labels, tolerance_loss, tolerance_grad):
    """(ok, text): do a run's (loss, {name: gradient}) agree with a reference run's, the loss's
    relative error within ``tolerance_loss`` and every gradient's (by norm) within
    ``tolerance_grad``?  ``labels`` name the two in the text: ("loss", "torch") gives "loss ...
    vs torch ... (rel. error ...); worst gradient rel. error ... (name)"."""
    (value, grads), (reference_value, reference_grads) = run, reference
    if set(grads) != set(reference_grads):
        return False, f"parameter sets differ: {sorted(set(reference_grads) ^ set(grads))}"
    worst, worst_key = 0.0, None
    for key, g in grads.items():
        g = backend.asnumpy(g).astype(numpy.float64)
        r = numpy.asarray(reference_grads[key], dtype=numpy.float64)
        error = numpy.linalg.norm(g - r) / max(numpy.linalg.norm(r), 1e-30)
        if error > worst:
            worst, worst_key = float(error), key
    loss_error = abs(value - reference_value) / max(abs(reference_value), 1e-30)
    ok = bool(loss_error <= tolerance_loss and worst <= tolerance_grad)
    return ok, (f"{labels[0]} {value:.8g} vs {labels[1]} {reference_value:.8g} (rel. error {loss_error:.1e}); "
                f"worst gradient rel. error {worst:.1e} ({worst_key})")


class TwinTraining:
    """The twin's training step (its DiceLoss, torch's Adam with Keras's epsilon 1e-7) on one batch.

    ``compile=True`` runs the loss through ``torch.compile`` in its default mode: the forward
    pass, DiceLoss and (through AOTAutograd) the backward pass become compiled kernels; Adam
    stays PyTorch's own.  The first step then includes the compilation.

    ``timer`` is torch's CUDA events on the GPU, perf_counter on the CPU; ``peak_bytes`` is
    torch.cuda.max_memory_allocated over one step, and ``reserved_peak_bytes`` its
    max_memory_reserved (None on the CPU: tracemalloc cannot see PyTorch's buffers).
    """

    def __init__(self, model, torch, x, y, on_gpu, learning_rate, compile=False):
        device = "cuda" if on_gpu else "cpu"
        self.torch, self.on_gpu = torch, on_gpu
        self.net = torch_twin(model, torch, device, torch.float32)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-7)
        self.x, self.y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        self.timer = Timer("torch", torch) if on_gpu else Timer("cpu")
        self.loss = torch.compile(self._loss) if compile else self._loss
        self.reserved_peak_bytes = None

    def _loss(self, x, y):
        return torch_dice_loss(y, self.net(x))

    def gradients(self):
        """(loss, {Keras-style name: gradient}) of one forward and backward pass, no update."""
        self.optimizer.zero_grad(set_to_none=True)
        value = self.loss(self.x, self.y)
        value.backward()
        return float(value.detach()), self.net.grads_as_keras()

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.x, self.y).backward()
        self.optimizer.step()

    def peak_bytes(self):
        """torch.cuda.max_memory_allocated over one step (None on the CPU); the step's
        max_memory_reserved, from an emptied cache, is kept in ``reserved_peak_bytes``."""
        if not self.on_gpu:
            return None
        cuda = self.torch.cuda
        cuda.synchronize()
        cuda.empty_cache()
        cuda.reset_peak_memory_stats()
        self.step()
        cuda.synchronize()
        self.reserved_peak_bytes = int(cuda.max_memory_reserved())
        return int(cuda.max_memory_allocated())

    def predict_ms(self, reps):
        """Median ms of the twin's inference on the batch, gradients off."""
        with self.torch.no_grad():
            return self.timer.median(lambda: self.net(self.x), reps, warmup=1)


def compiled_check(eager, compiled):
    """Do an eager twin's and a compiled twin's ``gradients()`` (loss, {name: gradient}), from the
    same weights, agree in float32 (1e-3 on the loss, 1e-2 per gradient)?  Returns (ok, text).

    The eager twin is the one ``twin_check`` compared with tinyunet, so a passing check ties
    the compiled twin to tinyunet as well.
    """
    ok, text = agreement(compiled, eager, ("compiled loss", "eager"), 1e-3, 1e-2)
    return ok, f"float32: {text}"
