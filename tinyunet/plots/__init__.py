"""The article's four figures and lesson 7's five, drawn with Pillow as PNG (no plotting library needed).

    figure1_dice(...)                  figure1_dice.py          Dice at no, small and full overlap
    figure2_unet(model)                figure2_unet.py          the U-Net drawn from the model's levels
    figure3_loss(history)              figure3_loss.py          train and validation loss per epoch
    figure4_predictions(images, ...)   figure4_predictions.py   ground truth beside prediction, in cyan
                                                                (one colour per class for K classes;
                                                                probabilities=True adds the probability map)
    figure5_feature_maps(image, maps, ...)  figure5_feature_maps.py  one image through every level, down and up
    figure6_kernels(initial, trained)  figure6_kernels.py       the first layer's kernels before and after training
    figure7_probabilities(...)         figure7_probabilities.py probability heat maps, Dice against the
                                                                threshold, the histogram of the probabilities
    figure8_transposed_conv(x, kernel) figure8_transposed_conv.py  zero insertion + convolution = Conv2DTranspose,
                                                                beside nearest and bilinear upsampling
    figure9_errors(images, codes)      figure9_errors.py        true positives, false positives near and far,
                                                                false negatives, one colour each
    heat_colours, colour_bar, ...      heatmap.py               the heat palette, grey maps and their colour bars
    font, save, arrow, legend, ...     draw.py                  what every figure draws with

Each returns a PIL ``Image``; given ``path=`` it also writes the PNG atomically
(a temporary file in the same folder, then a rename), so a reader never sees a
half-written figure and nothing but ``path`` is replaced.  Where a test needs to
find what was drawn, the image's ``info`` dict says where (``plot_box``,
``panels``, ``blocks``, ``tiles``, ``grids``); Pillow does not write these keys into the PNG.
The cyan ``overlay`` and the mask ``outline`` are the data preview's own
(``tinyunet.data.preview``), so a figure and a contact sheet draw masks alike.

Example:
    >>> from tinyunet import plots
    >>> plots.figure3_loss(history.history, path="runs/cpu/figure3_loss.png")
"""

from ..data.preview import CYAN, outline, overlay
from .draw import BLACK, GRAY, WHITE, arrow, centred_text, font, legend, save, text_width
from .figure1_dice import PREDICTION, TRUTH, figure1_dice, overlap_cases
from .figure2_unet import (BOTTOM_FILL, DOWN_FILL, IO_FILL, SKIP, UP_FILL, Block, describe_layer, figure2_unet,
                           unet_blocks)
from .figure3_loss import BLUE, ORANGE, figure3_loss, nice_ticks
from .figure4_predictions import class_colours, figure4_predictions, label_overlay
from .figure5_feature_maps import feature_map_layers, figure5_feature_maps, strongest_channels
from .figure6_kernels import figure6_kernels
from .figure7_probabilities import BEST, figure7_probabilities
from .figure8_transposed_conv import figure8_transposed_conv, transposed_conv_example
from .figure9_errors import ERROR_COLOURS, error_overlay, figure9_errors
from .heatmap import colour_bar, grey_levels, heat_colours

__all__ = ["figure1_dice", "figure2_unet", "figure3_loss", "figure4_predictions", "figure5_feature_maps",
           "figure6_kernels", "figure7_probabilities", "figure8_transposed_conv", "figure9_errors",
           "feature_map_layers", "strongest_channels", "transposed_conv_example", "error_overlay", "ERROR_COLOURS",
           "BEST", "heat_colours", "grey_levels", "colour_bar", "overlap_cases",
           "unet_blocks", "describe_layer", "Block", "nice_ticks", "overlay", "outline", "font", "save",
           "arrow", "centred_text", "text_width", "legend", "class_colours", "label_overlay", "WHITE", "BLACK", "GRAY", "CYAN", "BLUE", "ORANGE",
           "TRUTH", "PREDICTION", "DOWN_FILL", "UP_FILL", "BOTTOM_FILL", "IO_FILL", "SKIP"]
