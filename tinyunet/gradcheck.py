"""Gradient checking: does a hand-written backward agree with central differences?

For a layer or a model, the scalar checked is f(x, params) = sum(w * forward(x))
with a fixed random projection w (the same w is the ``dy`` given to backward),
so backward's dx and grads are the gradient of f.  For a loss it is
f(y_pred) = w * forward(y_true, y_pred) with a random scalar w.

Random directions (the default), for every input and every parameter A in turn:

    numeric  = (f(A + h d) - f(A - h d)) / (2 h)       d: a random unit vector of A's shape, h = epsilon
    analytic = sum(dL/dA * d)                          from one backward pass
    error    = |analytic - numeric| / max(|analytic|, |numeric|, atol)

ReLU and max pooling are not differentiable everywhere: in a network, some
pre-activation may lie within h of 0, and along d the function then has a
corner that the difference quotient straddles.  Each direction is therefore
also differenced with step h / 2; where the two quotients disagree by more
than the tolerance, f is not smooth along d at this scale, and another
direction is drawn (up to 4 times; the table counts them).  A wrong backward
disagrees with smooth directions too, so this hides no bug.

Full Jacobian (``jacobian=True``, for tiny inputs): every entry J[i, j] =
d out_i / d A_j, numerically by perturbing each element of A and analytically
by one backward pass per output element (dy = a one-hot); the error of A is
max |J_analytic - J_numeric| / max(max |J_analytic|, max |J_numeric|, atol).

Everything runs in float64 (central differences in float32 carry ~1e-3 noise):
inputs are converted, and an unbuilt layer is built in float64; a target whose
weights are float32 is refused.  The checked arrays are restored exactly
afterwards, but the target's cached forward state and ``grads`` are not.

What it accepts:
    layer   forward(x) / backward(dy) / params / grads  (x a list for Concatenate)
    model   the same interface, params keyed "layer/param"
    loss    forward(y_true, y_pred) / backward(): pass y_true=...

Example (a student can run this):
    >>> import numpy
    >>> from tinyunet.gradcheck import gradcheck
    >>> from tinyunet.layers import Conv2D
    >>> x = numpy.random.default_rng(0).standard_normal((2, 6, 6, 3))
    >>> result = gradcheck(Conv2D(4, 3, activation="sigmoid", seed=0), x)
    >>> print(result)            # one row per input and per parameter
    >>> result.ok, result.max_error, result["kernel"].max_error

``python -m tinyunet.gradcheck`` checks every layer type and both losses.
"""

import argparse
import dataclasses
import sys

import numpy

from . import backend


@dataclasses.dataclass
class Row:
    """The check of one gradient: an input ("x", "x[1]", "y_pred") or a parameter (its key)."""

    name: str
    kind: str            # "input" or "param"
    shape: tuple
    checks: int          # directions tried, or Jacobian entries compared
    max_error: float     # the worst relative error over those checks
    analytic: float      # at the worst check (directional mode) or the largest |J| entry
    numeric: float
    redrawn: int = 0     # directions redrawn because f was not smooth along them (a kink)


@dataclasses.dataclass
class GradcheckResult:
    """Every row of a check, the tolerance it is held to, and a readable table (``str``)."""

    target: str
    method: str
    tolerance: float
    rows: list

    @property
    def max_error(self):
        return max((row.max_error for row in self.rows), default=0.0)

    @property
    def ok(self):
        return self.max_error < self.tolerance

    @property
    def worst(self):
        return max(self.rows, key=lambda row: row.max_error, default=None)

    def __getitem__(self, name):
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row named {name!r}; rows: {[row.name for row in self.rows]}")

    def table(self):
        width = max([len(row.name) for row in self.rows] + [len("gradient of")])
        lines = [f"{self.target}: {self.method}",
                 f"  {'gradient of':<{width}}  kind   {'shape':<16} checks  max rel. error"]
        for row in self.rows:
            status = "ok" if row.max_error < self.tolerance else "FAIL"
            note = f"  ({row.redrawn} direction(s) redrawn at a kink)" if row.redrawn else ""
            lines.append(f"  {row.name:<{width}}  {row.kind:<5}  {str(row.shape):<16} {row.checks:>6}  "
                         f"{row.max_error:>14.1e}  {status}{note}")
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"  worst {self.max_error:.1e} (tolerance {self.tolerance:.0e}): {verdict}")
        return "\n".join(lines)

    __str__ = table


class _Probe:
    """A uniform view of a layer, model or loss: the arrays to perturb, forward and backward."""

    def __init__(self, target, x, y_true):
        xp = backend.xp
        self.target = target
        self.is_loss = y_true is not None
        self.listed = isinstance(x, (list, tuple))
        xs = list(x) if self.listed else [x]
        self.inputs = [backend.to_device(numpy.asarray(backend.asnumpy(a), dtype=numpy.float64)).copy()
                       for a in xs]
        if self.is_loss:
            self.names = ["y_pred"]
            self.y_true = backend.to_device(backend.asnumpy(y_true), numpy.float64)
            self.params = {}
        else:
            self.names = [f"x[{i}]" for i in range(len(xs))] if self.listed else ["x"]
            if getattr(target, "built", True) is False and hasattr(target, "build"):
                target.build(self.inputs[0].shape, dtype="float64")
            self.params = target.params
        self.xp = xp

    def forward(self):
        if self.is_loss:
            return self.xp.asarray(self.target.forward(self.y_true, self.inputs[0]))
        return self.target.forward(list(self.inputs) if self.listed else self.inputs[0])

    def backward(self, dy):
        """(gradients of the inputs, copies of the parameter gradients) for upstream dy."""
        if self.is_loss:
            return [self.target.backward() * dy], {}
        dx = self.target.backward(dy)
        dxs = list(dx) if self.listed else [dx]
        return dxs, {key: self.target.grads[key].copy() for key in self.params}

    def arrays(self):
        """(name, kind, live array) of everything checked: the inputs, then the parameters."""
        return ([(name, "input", a) for name, a in zip(self.names, self.inputs)] +
                [(key, "param", a) for key, a in self.params.items()])


def _target_name(target):
    name = getattr(target, "name", None)
    return f"{type(target).__name__} {name!r}" if name else type(target).__name__


def gradcheck(target, x, y_true=None, directions=3, jacobian=False, epsilon=1e-5,
              tolerance=1e-6, atol=1e-10, seed=0):
    """Check target's backward against float64 central differences; return a GradcheckResult.

    Args:
        target: a layer, model or loss (see the module docstring).
        x: the input (NumPy or device array; a list for Concatenate), or y_pred for a loss.
        y_true: the target of a loss; giving it makes ``target`` be treated as a loss.
        directions: random directions per input and parameter (directional mode).
        jacobian: compare full Jacobians instead (cost: two forwards per element of
            every input and parameter, one backward per output element).
        epsilon: the finite-difference step h.
        tolerance: ``result.ok`` is ``max_error < tolerance``.
        atol: floor of the error's denominator, so that two gradients that are both
            exactly zero compare as equal.
        seed: of the projection w and of the directions.
    """
    probe = _Probe(target, x, y_true)
    # a stream of its own: with default_rng(seed) an input drawn by the user from the same
    # seed would equal w, and a scale-invariant layer (LayerNorm) has zero gradient along x
    rng = numpy.random.default_rng([seed, 0x67726164])
    out = probe.forward()
    if out.dtype != numpy.float64:
        raise ValueError(f"gradcheck: {_target_name(target)} computes in {out.dtype}, not float64: "
                         "build it with dtype='float64' (UNet(..., dtype='float64')) before checking")
    for key, param in probe.params.items():
        if param.dtype != numpy.float64:
            raise ValueError(f"gradcheck: param {key!r} is {param.dtype}; build the target in float64")
    w = backend.to_device(rng.standard_normal(out.shape))
    name = _target_name(target)
    if jacobian:
        rows = _jacobian_rows(probe, out.shape, epsilon, atol)
        method = f"full Jacobian, central differences, epsilon {epsilon:g}, float64"
    else:
        dxs, grads = probe.backward(w)
        analytic = {**dict(zip(probe.names, dxs)), **grads}
        rows = []
        for array_name, kind, a in probe.arrays():
            rows.append(_directional_row(probe, w, array_name, kind, a, analytic[array_name],
                                         directions, epsilon, tolerance, atol, rng))
        method = f"{directions} random directions, central differences, epsilon {epsilon:g}, float64"
    return GradcheckResult(target=name, method=method, tolerance=tolerance, rows=rows)


def _central_difference(probe, w, a, saved, d, h):
    """(f(A + h d) - f(A - h d)) / (2 h), leaving A as it was."""
    a[...] = saved + h * d
    f_plus = float((w * probe.forward()).sum())
    a[...] = saved - h * d
    f_minus = float((w * probe.forward()).sum())
    a[...] = saved
    return (f_plus - f_minus) / (2 * h)


def _directional_row(probe, w, name, kind, a, grad, directions, epsilon, tolerance, atol, rng, redraws=4):
    xp = probe.xp
    saved = a.copy()
    worst = (-1.0, 0.0, 0.0)
    redrawn = 0
    for _ in range(directions):
        for attempt in range(redraws + 1):
            d = rng.standard_normal(a.shape)
            d = backend.to_device(d / numpy.linalg.norm(d))
            numeric = _central_difference(probe, w, a, saved, d, epsilon)
            # A ReLU or max-pool kink within epsilon of the point makes f non-smooth along d,
            # and then the difference quotient changes with the step. Such a direction says
            # nothing about backward, so draw another: a wrong backward fails along every one.
            half = _central_difference(probe, w, a, saved, d, epsilon / 2)
            if abs(numeric - half) <= tolerance * max(abs(numeric), abs(half), atol) or attempt == redraws:
                break
            redrawn += 1
        analytic = float(xp.sum(grad * d))
        error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), atol)
        worst = max(worst, (error, analytic, numeric))
    return Row(name, kind, tuple(a.shape), directions, *worst, redrawn=redrawn)


def _jacobian_rows(probe, out_shape, epsilon, atol):
    xp = probe.xp
    n_out = int(numpy.prod(out_shape))
    arrays = probe.arrays()
    analytic = {name: numpy.empty((n_out, a.size)) for name, _, a in arrays}
    for i in range(n_out):
        dy = xp.zeros(n_out)
        dy[i] = 1
        dxs, grads = probe.backward(dy.reshape(out_shape))
        for name, g in list(zip(probe.names, dxs)) + list(grads.items()):
            analytic[name][i] = backend.asnumpy(g).ravel()
    rows = []
    for name, kind, a in arrays:
        numeric = numpy.empty((n_out, a.size))
        for j in range(a.size):
            index = numpy.unravel_index(j, a.shape)
            saved = float(a[index])
            a[index] = saved + epsilon
            plus = backend.asnumpy(probe.forward()).ravel()
            a[index] = saved - epsilon
            minus = backend.asnumpy(probe.forward()).ravel()
            a[index] = saved
            numeric[:, j] = (plus - minus) / (2 * epsilon)
        difference = numpy.abs(analytic[name] - numeric)
        scale = max(numpy.abs(analytic[name]).max(), numpy.abs(numeric).max(), atol)
        worst = numpy.unravel_index(difference.argmax(), difference.shape)
        rows.append(Row(name, kind, tuple(a.shape), numeric.size, float(difference[worst] / scale),
                        float(analytic[name][worst]), float(numeric[worst])))
    return rows


def _examples(rng):
    """(target, x, y_true) for every layer type and both losses, small and in float64."""
    from . import layers, losses

    def normal(*shape):
        return rng.standard_normal(shape)

    def away_from_zero(*shape):
        # ReLU's kink at 0 has no derivative: keep inputs at least 0.1 from it
        x = normal(*shape)
        return numpy.sign(x) * (numpy.abs(x) + 0.1)

    mask = (rng.random((2, 4, 4, 1)) > 0.5).astype(numpy.float64)
    probabilities = rng.uniform(0.05, 0.95, (2, 4, 4, 1))
    return [
        (layers.Conv2D(3, 3, activation="relu", seed=0), normal(2, 5, 5, 2), None),
        (layers.Conv2D(2, 2, strides=2, padding="valid", activation="sigmoid", seed=1), normal(1, 6, 6, 3), None),
        (layers.Conv2DTranspose(3, 2, strides=2, seed=2), normal(2, 3, 3, 2), None),
        (layers.Conv2DTranspose(2, 3, strides=1, padding="valid", seed=3), normal(1, 4, 4, 2), None),
        (layers.MaxPooling2D(2), normal(2, 4, 4, 3), None),
        (layers.UpSampling2D(2), normal(2, 3, 3, 2), None),
        (layers.UpSampling2D((2, 3), interpolation="bilinear"), normal(2, 3, 4, 2), None),
        (layers.LayerNormalization(), normal(2, 3, 3, 2), None),
        (layers.LayerNormalization(center=True, scale=True), normal(2, 3, 3, 2), None),
        (layers.ReLU(), away_from_zero(2, 3, 3, 2), None),
        (layers.Sigmoid(), normal(2, 3, 3, 2), None),
        (layers.Softmax(), normal(2, 3, 3, 4), None),
        (layers.Conv2D(3, 1, activation="softmax", seed=4), normal(2, 3, 3, 2), None),
        (layers.Concatenate(), [normal(2, 3, 3, 2), normal(2, 3, 3, 1)], None),
        (losses.DiceLoss(), probabilities, mask),
        (losses.BinaryCrossentropy(), probabilities, mask),
    ]


def main(argv=None):
    """Check every layer type and both losses, print the tables; exit status 1 on a failure."""
    parser = argparse.ArgumentParser(prog="python -m tinyunet.gradcheck", description=main.__doc__)
    parser.add_argument("--directions", type=int, default=3, help="random directions per array")
    parser.add_argument("--jacobian", action="store_true", help="compare full Jacobians instead")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"tinyunet gradient check on {backend.device_name()}\n")
    failed = []
    for target, x, y_true in _examples(numpy.random.default_rng(args.seed)):
        result = gradcheck(target, x, y_true, directions=args.directions, jacobian=args.jacobian,
                           seed=args.seed)
        print(result, end="\n\n")
        if not result.ok:
            failed.append(result.target)
    print(f"{len(failed)} failed: {', '.join(failed)}" if failed else "every gradient agrees")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
