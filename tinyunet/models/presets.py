"""The U-Net's configuration: the two presets, the arguments that change them, the layers they make.

    "article"   five levels, filters 8, 16, 32, 64, 128, kernel 5 at level 1 and 3 elsewhere;
                levels 1, 3, 5 use a linear convolution followed by LayerNormalization,
                levels 2 and 4 a ReLU convolution, on both paths; the up path uses
                Conv2DTranspose(f, 2, strides 2); 600,761 parameters at 256 x 256 x 1.
    "notebook"  the notebook's Cell 4: four levels (8, 16, 32, 64), a 72-filter bottleneck,
                UpSampling2D (nearest) + 2 x 2 convolution on the way up; LayerNormalization
                at down levels 1 and 3 but at up levels 4 and 2; 193,409 parameters.

Levels are numbered from the top (level 1 sees the full image); an up level has
the number of the down level whose skip it takes.  Each preset is a set of values
for ``UNet``'s arguments (``resolve`` fills what the caller leaves as None) and a
way of naming the layers (the article's "down1_conv", the notebook's "conv1").

    filters              one int per level; its length is the number of levels (2 to 6)
    kernel_sizes         the down path's kernels, one per level (the up path's are 3 x 3)
    normalization        {"down": levels, "up": levels} that use a linear convolution +
                         LayerNormalization; the other levels use a ReLU convolution
    upsampling           "transpose", or "nearest" / "bilinear" (UpSampling2D, then 2 x 2 conv)
    bottleneck_filters   0 (none), or the filters of a 3 x 3 ReLU convolution below the U
    kernel_initializer   for every convolution but the output one (default he_normal; the 1 x 1
                         output convolution keeps glorot_uniform, Keras's default)
    classes              1: one sigmoid channel; K >= 2: K softmax channels, background first
"""

from .. import initializers
from ..layers import Concatenate, Conv2D, Conv2DTranspose, LayerNormalization, MaxPooling2D, UpSampling2D

PRESETS = {
    "article": {"filters": (8, 16, 32, 64, 128), "upsampling": "transpose", "bottleneck_filters": 0},
    "notebook": {"filters": (8, 16, 32, 64), "upsampling": "nearest", "bottleneck_filters": 72},
}
UPSAMPLING = ("transpose", "nearest", "bilinear")
NORMALIZATION = ("preset", "none", "every")
MIN_LEVELS, MAX_LEVELS = 2, 6


def preset_normalization(preset, levels):
    """The preset's pattern for any number of levels: odd levels on both paths (the article),
    odd levels down and even levels up (the notebook: down 1, 3 and up 4, 2)."""
    odd = [level for level in range(1, levels + 1) if level % 2]
    even = [level for level in range(1, levels + 1) if not level % 2]
    return {"down": odd, "up": odd if preset == "article" else even}


def resolve(preset, filters=None, kernel_sizes=None, normalization=None, upsampling=None,
            kernel_initializer=None, bottleneck_filters=None, classes=1):
    """The full, checked configuration: the preset's value wherever an argument is None."""
    if preset not in PRESETS:
        raise ValueError(f"UNet: preset must be one of {tuple(PRESETS)}, not {preset!r}")
    base = PRESETS[preset]
    filters = _int_list("filters", base["filters"] if filters is None else filters)
    levels = len(filters)
    if not MIN_LEVELS <= levels <= MAX_LEVELS:
        raise ValueError(f"UNet: filters {filters} gives {levels} levels; give {MIN_LEVELS} to {MAX_LEVELS} "
                         "(one int per level)")
    if kernel_sizes is None:
        kernel_sizes = [5] + [3] * (levels - 1)
    elif isinstance(kernel_sizes, int) and not isinstance(kernel_sizes, bool):
        kernel_sizes = [kernel_sizes] * levels
    kernel_sizes = _int_list("kernel_sizes", kernel_sizes)
    if len(kernel_sizes) != levels:
        raise ValueError(f"UNet: kernel_sizes {kernel_sizes} has {len(kernel_sizes)} entries for {levels} levels "
                         "(give one int, or one per level)")
    upsampling = base["upsampling"] if upsampling is None else upsampling
    if upsampling not in UPSAMPLING:
        raise ValueError(f"UNet: upsampling must be one of {UPSAMPLING}, not {upsampling!r}")
    bottleneck_filters = base["bottleneck_filters"] if bottleneck_filters is None else bottleneck_filters
    if not isinstance(bottleneck_filters, int) or isinstance(bottleneck_filters, bool) or bottleneck_filters < 0:
        raise ValueError(f"UNet: bottleneck_filters must be 0 (none) or a positive int, not {bottleneck_filters!r}")
    if kernel_initializer is None:
        kernel_initializer = "he_normal"
    initializers.get(kernel_initializer)            # an unknown name: a ValueError listing the known ones
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"UNet: classes must be 1 (a sigmoid mask) or K >= 2 (softmax), not {classes!r}")
    return {"filters": filters, "kernel_sizes": kernel_sizes,
            "normalization": _normalization(normalization, preset, levels), "upsampling": upsampling,
            "kernel_initializer": kernel_initializer, "bottleneck_filters": bottleneck_filters, "classes": classes}


def architecture(preset, config):
    """What of a resolved configuration shapes the network and its weights' names: all but the
    initializer (and the seed, dtype and input size, which ``resolve`` does not hold)."""
    return {"preset": preset, **{key: value for key, value in config.items() if key != "kernel_initializer"}}


def _int_list(name, values):
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"UNet: {name} must be a list of positive ints, not {values!r}") from None
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        raise ValueError(f"UNet: {name} must be a list of positive ints, not {values!r}")
    return values


def _normalization(normalization, preset, levels):
    """{"down": sorted levels, "up": sorted levels} from a name or an explicit choice."""
    every = list(range(1, levels + 1))
    if normalization is None or normalization == "preset":
        return preset_normalization(preset, levels)
    if normalization == "none":
        return {"down": [], "up": []}
    if normalization == "every":
        return {"down": every, "up": list(every)}
    if isinstance(normalization, (tuple, list)) and len(normalization) == 2:
        normalization = {"down": normalization[0], "up": normalization[1]}
    if not isinstance(normalization, dict) or set(normalization) != {"down", "up"}:
        raise ValueError(f"UNet: normalization must be one of {NORMALIZATION}, a dict {{'down': levels, "
                         f"'up': levels}} or a pair (down levels, up levels), not {normalization!r}")
    chosen = {}
    for path, picked in normalization.items():
        picked = sorted(set(picked))
        wrong = [level for level in picked if level not in every]
        if wrong:
            raise ValueError(f"UNet: normalization {path} levels {wrong} do not exist; the levels are {every}")
        chosen[path] = picked
    return {"down": chosen["down"], "up": chosen["up"]}


# ----------------------------------------------------------------- the layers of a configuration

class DownLevel:
    """One level of the contracting path: ``block`` layers (whose output is the skip), then ``pool``."""

    def __init__(self, block, pool):
        self.block, self.pool = block, pool


class UpLevel:
    """One level of the expanding path: ``up`` layers, concatenation with the skip, ``conv`` layers."""

    def __init__(self, up, concat, conv):
        self.up, self.concat, self.conv = up, concat, conv


class Names:
    """Layer names: the article's ("down1_conv", "up1_transpose", "output") or the notebook's
    Keras-style numbering ("conv1", "pool1", the bottleneck conv5, "up6", "concat6", "conv10")."""

    def __init__(self, preset, levels):
        self.article, self.levels = preset == "article", levels

    def down(self, level, part):              # part: conv, norm, pool
        if self.article:
            return f"down{level}_{part}"
        return {"conv": f"conv{level}", "norm": f"conv{level}_norm", "pool": f"pool{level}"}[part]

    def bottleneck(self):
        return "bottleneck_conv" if self.article else f"conv{self.levels + 1}"

    def up(self, level, part):                # part: transpose, upsample, upconv, norm, concat, conv
        if self.article:
            return f"up{level}_{part}"
        n = 2 * self.levels + 2 - level       # the notebook counts on down the U: up6 mirrors level 4
        return {"transpose": f"up{n}", "upsample": f"up{n}_upsample", "upconv": f"up{n}",
                "norm": f"up{n}_norm", "concat": f"concat{n}", "conv": f"conv{n}"}[part]

    def output(self):
        return "output" if self.article else f"conv{2 * self.levels + 2}"


def _conv_block(name, norm_name, filters, kernel_size, normalized, initializer, seed):
    """The article's act(l): a linear conv + LayerNormalization, or a ReLU conv."""
    if normalized:
        return [Conv2D(filters, kernel_size, padding="same", kernel_initializer=initializer, name=name, seed=seed),
                LayerNormalization(name=norm_name)]
    return [Conv2D(filters, kernel_size, padding="same", activation="relu", kernel_initializer=initializer,
                   name=name, seed=seed)]


def build_layers(preset, config, seeds):
    """(down levels, bottleneck layers, up levels, output layer) of a resolved configuration.

    ``seeds`` yields one random generator per layer with weights, in the order down
    convolutions, bottleneck, then per up level its upsampling convolution and its
    convolution, then the output: the presets' layers draw exactly the weights they always have.
    """
    filters, levels = config["filters"], len(config["filters"])
    names, init = Names(preset, levels), config["kernel_initializer"]
    norm_down, norm_up = set(config["normalization"]["down"]), set(config["normalization"]["up"])
    down = []
    for level in range(1, levels + 1):
        block = _conv_block(names.down(level, "conv"), names.down(level, "norm"), filters[level - 1],
                            config["kernel_sizes"][level - 1], level in norm_down, init, next(seeds))
        down.append(DownLevel(block, MaxPooling2D(2, name=names.down(level, "pool"))))
    bottleneck = []
    if config["bottleneck_filters"]:
        bottleneck = [Conv2D(config["bottleneck_filters"], 3, padding="same", activation="relu",
                             kernel_initializer=init, name=names.bottleneck(), seed=next(seeds))]
    up = []
    for level in range(levels, 0, -1):
        f, normalized = filters[level - 1], level in norm_up
        if config["upsampling"] == "transpose":
            layers = [Conv2DTranspose(f, 2, strides=2, padding="same", activation=None if normalized else "relu",
                                      kernel_initializer=init, name=names.up(level, "transpose"), seed=next(seeds))]
            layers += [LayerNormalization(name=names.up(level, "norm"))] if normalized else []
        else:
            layers = [UpSampling2D(2, interpolation=config["upsampling"], name=names.up(level, "upsample"))]
            layers += _conv_block(names.up(level, "upconv"), names.up(level, "norm"), f, 2, normalized, init,
                                  next(seeds))
        conv = Conv2D(f, 3, padding="same", activation="relu", kernel_initializer=init,
                      name=names.up(level, "conv"), seed=next(seeds))
        up.append(UpLevel(layers, Concatenate(name=names.up(level, "concat")), [conv]))
    classes = config["classes"]
    output = Conv2D(classes if classes > 1 else 1, 1, activation="softmax" if classes > 1 else "sigmoid",
                    kernel_initializer="glorot_uniform", name=names.output(), seed=next(seeds))
    return down, bottleneck, up, output
