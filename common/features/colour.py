"""Colour family: colour statistics of the inner face against the ring just outside it.

A swapped face is rendered by a generator and colour-matched to its target only roughly (a
mean shift, sometimes a histogram match), so its colour statistics and its clipping differ
from the skin and background around the paste in ways a real face, lit by the same light
and recorded by the same camera, does not show. Each column compares the inner face (the
mask eroded past the blend band) with the outer ring (dilated past it) of the same crop, as
a difference of means or a log ratio of spreads: each video is its own reference, so the
camera's white balance, exposure and codec cancel to first order.

- Lab means and spreads: colour-statistics mismatch of spliced faces (Reinhard et al.,
  "Color transfer between images", IEEE CG&A 2001, is what face-swap tools use to match
  colour, and it matches means and spreads only approximately; Li et al., "Face X-ray for
  more general face forgery detection", CVPR 2020, blend-boundary colour cues).
- Hue and saturation, and the fractions of clipped (saturated) and under-exposed pixels:
  McCloskey & Albright, "Detecting GAN-generated imagery using saturation cues", ICIP 2019:
  a generator's normalised output rarely reaches the sensor's clipping levels, and its
  saturation statistics differ from a camera's.

Columns (``COLUMNS``), 8-bit Lab and HSV scaled to [0, 1]:

- ``L_mean_diff``, ``a_mean_diff``, ``b_mean_diff``: mean inside minus mean outside;
- ``L_std_ratio``, ``a_std_ratio``, ``b_std_ratio``: log(std inside / std outside);
- ``hue_shift``: the signed angle (radians) from the ring's mean chroma vector (a, b) to the
  face's, shrunk towards 0 where both are nearly grey (where hue is undefined);
- ``sat_mean_diff``, ``sat_std_ratio``: HSV saturation, difference of means and log ratio
  of spreads;
- ``clipped_frac_diff``: fraction of pixels with a channel at >= 250 (V >= 250) inside
  minus outside; ``dark_frac_diff``: fraction with every channel <= 5 (V <= 5) likewise.

Cost per 128-px crop (``research.features_speed``, one thread, shared machine at load 4-6):
0.56 ms alone, +0.39 ms within ``frame_vector`` (docs/speed.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from common.features.regions import check_inputs, lab8, regions

COLUMNS = (
    "L_mean_diff",
    "a_mean_diff",
    "b_mean_diff",
    "L_std_ratio",
    "a_std_ratio",
    "b_std_ratio",
    "hue_shift",
    "sat_mean_diff",
    "sat_std_ratio",
    "clipped_frac_diff",
    "dark_frac_diff",
)
LENGTH = len(COLUMNS)
CLIPPED, DARK = 250, 5  # 8-bit levels counted as clipped and under-exposed
# A spread below a quantization step is no spread: the floor keeps flat regions' ratios at 0.
STD_FLOOR = 1.0 / 255
# Chroma products |u||v| (squared 8-bit Lab units) well below this count as grey: the hue
# angle is shrunk by |u||v| / (|u||v| + GREY) (skin, about 20 x 20, keeps 94% of it).
GREY = 25.0


def _stats(img: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of a 3-channel uint8 image over a region."""
    mean, std = cv2.meanStdDev(img, mask=where)
    return mean.ravel(), std.ravel()


def _log_std_ratio(inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    return np.log((inside + STD_FLOOR) / (outside + STD_FLOOR))


def _hue_shift(ab_in: np.ndarray, ab_out: np.ndarray) -> float:
    """Signed angle from the outer mean chroma to the inner one, in 8-bit Lab units (a, b
    centred on 128), times |u||v| / (|u||v| + GREY): towards 0 when both are nearly grey."""
    cross = ab_out[0] * ab_in[1] - ab_out[1] * ab_in[0]
    dot = ab_out[0] * ab_in[0] + ab_out[1] * ab_in[1]
    scale = np.hypot(cross, dot)
    return float(np.arctan2(cross, dot) * scale / (scale + GREY))


def colour_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(11,) float32: inner face vs outer ring colour differences and log ratios.

    Columns are named in ``COLUMNS``. Zeros when the mask leaves no inner face or no ring.
    """
    check_inputs(crop, mask)
    reg = regions(mask)
    if not reg.inner.any() or not reg.outer.any():
        return np.zeros(LENGTH, np.float32)
    lab = lab8(crop)  # shared with boundary and flicker inside a track block
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    v = hsv[..., 2]
    # One image of what is measured besides Lab: saturation, clipped, dark (0 or 255).
    extra = np.empty_like(crop)
    extra[..., 0] = hsv[..., 1]
    extra[..., 1] = (v >= CLIPPED) * np.uint8(255)
    extra[..., 2] = (v <= DARK) * np.uint8(255)
    inside, outside = reg.inner.view(np.uint8), reg.outer.view(np.uint8)
    lab_in, lab_in_sd = _stats(lab, inside)
    lab_out, lab_out_sd = _stats(lab, outside)
    ext_in, ext_in_sd = _stats(extra, inside)
    ext_out, ext_out_sd = _stats(extra, outside)
    hue = _hue_shift(lab_in[1:] - 128, lab_out[1:] - 128)
    unit = 1.0 / 255
    out = [
        *((lab_in - lab_out) * unit),
        *_log_std_ratio(lab_in_sd * unit, lab_out_sd * unit),
        hue,
        (ext_in[0] - ext_out[0]) * unit,
        float(_log_std_ratio(ext_in_sd[0] * unit, ext_out_sd[0] * unit)),
        *((ext_in[1:] - ext_out[1:]) * unit),  # means of 0/255 indicators: fractions
    ]
    return np.asarray(out, dtype=np.float32)
