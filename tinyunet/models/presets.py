"""The two U-Nets, level by level: the article's ("article") and its notebook's ("notebook").

    "article"   five levels, filters 8, 16, 32, 64, 128, kernel 5 at level 1 and 3 elsewhere;
                levels 1, 3, 5 use a linear convolution followed by LayerNormalization,
                levels 2 and 4 a ReLU convolution; the up path uses Conv2DTranspose(f, 2,
                strides 2); 600,761 parameters at 256 x 256 x 1.
    "notebook"  the notebook's Cell 4: four levels (8, 16, 32, 64), a 72-filter bottleneck,
                UpSampling2D + 2 x 2 convolution on the way up.

Each preset is a function of an iterator of random generators (one per layer with
weights) returning (down levels, bottleneck layers, up levels); ``UNet`` adds the 1 x 1
sigmoid output convolution to both.
"""

from ..layers import Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D, UpSampling2D


class DownLevel:
    """One level of the contracting path: ``block`` layers (whose output is the skip), then ``pool``."""

    def __init__(self, block, pool):
        self.block, self.pool = block, pool


class UpLevel:
    """One level of the expanding path: ``up`` layers, concatenation with the skip, ``conv`` layers."""

    def __init__(self, up, concat, conv):
        self.up, self.concat, self.conv = up, concat, conv


def _conv_block(name, norm_name, filters, kernel_size, normalized, seed):
    """The article's act(l): a linear conv + LayerNormalization, or a ReLU conv."""
    if normalized:
        return [Conv2D(filters, kernel_size, padding="same", name=name, seed=seed),
                LayerNormalization(name=norm_name)]
    return [Conv2D(filters, kernel_size, padding="same", activation="relu", name=name, seed=seed)]


def article(seeds):
    """The article's five-level U-Net with transposed convolutions on the way up."""
    filters, kernels = (8, 16, 32, 64, 128), (5, 3, 3, 3, 3)
    normalized = {1: True, 2: False, 3: True, 4: False, 5: True}
    down = []
    for level in range(1, 6):
        block = _conv_block(f"down{level}_conv", f"down{level}_norm", filters[level - 1], kernels[level - 1],
                            normalized[level], next(seeds))
        down.append(DownLevel(block, MaxPooling2D(2, name=f"down{level}_pool")))
    up = []
    for level in range(5, 0, -1):
        f = filters[level - 1]
        transpose = Conv2DTranspose(f, 2, strides=2, padding="same", name=f"up{level}_transpose",
                                    activation=None if normalized[level] else "relu", seed=next(seeds))
        up_layers = [transpose] + ([LayerNormalization(name=f"up{level}_norm")] if normalized[level] else [])
        up.append(UpLevel(up_layers, Concatenate(name=f"up{level}_concat"),
                          [Conv2D(f, 3, padding="same", activation="relu", name=f"up{level}_conv", seed=next(seeds))]))
    return down, [], up


def notebook(seeds):
    """The notebook's four-level U-Net with a bottleneck and upsampling + convolution on the way up."""
    down = []
    for level, (f, k, normalized) in enumerate([(8, 5, True), (16, 3, False), (32, 3, True), (64, 3, False)], 1):
        down.append(DownLevel(_conv_block(f"conv{level}", f"conv{level}_norm", f, k, normalized, next(seeds)),
                              MaxPooling2D(2, name=f"pool{level}")))
    bottleneck = [Conv2D(72, 3, padding="same", activation="relu", name="conv5", seed=next(seeds))]
    up = []
    for level, (f, normalized) in zip(range(6, 10), [(64, True), (32, False), (16, True), (8, False)]):
        up_layers = [UpSampling2D(2, name=f"up{level}_upsample")]
        up_layers += _conv_block(f"up{level}", f"up{level}_norm", f, 2, normalized, next(seeds))
        up.append(UpLevel(up_layers, Concatenate(name=f"concat{level}"),
                          [Conv2D(f, 3, padding="same", activation="relu", name=f"conv{level}", seed=next(seeds))]))
    return down, bottleneck, up


PRESETS = {"article": article, "notebook": notebook}
