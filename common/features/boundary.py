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

from common.features.regions import (
    check_inputs,
    last_input_memo,
    masked_mean,
    masked_std,
    regions,
    safe_log_ratio,
)

LENGTH = 13


@last_input_memo
def _contour_normal(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seam orientation: an edge running along the mask contour has its gradient parallel to
    the mask's own gradient (the contour normal). Depends on the mask only: shared per mask."""
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(1.0, mask.shape[0] / 64))
    mx = cv2.Sobel(soft, cv2.CV_32F, 1, 0, ksize=3)
    my = cv2.Sobel(soft, cv2.CV_32F, 0, 1, ksize=3)
    mnorm = cv2.magnitude(mx, my) + 1e-6
    return mx, my, mnorm


def boundary_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(13,) float32 inner/band/outer contrasts of sharpness, noise, colour and seam edges."""
    check_inputs(crop, mask)
    reg = regions(mask)
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    gray = lab[..., 0] / 255.0
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    resid = np.abs(gray - cv2.medianBlur((gray * 255).astype(np.uint8), 3).astype(np.float32) / 255)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    gmag = cv2.magnitude(gx, gy)

    mx, my, mnorm = _contour_normal(mask)
    along = np.abs(gx * mx + gy * my) / mnorm  # gradient component normal to the contour

    i, b, o = reg.inner, reg.band, reg.outer
    sharp_io = safe_log_ratio(masked_mean(lap, i), masked_mean(lap, o))
    sharp_bo = safe_log_ratio(masked_mean(lap, b), masked_mean(lap, o))
    sharp_bi = safe_log_ratio(masked_mean(lap, b), masked_mean(lap, i))
    noise_io = safe_log_ratio(masked_mean(resid, i), masked_mean(resid, o))
    noise_bo = safe_log_ratio(masked_mean(resid, b), masked_mean(resid, o))
    seam = safe_log_ratio(masked_mean(along, b), masked_mean(gmag, i | o))
    seam_frac = masked_mean(along, b) / (masked_mean(gmag, b) + 1e-6)

    # Colour just inside vs just outside the contour (the band split by the mask).
    inside_b = b & reg.face
    outside_b = b & ~reg.face
    dcol = [
        (masked_mean(lab[..., c], inside_b) - masked_mean(lab[..., c], outside_b)) / 32.0
        for c in range(3)
    ]
    stdr = [safe_log_ratio(masked_std(lab[..., c], i), masked_std(lab[..., c], o)) for c in (1, 2)]
    grad_io = safe_log_ratio(masked_mean(gmag, i), masked_mean(gmag, o))
    out = [sharp_io, sharp_bo, sharp_bi, noise_io, noise_bo, seam, seam_frac, *dcol, *stdr, grad_io]
    return np.asarray(out, dtype=np.float32)
