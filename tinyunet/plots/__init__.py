"""The article's four figures, drawn with Pillow as PNG (no plotting library needed).

    figure1_dice(...)                  figure1_dice.py          Dice at no, small and full overlap
    figure2_unet(model)                figure2_unet.py          the U-Net drawn from the model's levels
    figure3_loss(history)              figure3_loss.py          train and validation loss per epoch
    figure4_predictions(images, ...)   figure4_predictions.py   ground truth beside prediction, in cyan
                                                                (one colour per class for K classes)
    font, save, arrow, legend, ...     draw.py                  what every figure draws with

Each returns a PIL ``Image``; given ``path=`` it also writes the PNG atomically
(a temporary file in the same folder, then a rename), so a reader never sees a
half-written figure and nothing but ``path`` is replaced.  Where a test needs to
find what was drawn, the image's ``info`` dict says where (``plot_box``,
``panels``, ``blocks``); Pillow does not write these keys into the PNG.
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

__all__ = ["figure1_dice", "figure2_unet", "figure3_loss", "figure4_predictions", "overlap_cases",
           "unet_blocks", "describe_layer", "Block", "nice_ticks", "overlay", "outline", "font", "save",
           "arrow", "centred_text", "text_width", "legend", "class_colours", "label_overlay", "WHITE", "BLACK", "GRAY", "CYAN", "BLUE", "ORANGE",
           "TRUTH", "PREDICTION", "DOWN_FILL", "UP_FILL", "BOTTOM_FILL", "IO_FILL", "SKIP"]
