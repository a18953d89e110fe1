"""The routines the layers spend their time in, each in a readable ``xp`` form
that runs on NumPy and CuPy alike, and (for CuPy) a hand-written CUDA twin with
the same signature.

Each public routine here is a dispatcher: it runs the CUDA twin when given
CuPy arrays and fast kernels are enabled, else the ``xp`` form.  Set
``TINYUNET_FAST_KERNELS=0`` (or call ``set_fast(False)``) to run the readable
forms on the GPU too; the GPU tests compare the two.
"""

import os

_fast = os.environ.get("TINYUNET_FAST_KERNELS", "1").strip() not in ("0", "false", "no", "off")


def fast_enabled():
    """True when CuPy arrays go through the hand-written CUDA kernels."""
    return _fast


def set_fast(enabled):
    """Turn the CUDA kernels on or off; returns the previous setting."""
    global _fast
    previous, _fast = _fast, bool(enabled)
    return previous


from .conv import col2im, im2col  # noqa: E402  (after the switch they read)

__all__ = ["fast_enabled", "set_fast", "im2col", "col2im"]
