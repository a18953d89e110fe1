"""The axial section of a Subject at height z: its organs painted onto a label Canvas.

Parts are painted in this order, later ones covering earlier ones: bowel, upper
abdomen (stomach, colon, liver, spleen, lung bases), kidneys, pancreas and the
vessels around it, spine and ribs.  The body wall below them all is the
Subject's own (it is the same at every height).
"""

import numpy

from .raster import Tube, wave_field
from .tissues import (AIR, ARTERY, BILE, BONE, CORTEX, CSF, FAT, FECES, FLUID, GAS, LIVER, MARROW,
                      MEDULLA, MUSCLE, PANCREAS, SPLEEN, URINE, VEIN, WALL)


def paint_section(c, subject, z, in_cavity):
    """Paint ``subject``'s organs at height z onto the Canvas ``c``.

    ``in_cavity`` (bool, size x size) is the abdominal cavity: the peritoneal organs stay inside it.
    """
    zf = z / subject.height   # 0 at the tail, 1 at the uncinate process
    _bowel(c, subject, z, in_cavity)
    _upper_abdomen(c, subject, z, zf, in_cavity)
    _kidneys(c, subject, z)
    _pancreas_and_vessels(c, subject, z)
    _spine_and_ribs(c, subject, z, zf)


def _bowel(c, subject, z, in_cavity):
    for tube, content in subject.loops:
        _hollow(c, tube, z, content, 0.011, in_cavity)
    _hollow(c, subject.transverse, z, subject.colon_content[2], 0.008, in_cavity)
    _paint_vessels(c, subject.mesenteric, z, only=[FAT])


def _upper_abdomen(c, subject, z, zf, in_cavity):
    _stomach(c, subject, z, in_cavity)
    # colon first: where the liver reaches down beside it, the liver covers it
    for colon, content in zip(subject.colon, subject.colon_content):
        if z > colon.z0:
            c.paint(c.ellipse(colon.u, colon.v, colon.r, colon.r * 0.9), WALL, where=in_cavity)
            c.paint(c.ellipse(colon.u, colon.v, colon.r - 0.008, colon.r * 0.9 - 0.008), content, where=in_cavity)
    _liver(c, subject, z, zf, in_cavity)
    spleen = subject.spleen
    g = spleen.taper(z)
    c.paint(c.ellipse(spleen.u, spleen.v, spleen.a * g, spleen.b * g, angle=spleen.angle), SPLEEN, where=in_cavity)
    if 0 < subject.lungs and z < subject.lungs:   # full size above the pancreatic tail (z < 0)
        g = min(1 - z / subject.lungs, 1)
        cx, cy, a, b = subject.cavity
        for side in (-1, 1):
            c.paint(c.ellipse(cx + side * 0.66 * a, cy + 0.75 * b, 0.2 * a * g, 0.12 * b * g, angle=side * 0.5),
                    AIR, where=in_cavity)


def _stomach(c, subject, z, in_cavity):
    """The stomach (gas over fluid, collapsed around a bubble, or full of food), then the antrum."""
    s = subject.stomach
    g = s.taper(z)
    if g > 0:
        lumen = c.ellipse(s.u, s.v, s.a * g - 0.016, s.b * g - 0.016)
        c.paint(c.ellipse(s.u, s.v, s.a * g, s.b * g), WALL, where=in_cavity)
        if subject.stomach_state == "gas-fluid":
            c.paint(lumen, FLUID, where=in_cavity)
            c.paint(_above(c, lumen, s.v - s.b * g * subject.air_fluid_level), GAS, where=in_cavity)
        elif subject.stomach_state == "food":
            c.paint(lumen, FECES, where=in_cavity)
        else:
            c.paint(c.ellipse(s.u, s.v - 0.3 * s.b * g, 0.3 * s.a * g, 0.15 * s.b * g), GAS, where=in_cavity)
    t = subject.antrum
    g = t.taper(z)
    if g > 0:
        c.paint(c.ellipse(t.u, t.v, t.a * g, t.b), WALL, where=in_cavity)
        c.paint(c.ellipse(t.u, t.v, t.a * g - 0.02, t.b - 0.02), FLUID, where=in_cavity)


def _liver(c, subject, z, zf, in_cavity):
    """Right lobe (narrowing and moving out as z goes down), left lobe, hepatic veins, gallbladder."""
    cx, cy, a, b = subject.cavity
    lv, shrink = subject.liver, subject.liver_shrink
    k = max(1 - shrink * zf, 0.3)   # the floor only binds far below the pancreas (zf > 1.5)
    c.paint(c.ellipse(cx - (lv.u + 0.12 * zf) * a, cy + lv.v * b, lv.a * a * k, lv.b * b * (1 - 0.4 * shrink * zf),
                      power=2.2), LIVER, where=in_cavity)
    q = subject.left_lobe
    g = q.taper(z)
    c.paint(c.ellipse(cx + q.u * a, cy + q.v * b, q.a * a * g, q.b * b * g, angle=q.angle), LIVER, where=in_cavity)
    _paint_vessels(c, subject.liver_veins, z, only=[LIVER])
    if subject.gallbladder is not None:
        gb = subject.gallbladder
        g = gb.taper(z)
        c.paint(c.ellipse(gb.u, gb.v, gb.a * g, gb.b * g, angle=gb.angle), BILE, where=in_cavity)


def _kidneys(c, subject, z):
    for kidney in subject.kidneys:
        g = kidney.taper(z)
        if g <= 0:
            continue
        x, y, angle, short = kidney.u, kidney.v, kidney.angle, kidney.b
        c.paint(c.ellipse(x, y, kidney.a * g, short * g, angle=angle), CORTEX)
        c.paint(c.ellipse(x, y, kidney.a * g * 0.68, short * g * 0.6, angle=angle), MEDULLA)
        if g > 0.6:   # the hilum faces forwards and inwards
            inward = -numpy.sign(x - subject.aorta.u)
            hx, hy = x + inward * 0.45 * short, y - 0.35 * short
            c.paint(c.ellipse(hx, hy, 0.5 * short, 0.35 * short, angle=angle), FAT)
            c.paint(c.ellipse(hx, hy, 0.25 * short, 0.18 * short, angle=angle), URINE)


def _pancreas_and_vessels(c, subject, z):
    aorta = subject.aorta
    field = lambda V, U: subject.lobulation * wave_field(subject.lobule_waves, V, U, z)  # noqa: E731
    radius = numpy.maximum(subject.pancreas_radius, 1.4 * c.pixel)
    c.paint(c.tube(Tube(subject.pancreas, radius), z, field=field), PANCREAS)
    c.paint(c.tube(subject.splenic_vein, z), VEIN)
    _hollow(c, subject.duodenum, z, subject.duodenum_content, 0.012)
    c.paint(c.tube(subject.smv, z), VEIN)
    c.paint(c.tube(subject.portal, z), VEIN)
    c.paint(c.tube(subject.sma, z, scale=2.2), FAT)   # the fat collar of the SMA
    c.paint(c.tube(subject.sma, z), ARTERY)
    c.paint(c.tube(subject.celiac, z), ARTERY)
    c.paint(c.tube(subject.renal_vein, z), VEIN)
    if z < subject.crura_end:
        for side in (-1, 1):
            c.paint(c.ellipse(aorta.u + side * (aorta.r + 0.012), aorta.v + 0.01, 0.016, aorta.r + 0.02), MUSCLE)
    c.paint(c.ellipse(aorta.u, aorta.v, aorta.r, aorta.r), ARTERY)
    ivc = subject.ivc
    c.paint(c.ellipse(ivc.u, ivc.v, ivc.a, ivc.b, angle=0.3), VEIN)


def _spine_and_ribs(c, subject, z, zf):
    vx, vb, va, vr = subject.vertebra
    ky, kr = subject.canal.v, subject.canal.r
    r = subject.psoas_cranial + (subject.psoas_caudal - subject.psoas_cranial) * min(max(zf, 0), 1)
    for side in (-1, 1):
        c.paint(c.ellipse(vx + side * (va + 0.6 * r), vb - 0.01, r, 1.15 * r), MUSCLE)
        c.paint(c.ellipse(vx + side * 0.125, ky + 0.06, 0.11, 0.085, angle=side * 0.2), MUSCLE)
        c.paint(c.ellipse(vx + side * 0.085, ky + 0.005, 0.045, 0.018, angle=side * 0.35), BONE)
    c.paint(c.ellipse(vx, ky + 0.1, 0.018, 0.06), BONE)                     # spinous process
    c.paint(c.ellipse(vx, ky, kr + 0.028, kr + 0.028), BONE)               # pedicles and laminae
    c.paint(c.ellipse(vx, ky, kr, kr), CSF)
    c.paint(c.ellipse(vx, vb, va, vr, power=2.6), BONE)
    c.paint(c.ellipse(vx, vb, va - 0.012, vr - 0.012, power=2.6), MARROW)
    body = subject.body
    ra, rb = body.a - subject.fat - 0.5 * subject.muscle, body.b - subject.fat - 0.5 * subject.muscle
    for angle, z_end in subject.ribs:
        if z < z_end:
            x, y = body.u + ra * numpy.cos(angle), body.v + rb * numpy.sin(angle)
            tangent = angle + numpy.pi / 2
            c.paint(c.ellipse(x, y, 0.035, 0.016, angle=tangent), BONE)
            c.paint(c.ellipse(x, y, 0.022, 0.007, angle=tangent), MARROW)


def _paint_vessels(c, vessels, z, only):
    """Paint VEIN where each Vessel crosses height z, over the labels ``only`` alone."""
    for vessel in vessels:
        if abs(z - vessel.z) < vessel.half:
            c.paint(c.ellipse(vessel.u, vessel.v, vessel.r, vessel.r), VEIN, only=only)


def _hollow(c, tube, z, content, wall, where=None):
    """A bowel loop: an enhancing wall, then its content (WALL itself when collapsed)."""
    c.paint(c.tube(tube, z), WALL, where=where)
    if content != WALL:
        lumen = Tube(tube.path, numpy.maximum(tube.radius - wall, 0.3 * tube.radius))
        c.paint(c.tube(lumen, z), content, where=where)


def _above(c, shape, v_level):
    """The part of ``shape`` above the row v_level (gas floats up in a supine patient)."""
    if shape is None:
        return None
    box, inside = shape
    rows = c.coords[box[0]][:, None]
    return box, inside & (rows < v_level)
