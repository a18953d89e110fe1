"""Hypothesis strategies shared by the test modules (minitorch's habit); helpers live in helpers.py."""

from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**32 - 1)
paddings = st.sampled_from(["same", "valid"])
activations = st.sampled_from([None, "linear", "relu", "sigmoid"])


@st.composite
def nhwc_shapes(draw, min_side=1, max_side=8, max_batch=3, max_channels=4):
    """A small NHWC shape."""
    return (draw(st.integers(1, max_batch)), draw(st.integers(min_side, max_side)),
            draw(st.integers(min_side, max_side)), draw(st.integers(1, max_channels)))
