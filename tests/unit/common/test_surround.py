"""The face-vs-surround family on made-up crops: a paste that differs from its surround in
blur or noise moves the measures with a known sign; the same texture unpasted does not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _media import noise_crop, paste_inside

from common.features.surround import COLUMNS, surround_features

S = 128
COL = {name: i for i, name in enumerate(COLUMNS)}
RATIOS = (
    "band0_ratio",
    "band1_ratio",
    "srm_h_ratio",
    "srm_v_ratio",
    "srm_kb_ratio",
    "srm_kv_ratio",
)


@pytest.mark.parametrize("seed", [0, 1])
def test_blurred_paste_has_less_fine_detail_inside(seed: int, mask: np.ndarray) -> None:
    crop = noise_crop(seed)
    v = surround_features(paste_inside(crop, cv2.GaussianBlur(crop, (0, 0), 1.5), mask), mask)
    for name in RATIOS:
        assert v[COL[name]] < -0.5, name
    # The finest band loses most: the spectrum inside tilts towards low frequencies.
    assert v[COL["slope01_diff"]] < -0.3


@pytest.mark.parametrize("seed", [0, 1])
def test_noisier_paste_has_more_residual_inside(seed: int, mask: np.ndarray) -> None:
    crop = noise_crop(seed)
    noise = np.random.default_rng(99).normal(0, 12, crop.shape)
    v = surround_features(paste_inside(crop, np.clip(crop + noise, 0, 255), mask), mask)
    for name in ("band0_ratio", "srm_kb_ratio", "srm_kv_ratio"):
        assert v[COL[name]] > 0.3, name


def test_upsampled_paste_of_a_real_face(face: np.ndarray, mask: np.ndarray) -> None:
    """A face rendered at 48 px and resized up, pasted into its own crop: as a swap is."""
    crop = face
    small = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
    fake = paste_inside(crop, cv2.resize(small, (S, S), interpolation=cv2.INTER_LINEAR), mask)
    real_v, fake_v = surround_features(crop, mask), surround_features(fake, mask)
    assert fake_v[COL["band0_ratio"]] < real_v[COL["band0_ratio"]] - 0.5
    assert fake_v[COL["srm_kv_ratio"]] < real_v[COL["srm_kv_ratio"]] - 0.5


def test_chroma_detail_of_a_paste(mask: np.ndarray) -> None:
    """Chroma noise added inside a grey texture raises the chroma ratios and chroma against
    luma."""
    crop = cv2.cvtColor(cv2.cvtColor(noise_crop(3), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    ycc[..., 1:] += np.random.default_rng(5).normal(0, 6, (S, S, 2))
    noisy = cv2.cvtColor(np.clip(ycc, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)
    v = surround_features(paste_inside(crop, noisy, mask), mask)
    assert v[COL["cr_hp_ratio"]] > 0.3 and v[COL["cb_hp_ratio"]] > 0.3
    assert v[COL["chroma_luma_diff"]] > 0.2


def test_no_ring_gives_zeros() -> None:
    full = np.ones((S, S), np.float32)  # the mask covers the crop: no surround to compare
    assert not surround_features(noise_crop(0), full).any()


def test_wrong_inputs_raise(mask: np.ndarray) -> None:
    with pytest.raises(ValueError):
        surround_features(noise_crop(0).astype(np.float32), mask)
    with pytest.raises(ValueError):
        surround_features(noise_crop(0), mask[: S // 2])
