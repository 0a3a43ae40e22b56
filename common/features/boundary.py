"""Blending-boundary family: the face against the ring around it, where a swap is pasted.

Face swapping renders a face and blends it into the target frame inside a mask; the pasted
region carries its own sharpness, noise and colour, and the blend leaves a seam along the mask
edge. Li et al., "Face X-ray for more general face forgery detection", CVPR 2020, show that
this boundary is the artifact common to swap methods; Shiohara & Yamasaki, "Detecting
deepfakes with self-blended images", CVPR 2022. Measures here are ratios and differences
between the inner face, the band on the mask edge and the ring outside, all in one crop, so
whole-frame degradation (blur, recompression, colour shift) cancels to first order.
"""

from __future__ import annotations

import cv2
import numpy as np

from common.features.memo import last_input_memo
from common.features.regions import (
    BAND_IN,
    BAND_OUT,
    INNER,
    OUTER,
    check_inputs,
    gather,
    lab8,
    magnitude,
    regions,
    safe_log_ratio,
    segment_sums,
    span,
    union_means,
)

LENGTH = 13


# The regions the measures are averaged over, as unions of segments.
IN, BAND, OUT, IN_OUT = (INNER,), (BAND_IN, BAND_OUT), (OUTER,), (INNER, OUTER)


@last_input_memo
def _band_normal(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seam orientation: an edge running along the mask contour has its gradient parallel to
    the mask's own gradient (the contour normal). Depends on the mask only: shared per mask.

    The flat indices of the band's pixels, and (3, band pixels): the normal's x and y
    components and its norm there, the only place it is used.
    """
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(1.0, mask.shape[0] / 64))
    mx = cv2.Sobel(soft, cv2.CV_32F, 1, 0, ksize=3)
    my = cv2.Sobel(soft, cv2.CV_32F, 0, 1, ksize=3)
    mnorm = magnitude(mx, my) + 1e-6
    reg = regions(mask)
    band = span(reg, BAND_IN, BAND_OUT)
    return band, np.stack([m.ravel().take(band) for m in (mx, my, mnorm)])


def _mean32(sums: np.ndarray, n: int) -> np.ndarray:
    """The float32 mean ``np.mean`` gives for integer-valued float32 pixels: their sum is
    exact in either precision, so only the final float32 division remains to be matched."""
    return np.float32(np.rint(sums)) / np.float32(n) if n else np.zeros(len(sums))


def _std(sums: np.ndarray, sq_sums: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation of integer pixels from their sums (0 below 2 pixels).

    The Lab channels are integers, so sum and sum of squares are exact in float64 and
    n * sum(x^2) - sum(x)^2 loses nothing to cancellation.
    """
    if n < 2:
        return np.zeros(len(sums))
    return np.sqrt(np.maximum(n * sq_sums - sums * sums, 0.0)) / n


def boundary_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(13,) float32 inner/band/outer contrasts of sharpness, noise, colour and seam edges."""
    check_inputs(crop, mask)
    reg = regions(mask)
    lab = lab8(crop)
    lum = np.ascontiguousarray(lab[..., 0])
    gray = lum.astype(np.float32) / 255.0
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    # uint8(gray * 255) is lum again for all 256 levels: filter lum itself.
    med = cv2.medianBlur(lum, 3)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    gmag = magnitude(gx, gy)

    # The per-pixel measures only at the regions' pixels; every mean is then a sum over
    # segments: one gather per map and one reduction for them all.
    idx = reg.index
    med_px = med.ravel().take(idx)
    # rows: |lap|, gmag, L, a, b, resid (|gray - med / 255| as on the image), a^2, b^2
    px = np.empty((8, idx.size))
    gather((lap, gmag, lum, cv2.extractChannel(lab, 1), cv2.extractChannel(lab, 2)), idx, px)
    np.abs(px[0], out=px[0])
    px[5] = np.abs(px[2].astype(np.float32) / 255.0 - med_px.astype(np.float32) / 255)
    np.square(px[3:5], out=px[6:8])  # integers: exact
    sums = segment_sums(px, reg)
    means = union_means(sums[[0, 5, 1]], reg, (IN, BAND, OUT, IN_OUT))
    (lap_i, lap_b, lap_o, _), (res_i, res_b, res_o, _), (gm_i, gm_b, gm_o, gm_io) = means

    # The gradient component normal to the contour, on the band only (where it is used).
    band, (mx, my, mnorm) = _band_normal(mask)
    along = np.abs(gx.ravel().take(band) * mx + gy.ravel().take(band) * my) / mnorm
    along_b = float(along.sum(dtype=np.float64) / along.size) if along.size else 0.0

    sharp_io = safe_log_ratio(lap_i, lap_o)
    sharp_bo = safe_log_ratio(lap_b, lap_o)
    sharp_bi = safe_log_ratio(lap_b, lap_i)
    noise_io = safe_log_ratio(res_i, res_o)
    noise_bo = safe_log_ratio(res_b, res_o)
    seam = safe_log_ratio(along_b, gm_io)
    seam_frac = along_b / (gm_b + 1e-6)

    # Colour just inside vs just outside the contour (the band split by the mask).
    c = reg.counts
    dcol = _mean32(sums[2:5, BAND_IN], c[BAND_IN]) - _mean32(sums[2:5, BAND_OUT], c[BAND_OUT])
    std_i = _std(sums[3:5, INNER], sums[6:8, INNER], c[INNER])
    std_o = _std(sums[3:5, OUTER], sums[6:8, OUTER], c[OUTER])
    stdr = [safe_log_ratio(float(a), float(z)) for a, z in zip(std_i, std_o, strict=True)]
    grad_io = safe_log_ratio(gm_i, gm_o)
    out = [sharp_io, sharp_bo, sharp_bi, noise_io, noise_bo, seam, seam_frac]
    return np.asarray([*out, *(dcol / 32.0), *stdr, grad_io], dtype=np.float32)
