"""One phantom subject: its anatomy drawn from a generator, and the label map of any axial slice.

Orientation is the radiological one: the patient's right on the image's left,
anterior up.  Positions are in the normalised image coordinates of ``raster``
(u to the image's right, v down, both -1..1); heights z are physical in the
same unit (one unit is about 17 cm of a 35 cm field of view) and run from the
pancreas's most cranial point (the tail, z = 0) to its most caudal one (the
uncinate process, z = ``height``).

What a slice shows as z goes down:
    cranial  spleen, stomach with its air-fluid level, left lobe of the liver,
             crura around the aorta, lung bases, the pancreatic tail at the
             splenic hilum
    middle   pancreatic body crossing in front of the SMA and aorta with the
             splenic vein along its back, portal confluence, both kidneys
    caudal   pancreatic head to the image-left of the SMV, cupped by the
             duodenum; left renal vein between aorta and SMA; colon, jejunum,
             gallbladder; psoas muscles growing beside the spine

The retroperitoneal organs are placed around the aorta, the peritoneal ones in
units of the abdominal cavity, so a larger or fatter body moves them as a real
one does.  Every number below is a draw from the subject's generator, kept in
named records (``raster.Ellipse``, ``raster.Ellipsoid``, ``raster.Tube``, ``Vessel``,
``Colon``); ``section`` paints them into a slice's label map, and the labels
(``tissues``) become Hounsfield units in ``phantom``.
"""

from typing import NamedTuple

import numpy

from .raster import (Canvas, Circle, Ellipse, Ellipsoid, Tube, centred, pixel_coords, plane_waves, smooth_path,
                     tube_through, wave_field)
from .section import paint_section
# every label, also for ``phantom``, which reads them here as anatomy.AIR, ...
from .tissues import (AIR, ARTERY, BILE, BONE, CORTEX, CSF, FAT, FECES, FLUID, GAS, LIVER,  # noqa: F401
                      MARROW, MEDULLA, MUSCLE, N_LABELS, PANCREAS, SPLEEN, URINE, VEIN, WALL)


class Vessel(NamedTuple):
    """A short vertical vessel of radius r at (u, v), seen in the slices z - half .. z + half."""

    u: float
    v: float
    z: float
    half: float
    r: float


class Colon(NamedTuple):
    """A vertical limb of the colon: centre (u, v), radius r, seen in every slice below z0."""

    u: float
    v: float
    r: float
    z0: float


def _vessels(*columns):
    """Vessels from their columns (u, v, z, half, r), each an array of n draws."""
    return [Vessel(*row) for row in numpy.c_[columns]]


class Subject:
    """The anatomy of one subject, drawn once; ``labels(z, size)`` cuts the slice at height z."""

    def __init__(self, rng):
        u = rng.uniform
        self.habitus = u(0, 1)        # 0 lean .. 1 obese
        self.age = u(0, 1)            # older: smaller, more lobulated, fattier pancreas
        organ = u(0.9, 1.1)           # organ size, independent of fat
        self.height = u(0.22, 0.42)   # cranio-caudal extent of the pancreas (4 to 7 cm)

        # body wall: outline, subcutaneous fat, muscle, and the cavity inside it
        self.body = Ellipse(rng.normal(0, 0.015), 0.02 + rng.normal(0, 0.02),
                            0.80 + 0.16 * self.habitus + rng.normal(0, 0.02),
                            0.60 + 0.12 * self.habitus + rng.normal(0, 0.02))
        cx, cy, A, B = self.body
        # the scanner's field of view follows the patient: the body spans most of the width
        self.scale = A / u(0.95, 1.12)
        self.fat = 0.025 + 0.11 * self.habitus * u(0.7, 1.2)
        self.muscle = u(0.025, 0.045)
        a, b = A - self.fat - self.muscle, B - self.fat - self.muscle
        self.cavity = Ellipse(cx, cy, a, b)

        # spine, from the back forwards; the aorta sits on the vertebral body, a little to its left
        back = cy + B - self.fat
        self.vertebra = Ellipse(cx, back - 0.30 * organ, 0.12 * organ, 0.095 * organ)
        self.canal = Circle(cx, self.vertebra.v + self.vertebra.b + 0.055 * organ, 0.042 * organ)
        r_ao = 0.055 * organ * u(0.9, 1.1)
        ax, av = cx + 0.035 + rng.normal(0, 0.012), self.vertebra.v - self.vertebra.b - r_ao - 0.008
        self.aorta = Circle(ax, av, r_ao)
        self.ivc = Ellipse(ax - 0.135 + rng.normal(0, 0.01), av + 0.01, 0.065 * organ, 0.045 * organ)
        self.crura_end = u(0.3, 0.6) * self.height
        self.psoas_cranial, self.psoas_caudal = u(0.02, 0.03), u(0.035, 0.055)   # radii at z = 0, height

        H = self.height
        jitter = lambda s: rng.normal(0, s)  # noqa: E731

        # pancreas centreline, head (t = 0, caudal) to tail (t = 1, cranial), relative to the aorta
        shift = numpy.array([jitter(0.02), jitter(0.015)])
        knots = numpy.array([
            (-0.10, -0.02, 1.00), (-0.16, -0.10, 0.80), (-0.07, -0.17, 0.58),
            (0.08, -0.18, 0.42), (0.30, -0.11, 0.24), (0.46, -0.03, 0.00)])
        knots[:, :2] += shift + rng.normal(0, 0.018, (6, 2))
        knots[1:5, 2] += rng.normal(0, 0.05, 4)
        knots[:, 0] += ax
        knots[:, 1] += av
        self.pancreas = smooth_path(knots, 64)
        z = self.pancreas[:, 2]
        self.pancreas[:, 2] = (z - z.min()) / (z.max() - z.min()) * H
        radius_knots = numpy.array([0.065, 0.08, 0.042, 0.048, 0.044, 0.03])
        atrophy = u(0.85, 1.15) * (1 - 0.2 * self.age)
        self.pancreas_radius = numpy.interp(numpy.linspace(0, 1, 64), numpy.linspace(0, 1, 6),
                                            radius_knots * atrophy)
        self.lobulation = 0.08 + 0.22 * self.age * u(0.5, 1.0)
        self.lobule_waves = plane_waves(rng, 8, 0.035, 0.09)
        self.fatty = max(self.age - 0.4, 0) * u(0.5, 1.4)   # share of fat between lobules
        self.fat_waves = plane_waves(rng, 8, 0.015, 0.035)

        # veins and arteries around the pancreas
        along = self.pancreas[self.pancreas[:, 2] < self.pancreas[20, 2] + 0.01]   # neck to tail
        r_along = self.pancreas_radius[-len(along):]
        r_sv = 0.018 * organ
        self.splenic_vein = Tube(along + numpy.c_[0 * r_along, 0.85 * r_along, 0 * r_along],
                                 numpy.full(len(along), r_sv))
        neck = self.pancreas[20]
        smv = (ax - 0.085 + shift[0], av - 0.10 + shift[1])
        self.smv = tube_through([(smv[0], smv[1], neck[2] - 0.01), (smv[0] - 0.01, smv[1] + 0.01, 1.3 * H)],
                                0.03 * organ)
        self.portal = tube_through([(smv[0] + 0.01, smv[1] - 0.01, neck[2] + 0.01),
                                    (ax - 0.27, av - 0.2, -0.2 * H)], 0.036 * organ)
        self.sma = tube_through([(ax, av - 0.05, 0.3 * H), (ax, av - 0.105, 0.5 * H),
                                 (ax + 0.01, av - 0.12, 1.3 * H)], 0.02 * organ)
        self.celiac = tube_through([(ax, av - 0.05, 0.18 * H), (ax + 0.005, av - 0.12, 0.15 * H)], 0.018 * organ)
        renal_z = u(0.65, 0.95) * H
        self.renal_vein = tube_through([(ax + 0.24, av + 0.04, renal_z - 0.01), (ax + 0.02, av - 0.075, renal_z),
                                        (self.ivc.u, self.ivc.v, renal_z + 0.01)], 0.017 * organ)

        # duodenum: bulb, descending part beside the head, horizontal part under it
        d = numpy.array([
            (-0.10, -0.28, 0.30), (-0.25, -0.20, 0.42), (-0.30, -0.09, 0.60), (-0.29, -0.04, 0.88),
            (-0.21, 0.00, 1.05), (-0.05, -0.02, 1.15), (0.08, -0.04, 1.15), (0.14, -0.10, 0.98)])
        d[:, :2] += shift + numpy.array([ax, av])
        d[:, 2] *= H
        self.duodenum = Tube(smooth_path(d, 48), numpy.full(48, 0.046 * organ * u(0.85, 1.15)))
        self.duodenum_content = rng.choice([WALL, FLUID, GAS], p=[0.35, 0.4, 0.25])

        # liver (right lobe hugging the wall, left lobe in front), its veins, gallbladder;
        # the liver's two ellipses are in units of the cavity (u = cx + u' * a, ...)
        self.liver = Ellipse(u(0.55, 0.62), u(-0.1, 0.05), u(0.38, 0.46), u(0.8, 0.9))
        self.liver_shrink = u(0.2, 0.45)   # how much narrower the right lobe is at z = height
        self.left_lobe = centred(u(-0.3, -0.15), u(-0.7, -0.6), u(0.3, 0.4), u(0.16, 0.22),
                                 z=0.0, half=u(0.3, 0.8) * H, angle=-0.15)
        n = rng.integers(6, 12)
        self.liver_veins = _vessels(cx - u(0.25, 0.8, n) * a, cy + u(-0.6, 0.5, n) * b,
                                    u(-0.2, 1.0, n) * H, u(0.1, 0.3, n), u(0.008, 0.02, n))
        self.gallbladder = (centred(cx - u(0.25, 0.4) * a, cy - u(0.35, 0.55) * b, u(0.05, 0.08), u(0.04, 0.06),
                                    z=u(0.5, 1.0) * H, half=u(0.1, 0.2), angle=0.6) if u() < 0.8 else None)

        # spleen, stomach, kidneys, colon, small bowel
        self.spleen = centred(cx + u(0.62, 0.72) * a, cy + u(0.15, 0.35) * b, u(0.2, 0.27) * organ,
                              u(0.09, 0.12) * organ, angle=u(-1.0, -0.7), z=0.0, half=u(0.4, 0.8) * H)
        self.stomach = Ellipsoid(cx + u(0.3, 0.45) * a, cy - u(0.3, 0.45) * b, u(0.2, 0.28), u(0.14, 0.2),
                                 z0=0.0, z1=u(0.5, 0.9) * H)
        self.stomach_state = rng.choice(["gas-fluid", "collapsed", "food"], p=[0.65, 0.25, 0.1])
        self.air_fluid_level = u(0.0, 0.6)   # share of the stomach's height filled with gas
        # the antrum keeps its short axis at every height (Ellipsoid.b is not tapered)
        self.antrum = Ellipsoid(cx + u(-0.1, 0.1) * a, cy - u(0.55, 0.7) * b, u(0.15, 0.25), u(0.055, 0.08),
                                z0=u(0.2, 0.35) * H, z1=u(0.55, 0.8) * H)
        left_z = u(0.3, 0.6) * H
        self.kidneys = [
            centred(ax + 0.27 + jitter(0.02), av + 0.09 + jitter(0.02), 0.12 * organ, 0.08 * organ,
                    angle=-u(0.6, 0.9), z=left_z, half=u(0.27, 0.33)),
            centred(ax - 0.30 + jitter(0.02), av + 0.10 + jitter(0.02), 0.12 * organ, 0.08 * organ,
                    angle=u(0.6, 0.9), z=left_z + u(0.1, 0.35) * H, half=u(0.27, 0.33))]
        self.colon = [Colon(cx - u(0.68, 0.78) * a, cy - u(0.1, 0.4) * b, u(0.05, 0.07), u(0.4, 0.9) * H),
                      Colon(cx + u(0.75, 0.85) * a, cy + u(-0.1, 0.2) * b, u(0.04, 0.06), u(0.2, 0.6) * H)]
        self.colon_content = [rng.choice([GAS, FECES], p=[0.4, 0.6]) for _ in range(3)]
        zt = u(0.5, 1.4) * H
        self.transverse = tube_through([(cx - 0.55 * a, cy - 0.65 * b, zt), (cx, cy - 0.8 * b, zt - 0.05),
                                        (cx + 0.6 * a, cy - 0.6 * b, zt - 0.2)], u(0.04, 0.06))
        self.loops = []   # (Tube, content) of each small-bowel loop
        for _ in range(rng.integers(8, 17)):
            centre = numpy.array([cx + u(-0.25, 0.7) * a, cy + u(-0.8, 0.15) * b, u(0.2, 1.3) * H])
            step = rng.normal(0, 1, 3)
            step *= u(0.06, 0.14) / numpy.linalg.norm(step)
            self.loops.append((tube_through([centre - step, centre + step], u(0.03, 0.05)),
                               rng.choice([WALL, FLUID, GAS], p=[0.4, 0.4, 0.2])))
        n = rng.integers(6, 13)
        self.mesenteric = _vessels(cx + u(-0.3, 0.6, n) * a, cy + u(-0.8, 0.1, n) * b,
                                   u(0.3, 1.2, n) * H, u(0.2, 0.5, n), u(0.006, 0.012, n))

        # ribs (cranial slices, each with the height where it ends) and lung bases
        angles = numpy.r_[u(0.1, 0.45, 3), u(0.55, 0.9, 3), -u(0.1, 0.4, 2), -u(0.6, 0.9, 2)] * numpy.pi
        self.ribs = numpy.c_[angles, u(0.2, 1.1, len(angles)) * H]
        self.lungs = u(0.05, 0.3) * H if u() < 0.6 else 0.0

    def labels(self, z, size):
        """The int8 label map (size, size) of the axial slice at height z."""
        base, in_cavity = self._body_wall(size)
        c = Canvas(size, self.scale, base)
        paint_section(c, self, z, in_cavity)
        return c.labels

    def pancreas_fat(self, rows, cols, z, size):
        """Share of fat (0..1) between the lobules at the pancreas pixels (rows, cols)."""
        if self.fatty <= 0:
            return numpy.zeros(len(rows), numpy.float32)
        coords = pixel_coords(size, self.scale)
        f = wave_field(self.fat_waves, coords[rows], coords[cols], z)
        return numpy.clip((f - 1.0 + self.fatty) * 1.5, 0, 1).astype(numpy.float32)

    def _body_wall(self, size):
        """Skin line, subcutaneous fat, muscle wall and the cavity: the same at every height."""
        if getattr(self, "_wall_size", None) != size:
            body, cavity = self.body, self.cavity
            c = Canvas(size, self.scale)
            c.paint(c.ellipse(body.u, body.v, body.a, body.b, power=2.4), FAT)
            c.paint(c.ellipse(body.u, body.v, body.a - self.fat, body.b - self.fat, power=2.4), MUSCLE)
            inner = c.ellipse(cavity.u, cavity.v, cavity.a, cavity.b, power=2.4)
            c.paint(inner, FAT)
            self._wall_size, self._wall = size, (c.labels, c.mask(inner))
        return self._wall
