"""Drawing helpers for the phantom: named shapes, a label canvas, ellipses, tubes cut by a slice, blur.

Coordinates are normalised so that one anatomy serves every image size: the
image spans u (columns, left to right) and v (rows, top to bottom) from -1 to 1,
pixel centres at ``(index + 0.5) * 2 / size - 1``.  Shapes are painted as
integer labels onto a canvas, later shapes over earlier ones (the painter's
algorithm), and each shape only touches the pixels of its bounding box: a slice
has about a hundred shapes, most of them small, and that is what keeps the
82-subject set under a minute.

3-D structures (pancreas, duodenum, vessels, bowel loops) are tubes: a centreline
sampled as points (u, v, z) with a radius each; the slice at height z shows the
union of the discs sqrt(r^2 - dz^2) of the samples it crosses.  Lobulation and
fatty infiltration use a smooth random field: a sum of random plane waves.
"""

from typing import NamedTuple

import numpy

_TAU = 2 * numpy.pi


class Circle(NamedTuple):
    """A round section: centre (u, v), radius r."""

    u: float
    v: float
    r: float


class Ellipse(NamedTuple):
    """An elliptic section: centre (u, v), semi-axes a (along u) and b (along v)."""

    u: float
    v: float
    a: float
    b: float


class Ellipsoid(NamedTuple):
    """An organ whose section is an ellipse that swells and shrinks like an ellipsoid's from z0 to z1.

    At height z the semi-axes are (a, b) * taper(z), turned by ``angle`` (radians).
    """

    u: float
    v: float
    a: float
    b: float
    z0: float
    z1: float
    angle: float = 0.0

    def taper(self, z):
        """sqrt(1 - t^2) with t = (2 z - z0 - z1) / (z1 - z0): 1 at mid-height, 0 at z0, z1 and beyond."""
        if self.z1 <= self.z0:
            return 0.0
        t = (2 * z - self.z0 - self.z1) / (self.z1 - self.z0)
        return float(numpy.sqrt(max(1 - t * t, 0.0)))


def centred(u, v, a, b, z, half, angle=0.0):
    """The Ellipsoid that spans heights z - half .. z + half."""
    return Ellipsoid(u, v, a, b, z - half, z + half, angle)


class Tube(NamedTuple):
    """A 3-D tube: centreline samples ``path`` (S, 3) of (u, v, z), one ``radius`` (S,) each."""

    path: numpy.ndarray
    radius: numpy.ndarray


def tube_through(knots, radius, n=24):
    """A Tube of constant ``radius`` along the rounded polyline through ``knots`` (K, 3)."""
    return Tube(smooth_path(knots, n), numpy.full(n, radius))


class Canvas:
    """One slice's label image and the geometry to paint shapes onto it."""

    def __init__(self, size, scale=1.0, labels=None):
        self.size = size
        self.labels = numpy.zeros((size, size), numpy.int8) if labels is None else labels.copy()
        self.coords = pixel_coords(size, scale)
        self.scale = scale
        self.pixel = 2.0 * scale / size

    def window(self, u0, u1, v0, v1):
        """The (rows, cols) slices and the (V, U) grids of the box [u0, u1] x [v0, v1], or None."""
        n, k = self.size, self.scale
        c0 = max(int(numpy.floor((u0 / k + 1) * n / 2 - 0.5)), 0)
        c1 = min(int(numpy.ceil((u1 / k + 1) * n / 2 - 0.5)) + 1, n)
        r0 = max(int(numpy.floor((v0 / k + 1) * n / 2 - 0.5)), 0)
        r1 = min(int(numpy.ceil((v1 / k + 1) * n / 2 - 0.5)) + 1, n)
        if c0 >= c1 or r0 >= r1:
            return None
        return (slice(r0, r1), slice(c0, c1)), self.coords[r0:r1, None], self.coords[None, c0:c1]

    def ellipse(self, cu, cv, a, b, angle=0.0, power=2.0):
        """Where the (super)ellipse with centre (cu, cv), semi-axes a, b, turned by angle (radians) lies.

        Returns (box, inside) for ``paint``, or None when it misses the image.
        ``power`` > 2 squares the ellipse off (a body outline, a vertebral body).
        """
        if a <= 0 or b <= 0:
            return None
        r = max(a, b)
        win = self.window(cu - r, cu + r, cv - r, cv + r)
        if win is None:
            return None
        box, V, U = win
        # plain floats keep the grids in float32 (a NumPy float64 scalar would promote them)
        c, s = float(numpy.cos(angle)), float(numpy.sin(angle))
        du, dv = U - float(cu), V - float(cv)
        x = (du * c + dv * s) / float(a)
        y = (dv * c - du * s) / float(b)
        if power == 2.0:
            inside = x * x + y * y <= 1
        else:
            half = power / 2
            inside = (x * x) ** half + (y * y) ** half <= 1
        return box, inside

    def tube(self, tube, z, scale=1.0, field=None):
        """Where ``tube`` (a Tube) crosses the slice at height z.

        ``scale`` multiplies every radius (a wall drawn as the tube, its lumen as
        the same tube with a smaller scale).  ``field(V, U)``, when given, is a
        relative bump of the radius (lobulation): inside where
        dist / r < 1 + field.  Returns (box, inside) or None.
        """
        centre, r = tube.path, tube.radius * scale
        dz = z - centre[:, 2]
        reach = r * (1.5 if field is not None else 1.0)
        cut = numpy.abs(dz) < reach
        if not cut.any():
            return None
        c, r, reach = centre[cut].astype(numpy.float32), r[cut], reach[cut]
        dz = dz[cut].astype(numpy.float32)
        disc = numpy.sqrt(reach ** 2 - dz ** 2)
        win = self.window((c[:, 0] - disc).min(), (c[:, 0] + disc).max(),
                          (c[:, 1] - disc).min(), (c[:, 1] + disc).max())
        if win is None:
            return None
        box, V, U = win
        inv = (1.0 / r ** 2).astype(numpy.float32)[:, None, None]
        d2 = ((U[None] - c[:, 0, None, None]) ** 2 + (V[None] - c[:, 1, None, None]) ** 2
              + (dz ** 2)[:, None, None]) * inv
        ratio = d2.min(axis=0)
        if field is None:
            return box, ratio <= 1
        return box, ratio <= (1 + field(V, U)) ** 2

    def mask(self, shape):
        """A full-size bool image of ``shape`` (to restrict later shapes to it)."""
        full = numpy.zeros((self.size, self.size), dtype=bool)
        if shape is not None:
            box, inside = shape
            full[box] = inside
        return full

    def paint(self, shape, label, where=None, only=None):
        """Set ``label`` inside ``shape``; ``where`` (full-size bool) or ``only`` (labels) restrict it."""
        if shape is None:
            return
        box, inside = shape
        if where is not None:
            inside = inside & where[box]
        if only is not None:
            inside = inside & numpy.isin(self.labels[box], only)
        self.labels[box][inside] = label


def smooth_path(knots, n):
    """n points along the polyline through ``knots`` (K, D), rounded off by a few [1, 2, 1] passes."""
    knots = numpy.asarray(knots, dtype=numpy.float64)
    steps = numpy.r_[0, numpy.cumsum(numpy.linalg.norm(numpy.diff(knots[:, :2], axis=0), axis=1))]
    t = numpy.linspace(0, steps[-1], n)
    path = numpy.stack([numpy.interp(t, steps, knots[:, d]) for d in range(knots.shape[1])], axis=1)
    for _ in range(n // 8):
        path[1:-1] = 0.25 * path[:-2] + 0.5 * path[1:-1] + 0.25 * path[2:]
    return path


def pixel_coords(size, scale=1.0):
    """The normalised coordinate of each pixel centre along one axis (float32)."""
    return ((numpy.arange(size, dtype=numpy.float32) + 0.5) * 2 / size - 1) * numpy.float32(scale)


def gaussian_transfer(shape, sigma):
    """The frequency response, on ``rfft2``'s grid, of a Gaussian blur of ``sigma`` pixels."""
    fy = numpy.fft.fftfreq(shape[0])[:, None]
    fx = numpy.fft.rfftfreq(shape[1])[None, :]
    return numpy.exp(-2 * (numpy.pi * sigma) ** 2 * (fy ** 2 + fx ** 2))


def noise_gain(shape, sigma):
    """Standard deviation of unit white noise after ``gaussian_transfer(shape, sigma)`` (Parseval)."""
    fy = numpy.fft.fftfreq(shape[0])[:, None]
    fx = numpy.fft.fftfreq(shape[1])[None, :]
    return float(numpy.sqrt(numpy.mean(numpy.exp(-4 * (numpy.pi * sigma) ** 2 * (fy ** 2 + fx ** 2)))))


def gaussian_blur(stack, sigma):
    """Blur the last two axes of ``stack`` with a Gaussian of ``sigma`` pixels.

    Done by FFT, so the image wraps around at its edges; the phantom's edges are
    air or body fat, where a pixel or two of wrap cannot be seen.
    """
    if sigma <= 0:
        return stack
    shape = stack.shape[-2:]
    spectrum = numpy.fft.rfft2(stack) * gaussian_transfer(shape, sigma)
    return numpy.fft.irfft2(spectrum, s=shape).astype(numpy.float32)


def plane_waves(rng, n, shortest, longest):
    """n random plane waves in (u, v, z): wave vectors (n, 3) and phases (n,) of a smooth field."""
    lengths = rng.uniform(shortest, longest, n)
    directions = rng.normal(0, 1, (n, 3))
    directions /= numpy.linalg.norm(directions, axis=1, keepdims=True)
    return directions * (_TAU / lengths)[:, None], rng.uniform(0, _TAU, n)


def wave_field(waves, V, U, z):
    """A smooth random field of unit standard deviation at (V, U, z): sqrt(2 / n) * sum sin(k . x + phase)."""
    k, phase = waves
    total = 0.0
    for (ku, kv, kz), p in zip(k, phase):
        total = total + numpy.sin(ku * U + kv * V + (kz * z + p))
    return (total * numpy.sqrt(2.0 / len(phase))).astype(numpy.float32)
