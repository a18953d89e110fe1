"""Lesson 7: inside the network: feature maps, learned kernels, probabilities and thresholds,
transposed convolution shown, and where the errors are.

Article sections: Cell 4 (the layers: "we have found the key content needed to recognize
the structure of interest", "an array of 128 convolutional kernels", he_normal, transposed
convolution as "a convolution function [applied] to an image where the pixels have had rows
and columns inserted") and Cell 6 (the threshold of 0.5 on the probabilities, and the
closing paragraph on the errors: "it both selects pixels far from the expected location of
the pancreas, as well as not identifying pixels that are pancreas").

Each part prints the article's sentence it illustrates and writes one figure:

    figure5_feature_maps.png     one test image through every level of the U, down and up
    figure6_kernels.png          the first layer's kernels at initialisation and after training
    figure7_probabilities.png    probability maps, validation Dice against the threshold, histogram
    figure8_transposed_conv.png  zero insertion + convolution = Conv2DTranspose; nearest, bilinear
    figure9_errors.png           true positives, false positives near and far, false negatives

metrics.json gains best_threshold, val_dice_at_best_threshold (the validation set chooses the
threshold, one predict pass) and error_counts (per test image and in total).  The kernels at
initialisation are rebuilt from the weights file's configuration and seed (``UNet(**model.config)``
draws the same weights that training started from), so no extra file is kept.

    python lessons/lesson7_inside.py [--config ...] [--out DIR] [--weights PATH]
"""

import os
import time

import numpy

from tinyunet import backend, diagnostics, initializers, lessons, plots
from tinyunet.layers import Conv2DTranspose, conv_transpose_by_zero_insertion
from tinyunet.models import UNet, load_model

parser = lessons.argument_parser("Lesson 7: inside the network")
parser.add_argument("--weights", metavar="PATH",
                    help="a weights file of save_weights (default: the run folder's best.npz)")
run = lessons.start(__file__, 7, "Inside the network", "Cells 4 and 6, Figures 5-9 (tinyunet's)", parser=parser)
started = time.perf_counter()
config = run.config
splits, source = lessons.load_data(run)
validation, test, names = splits.validation, splits.test, splits.class_names
weights = run.args.weights or run.require("best.npz", "lesson5_train.py")
try:
    model = load_model(weights)
except (ValueError, OSError) as error:
    raise SystemExit(f"lesson 7 needs a weights file of save_weights: {error}") from None
if not isinstance(model, UNet):
    raise SystemExit(f"{weights} holds a {type(model).__name__}; lesson 7 follows a U-Net's levels")
classes = test.masks.shape[-1]
if model.classes != classes:
    raise SystemExit(f"{weights} predicts {model.classes} channel(s) but the run's masks have {classes}: "
                     "use the weights of this run's data (--organ)")
organ = names[0] if classes == 1 else "organs"
print(f"Weights: {weights} (U-Net '{model.preset}', {model.count_params():,} parameters)")


def part(number, title, sentence):
    print(f"\n--- Part {number}: {title}")
    print(f'The article: "{sentence}"')


# --------------------------------------------------------------------------- 1. feature maps
part(1, "feature maps (Figure 5)", "After the multiple convolutions, we have found the key content needed to "
     "recognize the structure of interest.")
area = diagnostics.foreground(test.masks).sum(axis=(1, 2))
chosen = int(numpy.argmax(area))                     # the test slice with the most pancreas to follow
levels, bottom, output = plots.feature_map_layers(model)
wanted = [name for pair in levels for name in pair] + [bottom, output]
maps = model.feature_maps(test.images[chosen:chosen + 1], layers=wanted)
print(f"Following {test.names[chosen]} ({int(area[chosen])} {organ} pixels):")
for level, (down, up) in enumerate(levels, start=1):
    print(f"  level {level}: {down:<16} {str(maps[down].shape[1:]):<16} {up:<16} {maps[up].shape[1:]}")
deep = maps[bottom].shape
print(f"  bottom:  {bottom:<16} {deep[1:]}: {test.images.shape[1]} / 2^{model.levels} = {deep[1]} pixels on a side, "
      f"{deep[-1]} channels (the article: 256 / 2^5 = 8, \"an array of 128 convolutional kernels\")")
plots.figure5_feature_maps(test.images[chosen], maps, levels, bottom, output,
                           title=f"Figure 5. {test.names[chosen]} through the U-Net: a few channels of each level",
                           path=run.output("figure5_feature_maps.png"))
print(f"Figure 5 -> {run.path('figure5_feature_maps.png')}")

# --------------------------------------------------------------------------- 2. kernels
part(2, "learned kernels (Figure 6)", "A filter is the Keras term for a convolutional kernel ... we use the "
     "initialization function described by He et al, hence the name he_normal.")
first = model.layers[0]
initializer = model.config["kernel_initializer"]
# the same configuration and seed draw the weights that training started from
initial = backend.asnumpy(UNet(**model.config).layers[0].params["kernel"])
trained = backend.asnumpy(first.params["kernel"])
fan_in, fan_out = initializers.compute_fans(initial.shape)
aim = initializers.target_stddev(initializer, initial.shape)
aim = f"{initializer} aims at {aim[0]} = {aim[1]:.3f}" if aim else "an initialiser of your own"
print(f"{first.name}: {initial.shape[-1]} filters of {initial.shape[0]} x {initial.shape[1]}; {initializer} draws "
      f"them with standard deviation {initial.std():.3f} ({aim}, fan_in = {fan_in}, fan_out = {fan_out}); "
      f"after training {trained.std():.3f}, mean change per weight {numpy.abs(trained - initial).mean():.3f}")
plots.figure6_kernels(initial, trained, names=(f"at initialisation ({initializer})",
                                               f"after training ({os.path.basename(weights)})"),
                      layer=first.name, path=run.output("figure6_kernels.png"))
print(f"Figure 6 -> {run.path('figure6_kernels.png')}")

# --------------------------------------------------------------------------- 3. probabilities
part(3, "probabilities and the threshold (Figure 7)", "In the next line, we apply a threshold of 0.5 to "
     "determine whether it predicts a pixel as pancreas or not.")
val_probabilities = model.predict(validation.images, batch_size=config.batch_size)
test_probabilities = model.predict(test.images, batch_size=config.batch_size)
sweep = diagnostics.threshold_sweep(validation.masks, val_probabilities)
print("Validation Dice (all pixels pooled) at each threshold:")
for start in range(0, len(sweep.thresholds), 7):
    print("  " + "   ".join(f"{t:.2f}: {d:.3f}" for t, d in
                            zip(sweep.thresholds[start:start + 7], sweep.dice[start:start + 7])))
on_test = diagnostics.threshold_sweep(test.masks, test_probabilities, thresholds=[0.5, sweep.best_threshold])
print(f"Best threshold on the validation set: {sweep.best_threshold:.2f} (Dice {sweep.best_dice:.3f}; at 0.5: "
      f"{sweep.dice_at(0.5):.3f}). On the test set: {on_test.dice[1]:.3f} at {sweep.best_threshold:.2f}, "
      f"{on_test.dice[0]:.3f} at 0.5")
if classes > 1:
    print("(several organs: the threshold is on 1 - p(background), an organ against none; lesson 6 gives each "
          "pixel its most probable class instead)")
histogram = diagnostics.probability_histogram(test_probabilities)
print(f"{histogram[2]:.1%} of the test pixels' probabilities are below 0.05 or above 0.95: the sigmoid output "
      f"is {'nearly' if histogram[2] > 0.9 else 'far from'} binary, so the threshold matters "
      f"{'little' if histogram[2] > 0.9 else 'a lot'}")
show = numpy.linspace(0, len(test) - 1, min(config.n_show, len(test))).round().astype(int)   # lesson 6's slices
plots.figure7_probabilities(test.images[show], test.masks[show], test_probabilities[show], sweep, histogram,
                            names=[test.names[i] for i in show], organ=organ,
                            path=run.output("figure7_probabilities.png"))
print(f"Figure 7 -> {run.path('figure7_probabilities.png')}")

# --------------------------------------------------------------------------- 4. transposed convolution
part(4, "transposed convolution (Figure 8)", "A transposed convolution is the application of a convolution "
     "function to an image where the pixels have had rows and columns inserted, effectively increasing the "
     "resolution.")
example = Conv2DTranspose(1, 3, strides=2, seed=config.seed)
example.build((1, 4, 4, 1))
kernel = numpy.round(backend.asnumpy(example.params["kernel"])[:, :, 0, 0], 1)   # one decimal, to check by hand
image = numpy.arange(1, 17, dtype=numpy.float64).reshape(4, 4)
figure8 = plots.figure8_transposed_conv(image, kernel, strides=2, padding="same",
                                        path=run.output("figure8_transposed_conv.png"))
print(f"4 x 4 image, 3 x 3 kernel, strides 2: zero insertion gives 7 x 7, padding 10 x 10, the convolution "
      f"8 x 8; largest difference from Conv2DTranspose {figure8.info['max_difference']:.1e}")
rng = numpy.random.default_rng(config.seed)
for dtype in ("float32", "float64"):
    layer = Conv2DTranspose(16, 2, strides=2, use_bias=False, seed=config.seed)   # the U-Net's upsampling
    x = rng.standard_normal((2, 8, 8, 16)).astype(dtype)
    layer.build(x.shape, dtype=dtype)
    difference = numpy.abs(backend.asnumpy(conv_transpose_by_zero_insertion(backend.to_device(x, dtype),
                                                                            layer.params["kernel"]))
                           - backend.asnumpy(layer.forward(x))).max()
    print(f"  Conv2DTranspose(16, 2, strides=2) on (2, 8, 8, 16) in {dtype}: largest difference {difference:.1e}")
print(f"Figure 8 -> {run.path('figure8_transposed_conv.png')}")

# --------------------------------------------------------------------------- 5. errors
near = diagnostics.NEAR_PIXELS
part(5, f"where the errors are (Figure 9; near = within {near} px of the true {organ})",
     "It both selects pixels far from the expected location of the pancreas, as well as not identifying pixels "
     "that are pancreas.")
counts = diagnostics.error_counts(test.masks, test_probabilities, threshold=0.5, near=near)
print(f"{'test image':<24} {'truth':>6} {'TP':>6} {'FP near':>8} {'FP far':>7} {'FN':>6}")
for i, name in enumerate(test.names):
    print(f"{name:<24} {int(area[i]):>6} {counts.tp[i]:>6} {counts.fp_near[i]:>8} {counts.fp_far[i]:>7} "
          f"{counts.fn[i]:>6}")
totals = counts.totals()
print(f"{'total':<24} {int(area.sum()):>6} {totals['tp']:>6} {totals['fp_near']:>8} {totals['fp_far']:>7} "
      f"{totals['fn']:>6}")
far_images = int((counts.fp_far > 0).sum())
print(f"Far false positives: {counts.fp_far.mean():.1f} pixels per test image, on {far_images} of {len(test)} "
      f"images; missed {organ} pixels: {counts.fn.mean():.1f} per image")
at_best = diagnostics.error_counts(test.masks, test_probabilities, threshold=sweep.best_threshold, near=near)
print(f"At the best threshold {sweep.best_threshold:.2f} instead: {at_best.totals()}")
plots.figure9_errors(test.images[show], diagnostics.error_map(test.masks[show], test_probabilities[show] > 0.5, near),
                     names=[test.names[i] for i in show], near=near, organ=organ,
                     path=run.output("figure9_errors.png"))
print(f"Figure 9 -> {run.path('figure9_errors.png')}")

# --------------------------------------------------------------------------- metrics.json
results = run.read_json("metrics.json") if run.exists("metrics.json") else {"config": config.name, "data": source}
results.update({"best_threshold": sweep.best_threshold, "val_dice_at_best_threshold": sweep.best_dice,
                "val_dice_at_0.5": sweep.dice_at(0.5), "test_dice_at_best_threshold": float(on_test.dice[1]),
                "threshold_sweep": dict(zip((f"{t:.2f}" for t in sweep.thresholds), map(float, sweep.dice))),
                "error_counts": {"threshold": 0.5, "near_pixels": near, "total": totals,
                                 "fp_far_per_image": float(counts.fp_far.mean()),
                                 "per_image": counts.per_image(test.names)},
                "inside_weights": os.path.abspath(weights)})
seconds = time.perf_counter() - started
results["lesson7_seconds"] = round(seconds, 1)
run.write_json("metrics.json", results)
print(f"\nLesson 7 took {seconds:.1f} s; best_threshold, val_dice_at_best_threshold and error_counts -> "
      f"{run.path('metrics.json')}")
