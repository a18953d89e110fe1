"""Lesson 6 (the notebook's Cell 6): predict the test set and measure the Dice.

Article sections: Cell 6 and Figure 4 (load the weights, predict the test cases,
threshold the probabilities at 0.5, show ground truth beside prediction with the
pancreas in cyan, compute the Dice on the test set), and the closing paragraph on
the mistakes the network still makes.

Two test Dice are printed: "global" pools every test pixel (the notebook's
number), "per image" averages one Dice per slice (the article's text).  On the
phantom, the Dice of the best intensity window (chosen on the training split) is
the baseline the U-Net has to beat.  Everything goes to metrics.json.

    python lessons/lesson6_predict.py [--config ...] [--out DIR]
"""

import numpy

from tinyunet import lessons, metrics, plots
from tinyunet.data import threshold_baseline
from tinyunet.models import UNet

run = lessons.start(__file__, 6, "Predict the test set", "Cell 6 and Figure 4")
config = run.config
splits, source = lessons.load_data(run)
test = splits.test

model = UNet(config.preset, input_shape=test.images.shape[1:], seed=config.seed)
model.load_weights(run.require("best.npz", "lesson5_train.py"))
probabilities = model.predict(test.images, batch_size=config.batch_size)
predicted = (probabilities > 0.5).astype(numpy.float32)

dice_global = metrics.dice_score(test.masks, predicted, reduce="global")
dice_each = metrics.dice_per_image(test.masks, predicted)
print(f"Test set: {len(test)} slices")
for name, dice in zip(test.names, dice_each):
    print(f"  {name:<24} Dice {dice:.3f}")
print(f"\nTest Dice, all pixels pooled (global): {dice_global:.3f}")
print(f"Test Dice, mean of one per image:      {dice_each.mean():.3f}")

results = {"config": config.name, "data": source, "test_images": len(test),
           "test_dice_global": dice_global, "test_dice_per_image": float(dice_each.mean()),
           "test_dice_each_image": dict(zip(test.names, map(float, dice_each)))}
if source == "phantom":
    baseline = threshold_baseline(splits)
    results["threshold_baseline_dice"] = baseline.test_dice
    results["threshold_baseline_window"] = [baseline.lo, baseline.hi]
    print(f"\nIntensity-window baseline: pancreas = gray levels {baseline.lo}..{baseline.hi} (the best window "
          f"on the training split, Dice {baseline.train_dice:.3f}): test Dice {baseline.test_dice:.3f}")
    print(f"The U-Net's global test Dice beats it by {dice_global - baseline.test_dice:+.3f}")
if run.exists("training.json"):
    results["training"] = run.read_json("training.json")
run.write_json("metrics.json", results)

show = numpy.linspace(0, len(test) - 1, min(config.n_show, len(test))).round().astype(int)
plots.figure4_predictions(test.images[show], test.masks[show], probabilities[show],
                          names=[test.names[i] for i in show], path=run.output("figure4_predictions.png"))
print(f"\nFigure 4 -> {run.path('figure4_predictions.png')}; metrics -> {run.path('metrics.json')}")
