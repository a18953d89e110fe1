"""tinyunet.data.window: Hounsfield units to 8-bit, round(clip((hu - (level - width / 2)) / width, 0, 1) * 255)."""

import numpy
import pytest

import tinyunet.data
from tinyunet.data import window


def reference(hu, level, width):
    return round(min(max((hu - (level - width / 2)) / width, 0.0), 1.0) * 255)


def test_the_abdomen_window_by_hand():
    # -160 HU and below black, 240 HU and above white, each level 400 / 255 = 1.57 HU wide
    assert window([-1000, -160, 40, 240, 1000]).tolist() == [0, 0, 128, 255, 255]
    assert window(-160 + 400 / 255).tolist() == 1 and window(240 - 400 / 255).tolist() == 254
    assert window(numpy.zeros((2, 3))).dtype == numpy.uint8 and window(numpy.zeros((2, 3))).shape == (2, 3)


@pytest.mark.parametrize("level, width", [(40, 400), (50, 350), (-600, 1500), (400, 1800)])
def test_matches_the_formula_everywhere(level, width):
    hu = numpy.linspace(-1100, 1500, 2603)
    assert window(hu, level, width).tolist() == [reference(h, level, width) for h in hu]


def test_is_exported_and_refuses_a_bad_width():
    assert tinyunet.data.window is window
    with pytest.raises(ValueError, match="width must be positive"):
        window(0, 40, 0)
