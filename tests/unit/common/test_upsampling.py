"""The upsampling family on made-up crops: a face region shrunk and enlarged again (nearest
or bilinear, 2x or 4x), pasted into its own crop, moves the measures with a known sign; the
same crop unpasted, or enlarged as a whole (the video, not the face), does not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _media import noise_crop, paste_inside

from common.faces import face_mask
from common.features.upsampling import COLUMNS, LENGTH, upsampling_features
from common.types import Box

S = 128
COL = {name: i for i, name in enumerate(COLUMNS)}
NEAREST, BILINEAR = cv2.INTER_NEAREST, cv2.INTER_LINEAR


def enlarged(crop: np.ndarray, interpolation: int, factor: int = 2) -> np.ndarray:
    """The crop rendered at 1/factor of its size and enlarged back, as a swap's face is."""
    small = cv2.resize(crop, (S // factor, S // factor), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (S, S), interpolation=interpolation)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_paste_peaks_at_half_the_sampling_rate(seed: int, mask: np.ndarray) -> None:
    crop = noise_crop(seed)
    before = upsampling_features(crop, mask)
    after = upsampling_features(paste_inside(crop, enlarged(crop, NEAREST), mask), mask)
    # Every other first difference inside is 0: their profile peaks at N/2.
    assert before[COL["nyq_d1_diff"]] < 1.5 < 3.5 < after[COL["nyq_d1_diff"]]
    assert after[COL["top_notch_diff"]] > before[COL["top_notch_diff"]] + 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bilinear_paste_peaks_and_loses_its_spectral_tail(seed: int, mask: np.ndarray) -> None:
    crop = noise_crop(seed)
    before = upsampling_features(crop, mask)
    after = upsampling_features(paste_inside(crop, enlarged(crop, BILINEAR), mask), mask)
    assert after[COL["nyq_d1_diff"]] > 2.5
    assert after[COL["nyq_d2_diff"]] < before[COL["nyq_d2_diff"]] - 0.5
    assert abs(before[COL["high_mid_diff"]]) < 0.2 and after[COL["high_mid_diff"]] < -1.0
    assert after[COL["tail_slope_diff"]] < before[COL["tail_slope_diff"]] - 2.0


@pytest.mark.parametrize("interpolation", [NEAREST, BILINEAR])
def test_fourfold_paste_peaks_at_a_quarter(interpolation: int, mask: np.ndarray) -> None:
    crop = noise_crop(0)
    before = upsampling_features(crop, mask)
    after = upsampling_features(paste_inside(crop, enlarged(crop, interpolation, 4), mask), mask)
    assert before[COL["quarter_d2_diff"]] < 0.5 and after[COL["quarter_d2_diff"]] > 2.0
    assert after[COL["quarter_d1_diff"]] > before[COL["quarter_d1_diff"]] + 0.8


@pytest.mark.parametrize("interpolation", [NEAREST, BILINEAR])
def test_a_real_face_enlarged_and_pasted(
    interpolation: int, face: np.ndarray, mask: np.ndarray
) -> None:
    before = upsampling_features(face, mask)
    after = upsampling_features(paste_inside(face, enlarged(face, interpolation), mask), mask)
    assert after[COL["nyq_d1_diff"]] > before[COL["nyq_d1_diff"]] + 1.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_whole_enlarged_crop_cancels(seed: int, mask: np.ndarray) -> None:
    """Each video is its own reference: a video enlarged as a whole has the traces inside
    and outside alike, and moves the N/2 measure far less than a pasted face does."""
    crop = noise_crop(seed)
    for interpolation in (NEAREST, BILINEAR):
        whole = upsampling_features(enlarged(crop, interpolation), mask)
        assert abs(whole[COL["nyq_d1_diff"]]) < 1.0
        assert abs(whole[COL["high_mid_diff"]]) < 0.3


def test_constant_and_degenerate_inputs_give_finite_vectors(mask: np.ndarray) -> None:
    flat = np.full((S, S, 3), 77, np.uint8)
    assert not upsampling_features(flat, mask).any()  # no spectrum anywhere: every column 0
    tiny = face_mask(S, Box(60, 60, 6, 6), None)
    full = np.ones((S, S), np.float32)
    for m in (tiny, full, np.zeros((S, S), np.float32)):
        v = upsampling_features(noise_crop(0), m)
        assert v.shape == (LENGTH,) and np.isfinite(v).all()
        assert not v.any()  # no whole patch inside, or none around: nothing to compare
    for size in (12, 100, 160):  # crops of other sizes, some not a multiple of the grid
        m = face_mask(size, Box(size // 5, size // 5, 3 * size // 5, 3 * size // 5), None)
        crop = cv2.resize(noise_crop(1), (size, size))
        v = upsampling_features(crop, m)
        assert v.shape == (LENGTH,) and np.isfinite(v).all()


def test_wrong_inputs_raise(mask: np.ndarray) -> None:
    with pytest.raises(ValueError):
        upsampling_features(noise_crop(0).astype(np.float32), mask)
    with pytest.raises(ValueError):
        upsampling_features(noise_crop(0), mask[: S // 2])
