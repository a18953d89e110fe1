"""The organs ``make_phantom`` can segment: their labels, where a subject shows them, their masks.

    organ       labels (tissues.py)     heights z of a subject's slices
    pancreas    PANCREAS                0 (tail) .. height (uncinate process)
    liver       LIVER                   top of the left lobe .. the pancreas's caudal end
    spleen      SPLEEN                  its upper pole .. its lower pole
    kidneys     CORTEX, MEDULLA         upper pole of the higher kidney .. lower pole of the lower one

The liver's right lobe is drawn at every height, so its stretch is the part of
the abdomen the anatomy models around the pancreas.  A kidney's mask is its
parenchyma, cortex and medulla; the renal sinus (fat and urine at the hilum)
is left out.  Heights outside the pancreas's own 0 .. height continue the same
anatomy (the stomach, for one, begins at the pancreatic tail's height).

Every pixel of a label map carries one label, so the organs' masks never
overlap: a one-hot map built from them sums to exactly 1 at every pixel.
"""

import numpy

from .tissues import CORTEX, LIVER, MEDULLA, PANCREAS, SPLEEN

ORGANS = {"pancreas": (PANCREAS,), "liver": (LIVER,), "spleen": (SPLEEN,), "kidneys": (CORTEX, MEDULLA)}


def organ_tuple(organ):
    """``organ`` as a tuple of known organ names: a name gives a 1-tuple, a tuple or list is kept in order."""
    names = (organ,) if isinstance(organ, str) else organ
    if not isinstance(names, (tuple, list)) or not names:
        raise ValueError(f"make_phantom: organ must be one of {', '.join(ORGANS)} or a tuple of them, "
                         f"got {organ!r}")
    for name in names:
        if name not in ORGANS:
            raise ValueError(f"make_phantom: unknown organ {name!r}; choose from {', '.join(ORGANS)} "
                             f"(or a tuple of them)")
    if len(set(names)) != len(names):
        raise ValueError(f"make_phantom: organ {organ!r} names an organ twice")
    return tuple(names)


def class_names(organs):
    """The mask channels' names: (organ,) for one organ, ("background", *organs) for several."""
    return tuple(organs) if len(organs) == 1 else ("background", *organs)


def extent(subject, organs):
    """(z0, z1): the heights of ``subject`` from the first of ``organs`` to appear to the last to vanish."""
    spans = []
    for name in organs:
        if name == "pancreas":
            spans.append((0.0, subject.height))
        elif name == "liver":
            spans.append((subject.left_lobe.z0, subject.height))
        elif name == "spleen":
            spans.append((subject.spleen.z0, subject.spleen.z1))
        else:
            spans.append((min(k.z0 for k in subject.kidneys), max(k.z1 for k in subject.kidneys)))
    return min(z0 for z0, _ in spans), max(z1 for _, z1 in spans)


def class_map(labels, organs):
    """uint8 map of the label map ``labels``: 0 background, k where it shows the k-th of ``organs``."""
    classes = numpy.zeros(labels.shape, numpy.uint8)
    for k, name in enumerate(organs, start=1):
        classes[numpy.isin(labels, ORGANS[name])] = k
    return classes


def masks_from_classes(classes, channels):
    """float32 masks of a class map (N, H, W): (N, H, W, 1) for one organ, one-hot (N, H, W, K) for more.

    With several organs K = 1 + organs and channel 0 is the background.
    """
    if channels == 1:
        return (classes == 1).astype(numpy.float32)[..., None]
    return (classes[..., None] == numpy.arange(channels, dtype=numpy.uint8)).astype(numpy.float32)
