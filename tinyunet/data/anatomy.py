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
one does.  Every number below is a draw from the subject's generator; the
labels become Hounsfield units in ``phantom``.
"""

import numpy

from .raster import Canvas, pixel_coords, smooth_path

# Label values of the slice map (ordered by nothing; each gets an HU per subject).
(AIR, FAT, MUSCLE, LIVER, SPLEEN, CORTEX, MEDULLA, FLUID, GAS, WALL, FECES, PANCREAS,
 ARTERY, VEIN, BONE, MARROW, CSF, BILE, URINE) = range(19)
N_LABELS = 19

_TAU = 2 * numpy.pi


class Subject:
    """The anatomy of one subject, drawn once; ``labels(z, size)`` cuts the slice at height z."""

    def __init__(self, rng):
        u = rng.uniform
        self.habitus = u(0, 1)        # 0 lean .. 1 obese
        self.age = u(0, 1)            # older: smaller, more lobulated, fattier pancreas
        organ = u(0.9, 1.1)           # organ size, independent of fat
        self.height = u(0.22, 0.42)   # cranio-caudal extent of the pancreas (4 to 7 cm)

        # body wall: outline, subcutaneous fat, muscle, and the cavity inside it
        self.body = (rng.normal(0, 0.015), 0.02 + rng.normal(0, 0.02),
                     0.80 + 0.16 * self.habitus + rng.normal(0, 0.02),
                     0.60 + 0.12 * self.habitus + rng.normal(0, 0.02))
        cx, cy, A, B = self.body
        # the scanner's field of view follows the patient: the body spans most of the width
        self.scale = A / u(0.95, 1.12)
        self.fat = 0.025 + 0.11 * self.habitus * u(0.7, 1.2)
        self.muscle = u(0.025, 0.045)
        a, b = A - self.fat - self.muscle, B - self.fat - self.muscle
        self.cavity = (cx, cy, a, b)

        # spine, from the back forwards; the aorta sits on the vertebral body, a little to its left
        back = cy + B - self.fat
        self.vertebra = (cx, back - 0.30 * organ, 0.12 * organ, 0.095 * organ)
        vx, vb, _, vr = self.vertebra
        self.canal = (vx, vb + vr + 0.055 * organ, 0.042 * organ)
        r_ao = 0.055 * organ * u(0.9, 1.1)
        ax, av = cx + 0.035 + rng.normal(0, 0.012), vb - vr - r_ao - 0.008
        self.aorta = (ax, av, r_ao)
        self.ivc = (ax - 0.135 + rng.normal(0, 0.01), av + 0.01, 0.065 * organ, 0.045 * organ)
        self.crura_end = u(0.3, 0.6) * self.height
        self.psoas = u(0.02, 0.03), u(0.035, 0.055)

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
        self.lobule_waves = _waves(rng, 8, 0.035, 0.09)
        self.fatty = max(self.age - 0.4, 0) * u(0.5, 1.4)   # share of fat between lobules
        self.fat_waves = _waves(rng, 8, 0.015, 0.035)

        # veins and arteries around the pancreas
        along = self.pancreas[self.pancreas[:, 2] < self.pancreas[20, 2] + 0.01]   # neck to tail
        r_along = self.pancreas_radius[-len(along):]
        r_sv = 0.018 * organ
        self.splenic_vein = (along + numpy.c_[0 * r_along, 0.85 * r_along, 0 * r_along],
                             numpy.full(len(along), r_sv))
        neck = self.pancreas[20]
        smv = (ax - 0.085 + shift[0], av - 0.10 + shift[1])
        self.smv = _tube([(smv[0], smv[1], neck[2] - 0.01), (smv[0] - 0.01, smv[1] + 0.01, 1.3 * H)],
                         0.03 * organ)
        self.portal = _tube([(smv[0] + 0.01, smv[1] - 0.01, neck[2] + 0.01),
                             (ax - 0.27, av - 0.2, -0.2 * H)], 0.036 * organ)
        self.sma = _tube([(ax, av - 0.05, 0.3 * H), (ax, av - 0.105, 0.5 * H), (ax + 0.01, av - 0.12, 1.3 * H)],
                         0.02 * organ)
        self.celiac = _tube([(ax, av - 0.05, 0.18 * H), (ax + 0.005, av - 0.12, 0.15 * H)], 0.018 * organ)
        renal_z = u(0.65, 0.95) * H
        self.renal_vein = _tube([(ax + 0.24, av + 0.04, renal_z - 0.01), (ax + 0.02, av - 0.075, renal_z),
                                 (self.ivc[0], self.ivc[1], renal_z + 0.01)], 0.017 * organ)

        # duodenum: bulb, descending part beside the head, horizontal part under it
        d = numpy.array([
            (-0.10, -0.28, 0.30), (-0.25, -0.20, 0.42), (-0.30, -0.09, 0.60), (-0.29, -0.04, 0.88),
            (-0.21, 0.00, 1.05), (-0.05, -0.02, 1.15), (0.08, -0.04, 1.15), (0.14, -0.10, 0.98)])
        d[:, :2] += shift + numpy.array([ax, av])
        d[:, 2] *= H
        self.duodenum = (smooth_path(d, 48), numpy.full(48, 0.046 * organ * u(0.85, 1.15)))
        self.duodenum_content = rng.choice([WALL, FLUID, GAS], p=[0.35, 0.4, 0.25])

        # liver (right lobe hugging the wall, left lobe in front), its veins, gallbladder
        self.liver = (u(0.55, 0.62), u(-0.1, 0.05), u(0.38, 0.46), u(0.8, 0.9), u(0.2, 0.45))
        self.left_lobe = (u(-0.3, -0.15), u(-0.7, -0.6), u(0.3, 0.4), u(0.16, 0.22), u(0.3, 0.8) * H)
        n = rng.integers(6, 12)
        self.liver_veins = numpy.c_[cx - u(0.25, 0.8, n) * a, cy + u(-0.6, 0.5, n) * b,
                                    u(-0.2, 1.0, n) * H, u(0.1, 0.3, n), u(0.008, 0.02, n)]
        self.gallbladder = ((cx - u(0.25, 0.4) * a, cy - u(0.35, 0.55) * b, u(0.05, 0.08), u(0.04, 0.06),
                             u(0.5, 1.0) * H, u(0.1, 0.2)) if u() < 0.8 else None)

        # spleen, stomach, kidneys, colon, small bowel
        self.spleen = (cx + u(0.62, 0.72) * a, cy + u(0.15, 0.35) * b, u(0.2, 0.27) * organ,
                       u(0.09, 0.12) * organ, u(-1.0, -0.7), u(0.4, 0.8) * H)
        self.stomach = (cx + u(0.3, 0.45) * a, cy - u(0.3, 0.45) * b, u(0.2, 0.28), u(0.14, 0.2),
                        u(0.5, 0.9) * H, rng.choice(["gas-fluid", "collapsed", "food"], p=[0.65, 0.25, 0.1]),
                        u(0.0, 0.6))
        self.antrum = (cx + u(-0.1, 0.1) * a, cy - u(0.55, 0.7) * b, u(0.15, 0.25), u(0.055, 0.08),
                       u(0.2, 0.35) * H, u(0.55, 0.8) * H)
        left_z = u(0.3, 0.6) * H
        self.kidneys = [  # (u, v, long, short, angle, z centre, half length)
            (ax + 0.27 + jitter(0.02), av + 0.09 + jitter(0.02), 0.12 * organ, 0.08 * organ,
             -u(0.6, 0.9), left_z, u(0.27, 0.33)),
            (ax - 0.30 + jitter(0.02), av + 0.10 + jitter(0.02), 0.12 * organ, 0.08 * organ,
             u(0.6, 0.9), left_z + u(0.1, 0.35) * H, u(0.27, 0.33))]
        self.colon = [  # (u, v, radius, z from which it shows)
            (cx - u(0.68, 0.78) * a, cy - u(0.1, 0.4) * b, u(0.05, 0.07), u(0.4, 0.9) * H),
            (cx + u(0.75, 0.85) * a, cy + u(-0.1, 0.2) * b, u(0.04, 0.06), u(0.2, 0.6) * H)]
        self.colon_content = [rng.choice([GAS, FECES], p=[0.4, 0.6]) for _ in range(3)]
        zt = u(0.5, 1.4) * H
        self.transverse = _tube([(cx - 0.55 * a, cy - 0.65 * b, zt), (cx, cy - 0.8 * b, zt - 0.05),
                                 (cx + 0.6 * a, cy - 0.6 * b, zt - 0.2)], u(0.04, 0.06))
        self.loops = []
        for _ in range(rng.integers(8, 17)):
            centre = numpy.array([cx + u(-0.25, 0.7) * a, cy + u(-0.8, 0.15) * b, u(0.2, 1.3) * H])
            step = rng.normal(0, 1, 3)
            step *= u(0.06, 0.14) / numpy.linalg.norm(step)
            self.loops.append((_tube([centre - step, centre + step], u(0.03, 0.05)),
                               rng.choice([WALL, FLUID, GAS], p=[0.4, 0.4, 0.2])))
        n = rng.integers(6, 13)
        self.mesenteric = numpy.c_[cx + u(-0.3, 0.6, n) * a, cy + u(-0.8, 0.1, n) * b,
                                   u(0.3, 1.2, n) * H, u(0.2, 0.5, n), u(0.006, 0.012, n)]

        # ribs (cranial slices) and lung bases
        angles = numpy.r_[u(0.1, 0.45, 3), u(0.55, 0.9, 3), -u(0.1, 0.4, 2), -u(0.6, 0.9, 2)] * numpy.pi
        self.ribs = numpy.c_[angles, u(0.2, 1.1, len(angles)) * H]
        self.lungs = u(0.05, 0.3) * H if u() < 0.6 else 0.0

    def labels(self, z, size):
        """The int8 label map (size, size) of the axial slice at height z."""
        base, cavity = self._body_wall(size)
        c = Canvas(size, self.scale, base)
        zf = z / self.height   # 0 at the tail, 1 at the uncinate process

        self._bowel(c, z, cavity)
        self._upper_abdomen(c, z, zf, cavity)
        self._kidneys(c, z)
        self._pancreas_and_vessels(c, z)
        self._spine_and_ribs(c, z, zf)
        return c.labels

    def pancreas_fat(self, rows, cols, z, size):
        """Share of fat (0..1) between the lobules at the pancreas pixels (rows, cols)."""
        if self.fatty <= 0:
            return numpy.zeros(len(rows), numpy.float32)
        coords = pixel_coords(size, self.scale)
        f = _field(self.fat_waves, coords[rows], coords[cols], z)
        return numpy.clip((f - 1.0 + self.fatty) * 1.5, 0, 1).astype(numpy.float32)

    # --- parts of a slice, in painting order: later parts cover earlier ones ---

    def _body_wall(self, size):
        """Skin line, subcutaneous fat, muscle wall and the cavity: the same at every height."""
        if getattr(self, "_wall_size", None) != size:
            cx, cy, A, B = self.body
            _, _, a, b = self.cavity
            c = Canvas(size, self.scale)
            c.paint(c.ellipse(cx, cy, A, B, power=2.4), FAT)
            c.paint(c.ellipse(cx, cy, A - self.fat, B - self.fat, power=2.4), MUSCLE)
            inner = c.ellipse(cx, cy, a, b, power=2.4)
            c.paint(inner, FAT)
            self._wall_size, self._wall = size, (c.labels, c.mask(inner))
        return self._wall

    def _bowel(self, c, z, cavity):
        for tube, content in self.loops:
            _hollow(c, tube, z, content, 0.011, cavity)
        _hollow(c, self.transverse, z, self.colon_content[2], 0.008, cavity)
        for x, y, zc, half, r in self.mesenteric:
            if abs(z - zc) < half:
                c.paint(c.ellipse(x, y, r, r), VEIN, only=[FAT])

    def _upper_abdomen(self, c, z, zf, cavity):
        cx, cy, a, b = self.cavity
        sx, sy, sa, sb, s_end, state, level = self.stomach
        g = _taper(z, 0.0, s_end)
        if g > 0:
            lumen = c.ellipse(sx, sy, sa * g - 0.016, sb * g - 0.016)
            c.paint(c.ellipse(sx, sy, sa * g, sb * g), WALL, where=cavity)
            if state == "gas-fluid":
                c.paint(lumen, FLUID, where=cavity)
                c.paint(_above(c, lumen, sy - sb * g * level), GAS, where=cavity)
            elif state == "food":
                c.paint(lumen, FECES, where=cavity)
            else:
                c.paint(c.ellipse(sx, sy - 0.3 * sb * g, 0.3 * sa * g, 0.15 * sb * g), GAS, where=cavity)
        tx, ty, ta, tb, t0, t1 = self.antrum
        g = _taper(z, t0, t1)
        if g > 0:
            c.paint(c.ellipse(tx, ty, ta * g, tb), WALL, where=cavity)
            c.paint(c.ellipse(tx, ty, ta * g - 0.02, tb - 0.02), FLUID, where=cavity)

        # colon first: where the liver reaches down beside it, the liver covers it
        for (x, y, r, z0), content in zip(self.colon, self.colon_content):
            if z > z0:
                c.paint(c.ellipse(x, y, r, r * 0.9), WALL, where=cavity)
                c.paint(c.ellipse(x, y, r - 0.008, r * 0.9 - 0.008), content, where=cavity)

        lu, lv, la, lb, shrink = self.liver
        k = 1 - shrink * zf
        c.paint(c.ellipse(cx - (lu + 0.12 * zf) * a, cy + lv * b, la * a * k, lb * b * (1 - 0.4 * shrink * zf),
                          power=2.2), LIVER, where=cavity)
        qu, qv, qa, qb, q_end = self.left_lobe
        g = _taper(z, -q_end, q_end)
        c.paint(c.ellipse(cx + qu * a, cy + qv * b, qa * a * g, qb * b * g, angle=-0.15), LIVER, where=cavity)
        for x, y, zc, half, r in self.liver_veins:
            if abs(z - zc) < half:
                c.paint(c.ellipse(x, y, r, r), VEIN, only=[LIVER])
        if self.gallbladder is not None:
            gx, gy, ga, gb, gz, half = self.gallbladder
            g = _taper(z, gz - half, gz + half)
            c.paint(c.ellipse(gx, gy, ga * g, gb * g, angle=0.6), BILE, where=cavity)

        px, py, pa, pb, angle, p_end = self.spleen
        g = _taper(z, -p_end, p_end)
        c.paint(c.ellipse(px, py, pa * g, pb * g, angle=angle), SPLEEN, where=cavity)
        if z < self.lungs:
            g = 1 - z / self.lungs
            for side in (-1, 1):
                c.paint(c.ellipse(cx + side * 0.66 * a, cy + 0.75 * b, 0.2 * a * g, 0.12 * b * g,
                                  angle=side * 0.5), AIR, where=cavity)

    def _kidneys(self, c, z):
        for x, y, long, short, angle, zc, half in self.kidneys:
            g = _taper(z, zc - half, zc + half)
            if g <= 0:
                continue
            c.paint(c.ellipse(x, y, long * g, short * g, angle=angle), CORTEX)
            c.paint(c.ellipse(x, y, long * g * 0.68, short * g * 0.6, angle=angle), MEDULLA)
            if g > 0.6:   # the hilum faces forwards and inwards
                inward = -numpy.sign(x - self.aorta[0])
                hx, hy = x + inward * 0.45 * short, y - 0.35 * short
                c.paint(c.ellipse(hx, hy, 0.5 * short, 0.35 * short, angle=angle), FAT)
                c.paint(c.ellipse(hx, hy, 0.25 * short, 0.18 * short, angle=angle), URINE)

    def _pancreas_and_vessels(self, c, z):
        ax, av, r_ao = self.aorta
        field = lambda V, U: self.lobulation * _field(self.lobule_waves, V, U, z)  # noqa: E731
        radius = numpy.maximum(self.pancreas_radius, 1.4 * c.pixel)
        c.paint(c.tube(self.pancreas, radius, z, field=field), PANCREAS)
        c.paint(_cut(c, self.splenic_vein, z), VEIN)
        path, r = self.duodenum
        _hollow(c, (path, r), z, self.duodenum_content, 0.012)
        c.paint(_cut(c, self.smv, z), VEIN)
        c.paint(_cut(c, self.portal, z), VEIN)
        c.paint(_cut(c, self.sma, z, scale=2.2), FAT)   # the fat collar of the SMA
        c.paint(_cut(c, self.sma, z), ARTERY)
        c.paint(_cut(c, self.celiac, z), ARTERY)
        c.paint(_cut(c, self.renal_vein, z), VEIN)
        if z < self.crura_end:
            for side in (-1, 1):
                c.paint(c.ellipse(ax + side * (r_ao + 0.012), av + 0.01, 0.016, r_ao + 0.02), MUSCLE)
        c.paint(c.ellipse(ax, av, r_ao, r_ao), ARTERY)
        ix, iy, ia, ib = self.ivc
        c.paint(c.ellipse(ix, iy, ia, ib, angle=0.3), VEIN)

    def _spine_and_ribs(self, c, z, zf):
        cx, cy, A, B = self.body
        vx, vb, va, vr = self.vertebra
        kx, ky, kr = self.canal
        ps0, ps1 = self.psoas
        r = ps0 + (ps1 - ps0) * min(max(zf, 0), 1)
        for side in (-1, 1):
            c.paint(c.ellipse(vx + side * (va + 0.6 * r), vb - 0.01, r, 1.15 * r), MUSCLE)
            c.paint(c.ellipse(vx + side * 0.125, ky + 0.06, 0.11, 0.085, angle=side * 0.2), MUSCLE)
            c.paint(c.ellipse(vx + side * 0.085, ky + 0.005, 0.045, 0.018, angle=side * 0.35), BONE)
        c.paint(c.ellipse(vx, ky + 0.1, 0.018, 0.06), BONE)                     # spinous process
        c.paint(c.ellipse(vx, ky, kr + 0.028, kr + 0.028), BONE)               # pedicles and laminae
        c.paint(c.ellipse(vx, ky, kr, kr), CSF)
        c.paint(c.ellipse(vx, vb, va, vr, power=2.6), BONE)
        c.paint(c.ellipse(vx, vb, va - 0.012, vr - 0.012, power=2.6), MARROW)
        ra, rb = A - self.fat - 0.5 * self.muscle, B - self.fat - 0.5 * self.muscle
        for angle, z_end in self.ribs:
            if z < z_end:
                x, y = cx + ra * numpy.cos(angle), cy + rb * numpy.sin(angle)
                tangent = angle + numpy.pi / 2
                c.paint(c.ellipse(x, y, 0.035, 0.016, angle=tangent), BONE)
                c.paint(c.ellipse(x, y, 0.022, 0.007, angle=tangent), MARROW)


def _tube(knots, radius, n=24):
    path = smooth_path(knots, n)
    return path, numpy.full(n, radius)


def _cut(c, tube, z, scale=1.0):
    path, radius = tube
    return c.tube(path, radius, z, scale=scale)


def _hollow(c, tube, z, content, wall, where=None):
    """A bowel loop: an enhancing wall, then its content (WALL itself when collapsed)."""
    path, radius = tube
    c.paint(c.tube(path, radius, z), WALL, where=where)
    if content != WALL:
        c.paint(c.tube(path, numpy.maximum(radius - wall, 0.3 * radius), z), content, where=where)


def _above(c, shape, v_level):
    """The part of ``shape`` above the row v_level (gas floats up in a supine patient)."""
    if shape is None:
        return None
    box, inside = shape
    rows = c.coords[box[0]][:, None]
    return box, inside & (rows < v_level)


def _taper(z, z0, z1):
    """Cross-section scale of an ellipsoid spanning heights z0..z1 (0 outside)."""
    if z1 <= z0:
        return 0.0
    t = (2 * z - z0 - z1) / (z1 - z0)
    return float(numpy.sqrt(max(1 - t * t, 0.0)))


def _waves(rng, n, shortest, longest):
    """n random plane waves in (u, v, z): wave vectors and phases of a smooth noise field."""
    lengths = rng.uniform(shortest, longest, n)
    directions = rng.normal(0, 1, (n, 3))
    directions /= numpy.linalg.norm(directions, axis=1, keepdims=True)
    return directions * (_TAU / lengths)[:, None], rng.uniform(0, _TAU, n)


def _field(waves, V, U, z):
    """A smooth random field of unit standard deviation: a sum of plane waves."""
    k, phase = waves
    total = 0.0
    for (ku, kv, kz), p in zip(k, phase):
        total = total + numpy.sin(ku * U + kv * V + (kz * z + p))
    return (total * numpy.sqrt(2.0 / len(phase))).astype(numpy.float32)
