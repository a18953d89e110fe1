"""Concatenate: join tensors along the channel axis (the U-Net's skip connections).

Forward:   y = [x_1, x_2, ..., x_k] stacked along ``axis`` (channels, -1, by default)
Backward:  dL/dx_i = the slice of dL/dy that x_i occupies; returned as a list in the
           inputs' order
Shapes:    x_i (N, H, W, C_i) -> y (N, H, W, sum C_i); every other axis must agree
Keras:     keras.layers.Concatenate(axis=-1)([skip, up])

Example:
    >>> cat = Concatenate()
    >>> y = cat.forward([skip, up])           # (16, 128, 128, 8) + (16, 128, 128, 8) -> 16 channels
    >>> dskip, dup = cat.backward(dy)
"""

from .. import kernels
from .base import Layer


class Concatenate(Layer):
    """Concatenate a list of NHWC tensors along one axis (the channels by default)."""

    def __init__(self, axis=-1, name=None):
        super().__init__(name=name)
        self.axis = axis
        self.sizes = None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def output_shape(self, input_shapes):
        axis = self.axis % 4
        shapes = [tuple(s) for s in input_shapes]
        total = sum(s[axis] for s in shapes)
        return shapes[0][:axis] + (total,) + shapes[0][axis + 1:]

    def forward(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
            raise ValueError(f"{self.name}: forward takes a list of tensors, got {type(inputs).__name__}")
        inputs = [self.prepare_input(x) for x in inputs]
        axis = self.axis % 4
        shapes = [tuple(x.shape) for x in inputs]
        for shape in shapes[1:]:
            if shape[:axis] + shape[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
                raise ValueError(f"{self.name}: cannot concatenate shapes {shapes} along axis {self.axis}: "
                                 "every other axis must agree")
        self.sizes = [s[axis] for s in shapes]
        self.out_shape = self.output_shape(shapes)
        return kernels.concatenate(inputs, axis=axis)      # xp.concatenate (on every core on NumPy)

    def backward(self, dy):
        dy = self.check_backward_ready(dy, None if self.sizes is None else self.out_shape)
        # each x_i's slice of dy, as a copy, not a view of dy: the caller may add to it in
        # place (skip connections); kernels.split copies them on every core on NumPy
        return kernels.split(dy, self.sizes, axis=self.axis % 4)
