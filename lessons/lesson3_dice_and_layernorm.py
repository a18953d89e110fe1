"""Lesson 3 (the notebook's Cell 3): the Dice coefficient, the Dice loss and layer normalization.

Article sections: Cell 3 (the Dice function, dice_loss = 1 - Dice, and the layer
normalization helper), the Dice paragraph of Cell 4 with Equation 1 and Figure 1
(Dice 0 at no overlap, about 0.1 at a small overlap, 1 at full overlap).

Figure 1 is drawn from three pairs of masks and labelled with the Dice that
``tinyunet.metrics.dice_score`` computes for each.  Then the two pieces whose
backward pass we wrote by hand are checked against finite differences
(``tinyunet.gradcheck``): LayerNormalization and DiceLoss.

    python lessons/lesson3_dice_and_layernorm.py [--config ...] [--out DIR]
"""

import numpy

from tinyunet import backend, lessons, losses, metrics, plots
from tinyunet.gradcheck import gradcheck
from tinyunet.layers import LayerNormalization

run = lessons.start(__file__, 3, "Dice and layer normalization", "Cell 3 and Figure 1")

print("Dice = 2 |X and Y| / (|X| + |Y|)   (Equation 1)\n")
cases = plots.overlap_cases()
for name, truth, prediction in cases:
    score = metrics.dice_score(truth, prediction)
    soft = float(losses.dice_coefficient(truth, prediction))
    print(f"{name:<14} |X| = {int(truth.sum()):>5}  |Y| = {int(prediction.sum()):>5}  "
          f"|X and Y| = {int((truth * prediction).sum()):>5}  Dice = {score:.3f}  "
          f"(training Dice, smooth 1e-7: {soft:.3f}; Dice loss {1 - soft:.3f})")
plots.figure1_dice(cases, path=run.output("figure1_dice.png"))
print(f"Figure 1 -> {run.path('figure1_dice.png')}")

rng = numpy.random.default_rng(2020)   # not gradcheck's own seed: its projection must not align with x
x = rng.normal(3.0, 2.0, size=(2, 6, 6, 3))
norm = LayerNormalization()
norm.build(x.shape, dtype="float64")
y = backend.asnumpy(norm.forward(x))
print("\nLayer normalization, per sample over H, W and C: (x - mean) / (std + 1e-7)")
print(f"  input  mean per sample {numpy.round(x.mean(axis=(1, 2, 3)), 3)}, std {numpy.round(x.std(axis=(1, 2, 3)), 3)}")
print(f"  output mean per sample {numpy.round(y.mean(axis=(1, 2, 3)), 3)}, std {numpy.round(y.std(axis=(1, 2, 3)), 3)}")

print("\nGradient checks (float64, central differences):")
layer_check = gradcheck(norm, x)
print(layer_check)
truth = (rng.random((2, 8, 8, 1)) > 0.6).astype(numpy.float64)
prediction = rng.uniform(0.05, 0.95, size=truth.shape)
loss_check = gradcheck(losses.DiceLoss(), prediction, y_true=truth)
print(loss_check)
if not (layer_check.ok and loss_check.ok):
    raise SystemExit("a gradient check failed")
