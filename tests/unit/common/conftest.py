"""Made-up inputs shared by the feature-family tests: the astronaut photo's face (scikit-image,
through tests/_media.py) as a 128-px crop, and that crop's inner-face mask. No research data."""

from __future__ import annotations

import numpy as np
import pytest
from _media import astronaut_bgr

from common.faces import crop_square, face_mask
from common.types import Box

CROP_SIZE = 128
PHOTO_FACE = Box(178, 66, 94, 94)  # the astronaut's face in the photo
CROP_FACE = Box(24, 24, 80, 80)  # the face box inside the crop (a 1.6 margin gives 80 of 128)


@pytest.fixture(scope="module")
def mask() -> np.ndarray:
    return face_mask(CROP_SIZE, CROP_FACE, None)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    crop, _ = crop_square(astronaut_bgr(), PHOTO_FACE, CROP_SIZE)
    return crop
