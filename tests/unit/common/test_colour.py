"""The colour family on made-up crops: a paste with a colour cast, boosted saturation or
clipping that its surround lacks moves the measures with a known sign; the same texture
unpasted, or the whole crop changed alike, does not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _media import noise_crop, paste_inside

from common.faces import face_mask
from common.features.colour import COLUMNS, LENGTH, colour_features
from common.types import Box

S = 128
COL = {name: i for i, name in enumerate(COLUMNS)}


def red_cast(crop: np.ndarray) -> np.ndarray:
    return np.clip(crop.astype(np.int16) + np.array([0, 0, 25]), 0, 255).astype(np.uint8)


def saturated(crop: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.8 + 30, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


@pytest.mark.parametrize("seed", [0, 1])
def test_colour_cast_paste_shifts_the_means(seed: int, mask: np.ndarray) -> None:
    crop = noise_crop(seed)
    before = colour_features(crop, mask)
    after = colour_features(paste_inside(crop, red_cast(crop), mask), mask)
    # More red inside: a (green-red) and L rise against the ring; the same cast over the
    # whole crop is the camera's white balance and cancels.
    assert after[COL["a_mean_diff"]] > before[COL["a_mean_diff"]] + 0.025
    assert after[COL["L_mean_diff"]] > before[COL["L_mean_diff"]] + 0.01
    whole = colour_features(red_cast(crop), mask)
    np.testing.assert_allclose(whole[:3], before[:3], atol=0.005)


def test_colour_cast_on_a_real_face(face: np.ndarray, mask: np.ndarray) -> None:
    crop = face
    before = colour_features(crop, mask)
    after = colour_features(paste_inside(crop, red_cast(crop), mask), mask)
    assert after[COL["a_mean_diff"]] > before[COL["a_mean_diff"]] + 0.025
    assert abs(after[COL["hue_shift"]] - before[COL["hue_shift"]]) > 0.1


@pytest.mark.parametrize("seed", [0, 1])
def test_saturated_paste_raises_saturation_and_chroma_spread(seed: int, mask: np.ndarray) -> None:
    crop = noise_crop(seed)
    v = colour_features(paste_inside(crop, saturated(crop), mask), mask)
    assert v[COL["sat_mean_diff"]] > 0.1 and v[COL["sat_std_ratio"]] > 0.3
    assert v[COL["a_std_ratio"]] > 0.3 and v[COL["b_std_ratio"]] > 0.3


def test_clipping_inside_and_outside(mask: np.ndarray) -> None:
    """McCloskey & Albright's cue: a camera frame clips its highlights and crushes its
    shadows; a rendered face kept within [16, 235] does neither."""
    for mean, column in ((235, "clipped_frac_diff"), (20, "dark_frac_diff")):
        frame = np.repeat(noise_crop(3, mean=mean, std=25)[..., :1], 3, axis=2)  # grey
        rendered = np.clip(frame, 16, 235)
        assert colour_features(frame, mask)[COL[column]] == pytest.approx(0, abs=0.05)
        unclipped_face = colour_features(paste_inside(frame, rendered, mask), mask)
        assert unclipped_face[COL[column]] < -0.1, column
        # And the other way round: a face that clips inside a frame that does not.
        overexposed = paste_inside(rendered, frame, mask)
        assert colour_features(overexposed, mask)[COL[column]] > 0.1, column


def test_constant_and_degenerate_masks_give_finite_vectors(mask: np.ndarray) -> None:
    flat = np.full((S, S, 3), 77, np.uint8)
    assert not colour_features(flat, mask).any()  # nothing differs: every column 0
    tiny = face_mask(S, Box(60, 60, 6, 6), None)
    full = np.ones((S, S), np.float32)
    for m in (tiny, full, np.zeros((S, S), np.float32)):
        v = colour_features(noise_crop(0), m)
        assert v.shape == (LENGTH,) and np.isfinite(v).all()
    assert not colour_features(noise_crop(0), full).any()  # no ring to compare with


def test_wrong_inputs_raise(mask: np.ndarray) -> None:
    with pytest.raises(ValueError):
        colour_features(noise_crop(0).astype(np.float32), mask)
    with pytest.raises(ValueError):
        colour_features(noise_crop(0), mask[: S // 2])
