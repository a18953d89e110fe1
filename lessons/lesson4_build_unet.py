"""Lesson 4 (the notebook's Cell 4): build the U-Net.

Article sections: Cell 4 and Figure 2 (the U-Net architecture), and the
paragraphs on the first Conv2D line (filters, kernel size, activation, padding,
he_normal), layer normalization, max pooling five times down to 8 x 8 x 128,
transposed convolution on the way up, and the final sigmoid.

Prints a Keras-like summary and draws Figure 2 from the model's own layers; the
notebook's variant (UpSampling2D + Conv2D instead of transposed convolutions) is
drawn beside it for comparison.  The network flags (``--filters``,
``--normalization``, ``--upsampling``, ``--initializer``, ``--organ`` for its classes)
change the U-Net as the article invites; the variant drawn beside it is the other
preset as it stands.

    python lessons/lesson4_build_unet.py [--config ...] [--out DIR] [--filters N ...] [--normalization ...]
"""

from tinyunet import lessons, plots
from tinyunet.models import UNet

run = lessons.start(__file__, 4, "Build the U-Net", "Cell 4 and Figure 2")
config = run.config
shape = (config.image_size, config.image_size, 1)

model = UNet(config.preset, input_shape=shape, seed=config.seed, **config.unet_options())
model.summary()
plots.figure2_unet(model, path=run.output("figure2_unet.png"))
print(f"\nFigure 2 -> {run.path('figure2_unet.png')}")

other = "notebook" if config.preset == "article" else "article"
variant = UNet(other, input_shape=shape, seed=config.seed)
plots.figure2_unet(variant, path=run.output(f"figure2_unet_{other}.png"))
print(f"The '{other}' preset, {variant.count_params():,} parameters -> {run.path(f'figure2_unet_{other}.png')}")
