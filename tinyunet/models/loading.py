"""load_model: a network rebuilt from its weights file alone, for inference in a fresh process.

The article trains once, saves the weights, and "just do[es] the inference part at
a different time".  ``save_weights`` records the model's class and ``config``;
``load_model`` builds that model again (a U-Net of any configuration, or a
Sequential of built-in layers) and fills in the weights.  A weights file of
tinyunet 0.1 records only the U-Net's preset, which is its configuration.

Example:
    >>> model.save_weights("runs/cpu/best.npz")
    >>> model = load_model("runs/cpu/best.npz")       # later, anywhere
    >>> probabilities = model.predict(images)
"""

import os

from .checkpoint import FORMAT, assign_weights, check_weights, read_arrays
from .sequential import Sequential
from .unet import UNet


def load_model(path):
    """The model ``path`` (an .npz of ``save_weights``) holds, with its weights; ValueError naming the problem."""
    arrays, meta = read_arrays(path, FORMAT)
    path = os.fspath(path)
    kind, config = meta.get("model", "UNet"), meta.get("config")
    if "model" not in meta:                       # tinyunet 0.1: the preset is the configuration
        config = {"preset": meta.get("preset"), "dtype": meta.get("dtype", "float32")}
    elif config is None:
        raise ValueError(f"{path}: records no configuration to rebuild the model from "
                         f"({meta.get('no_config', 'none was saved')}); build the model by hand and "
                         "call model.load_weights(path)")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: its configuration is not a JSON object: {config!r}")
    try:
        if kind == "UNet":
            model = UNet(**config)
        elif kind == "Sequential":
            model = Sequential.from_config(config)
        else:
            raise ValueError(f"unknown model class {kind!r} (UNet or Sequential)")
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(f"{path}: cannot rebuild its {kind} from the configuration it records: {error}") from None
    check_weights(model, arrays, meta, path)
    assign_weights(model, arrays)
    return model
