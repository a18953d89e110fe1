"""Lesson 6 (the notebook's Cell 6): predict the test set and measure the Dice.

Article sections: Cell 6 and Figure 4 (load the weights, predict the test cases,
threshold the probabilities at 0.5, show ground truth beside prediction with the
pancreas in cyan, compute the Dice on the test set), and the closing paragraph on
the mistakes the network still makes.

``model.predict`` returns one probability per pixel, an (N, H, W, 1) array (the article
says "1 value for each test case"); thresholding it at 0.5 gives the mask.  With
several classes (``--organ liver spleen pancreas``) it returns K probabilities per pixel
that sum to 1 (softmax), and each pixel goes to its most probable class.

Two test Dice are printed: "global" pools every test pixel (the notebook's
number), "per image" averages one Dice per slice (the article's text); with several
classes, each class's and their mean.  On the phantom, the Dice of the best intensity
window (chosen on the training split) is the baseline the U-Net has to beat.
Everything goes to metrics.json, with the experiment flags of the run.

``--probabilities`` adds a third column to Figure 4: the probability map the mask was cut from.

    python lessons/lesson6_predict.py [--config ...] [--out DIR] [--probabilities]
"""

import numpy

from tinyunet import lessons, metrics, plots
from tinyunet.data import threshold_baseline
from tinyunet.models import load_model

run = lessons.start(__file__, 6, "Predict the test set", "Cell 6 and Figure 4")
config = run.config
splits, source = lessons.load_data(run)
test, names = splits.test, splits.class_names
classes = test.masks.shape[-1]

# the weights file records the network it belongs to: load_model rebuilds it, whatever the flags were
model = load_model(run.require("best.npz", "lesson5_train.py"))
probabilities = model.predict(test.images, batch_size=config.batch_size)
print(f"Test set: {len(test)} slices; predict gives {probabilities.shape[-1]} "
      f"probabilit{'y' if classes == 1 else 'ies'} per pixel, shape {probabilities.shape}")

if classes == 1:
    predicted = (probabilities > 0.5).astype(numpy.float32)
    dice_global = metrics.dice_score(test.masks, predicted, reduce="global")
    dice_each = metrics.dice_per_image(test.masks, predicted)
    per_class = {}
else:
    # the metric takes each pixel's most probable class; "mean" averages the organs, not the background
    scores = {reduce: metrics.dice_score(test.masks, probabilities, reduce=reduce, class_names=names)
              for reduce in ("global", "per_image")}
    dice_global = scores["global"]["mean"]
    dice_each = numpy.array([metrics.dice_score(test.masks[i:i + 1], probabilities[i:i + 1],
                                                class_names=names)["mean"] for i in range(len(test))])
    per_class = {name: (scores["global"][name], scores["per_image"][name]) for name in names[1:]}
for name, dice in zip(test.names, dice_each):
    print(f"  {name:<24} Dice {dice:.3f}")
for name, (pooled, each) in per_class.items():
    print(f"{name:<10} test Dice: global {pooled:.3f}, per image {each:.3f}")
what = "" if classes == 1 else " (mean of the organs)"
print(f"\nTest Dice{what}, all pixels pooled (global): {dice_global:.3f}")
print(f"Test Dice{what}, mean of one per image:      {dice_each.mean():.3f}")

results = {"config": config.name, "data": source, "test_images": len(test), "class_names": list(names),
           "test_dice_global": dice_global, "test_dice_per_image": float(dice_each.mean()),
           "test_dice_each_image": dict(zip(test.names, map(float, dice_each)))}
for name, (pooled, each) in per_class.items():
    results[f"test_dice_global_{name}"], results[f"test_dice_per_image_{name}"] = pooled, each
if source == "phantom":
    baseline = threshold_baseline(splits)
    results["threshold_baseline_dice"] = baseline.test_dice
    if baseline.per_class is None:
        results["threshold_baseline_window"] = [baseline.lo, baseline.hi]
        print(f"\nIntensity-window baseline: {names[0]} = gray levels {baseline.lo}..{baseline.hi} (the best "
              f"window on the training split, Dice {baseline.train_dice:.3f}): test Dice {baseline.test_dice:.3f}")
    else:
        print("\nIntensity-window baseline, the best window of each organ on the training split:")
        for name, window in baseline.per_class.items():
            results[f"threshold_baseline_dice_{name}"] = window.test_dice
            print(f"  {name:<10} gray levels {window.lo}..{window.hi}: test Dice {window.test_dice:.3f}")
    margin = dice_global - baseline.test_dice
    print(f"The U-Net's global test Dice {'beats' if margin > 0 else 'falls short of'} the baseline's "
          f"{baseline.test_dice:.3f} by {abs(margin):.3f}")
    if config.name == "tiny":
        print("(tiny is a smoke test of the code: 32 x 32 slices, a few subjects and 2 epochs are far too "
              "little for a U-Net to learn; see it learn with --config cpu)")
experiment = config.experiment()
if run.exists("training.json"):
    results["training"] = run.read_json("training.json")
    # lesson 5 may have trained with other training flags than the run's
    experiment.update({flag: results["training"].get(field, experiment[flag])
                       for flag, field in (("lr", "learning_rate"), ("epochs", "epochs"),
                                           ("batch_size", "batch_size"))})
results["experiment"] = experiment
run.write_json("metrics.json", results)

show = numpy.linspace(0, len(test) - 1, min(config.n_show, len(test))).round().astype(int)
plots.figure4_predictions(test.images[show], test.masks[show], probabilities[show],
                          names=[test.names[i] for i in show], class_names=names,
                          probabilities=run.args.probabilities, path=run.output("figure4_predictions.png"))
print(f"\nFigure 4 -> {run.path('figure4_predictions.png')}; metrics -> {run.path('metrics.json')}")
